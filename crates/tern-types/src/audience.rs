//! [`Audience`]: the `aud` claim, which says which relying party a token is for.

use std::fmt;
use std::str::FromStr;

/// Why an audience was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudienceError {
    /// Empty.
    #[error("audience must not be empty")]
    Empty,
    /// Too long.
    #[error("audience is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Starts or ends with white space, or holds a control character.
    #[error(
        "audience {value:?} has leading/trailing white space or a control character; relying parties compare it byte for byte"
    )]
    BadCharacters {
        /// What was given.
        value: String,
    },
}

/// A validated audience (`aud`), e.g. `aws.workload.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Audience(String);

impl Audience {
    const MAX: usize = 1024;

    /// Parse and validate.
    pub fn parse(value: &str) -> Result<Self, AudienceError> {
        if value.is_empty() {
            return Err(AudienceError::Empty);
        }
        if value.len() > Self::MAX {
            return Err(AudienceError::TooLong { len: value.len(), max: Self::MAX });
        }
        if value.trim() != value || value.chars().any(char::is_control) {
            return Err(AudienceError::BadCharacters { value: value.to_owned() });
        }
        Ok(Self(value.to_owned()))
    }

    /// The audience.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Audience {
    type Err = AudienceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (input, ok) in [
            ("aws.workload.identity", true),
            ("//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q", true),
            ("api://AzureADTokenExchange", true),
            ("", false),
            (" aws", false),
            ("aws ", false),
            ("a\nb", false),
        ] {
            assert_eq!(Audience::parse(input).is_ok(), ok, "{input:?}");
        }
        assert!(matches!(Audience::parse(&"a".repeat(1025)), Err(AudienceError::TooLong { .. })));
    }
}
