//! [`SecretString`]: a string that cannot be printed by accident.
//!
//! It has no `Display` and no `Serialize`; its `Debug` says only how long it is. The one way to
//! read it is [`SecretString::expose_secret`], which is easy to grep for in review. The memory
//! is zeroed when the value is dropped.

use std::fmt;
use zeroize::Zeroizing;

/// A secret string (a token, a password, a sensitive variable's value).
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wrap `value`; from here on it prints as `<redacted>`.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret itself. Every call site is a place where the secret leaves its wrapper:
    /// it must go to the party that needs it and nowhere else (never a log or an error).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Length in bytes (safe to print).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString(<redacted, {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = SecretString::new("hunter2-very-secret".to_owned());
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
        assert_eq!(s.expose_secret(), "hunter2-very-secret");
        assert_eq!(s.len(), 19);
    }
}
