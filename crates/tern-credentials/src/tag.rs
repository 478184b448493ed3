//! [`Tag`]: the name of an alias configuration (`TFC_AWS_PROVIDER_AUTH_<TAG>`).

use std::fmt;

/// Why a tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// Empty.
    #[error("a configuration tag must not be empty")]
    Empty,
    /// Characters outside letters, digits and `_`.
    #[error("configuration tag {value:?} may contain only letters, digits and '_'")]
    BadCharacter {
        /// What was given.
        value: String,
    },
    /// `TYPE` is reserved by HCP Terraform.
    #[error("configuration tag TYPE is reserved; choose another tag")]
    Reserved,
}

/// A validated alias tag: letters, digits and `_`, not `TYPE`. Case is kept as written: the tag
/// is the key under `aliases` in `tfc_<platform>_dynamic_credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Parse and validate.
    pub fn parse(value: &str) -> Result<Self, TagError> {
        if value.is_empty() {
            return Err(TagError::Empty);
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(TagError::BadCharacter { value: value.to_owned() });
        }
        if value == "TYPE" {
            return Err(TagError::Reserved);
        }
        Ok(Self(value.to_owned()))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert!(Tag::parse("ALIAS1").is_ok());
        assert!(Tag::parse("secondary").is_ok());
        assert!(Tag::parse("a_b_9").is_ok());
        assert_eq!(Tag::parse(""), Err(TagError::Empty));
        assert_eq!(Tag::parse("TYPE"), Err(TagError::Reserved));
        assert!(Tag::parse("type").is_ok(), "only the upper-case keyword is reserved");
        assert!(matches!(Tag::parse("a-b"), Err(TagError::BadCharacter { .. })));
    }
}
