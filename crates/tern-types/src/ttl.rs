//! [`Ttl`]: how long a minted token lives.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A lifetime that tern refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TtlError {
    /// A bare number.
    #[error("token lifetime {value:?} has no unit; write e.g. 15m, 900s or 1h")]
    NoUnit {
        /// What was given.
        value: String,
    },
    /// Not a duration.
    #[error("token lifetime {value:?} is not a duration ({reason}); write e.g. 15m, 900s or 1h")]
    Invalid {
        /// What was given.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Too short.
    #[error("token lifetime {value} is shorter than the minimum of 10s")]
    TooShort {
        /// What was given, formatted.
        value: String,
    },
    /// Too long.
    #[error("token lifetime {value} is longer than the maximum of 24h")]
    TooLong {
        /// What was given, formatted.
        value: String,
    },
}

/// A token lifetime between 10 seconds and 24 hours. Short lifetimes are for tokens that are
/// refreshed in files; relying parties allow ~60 s of clock skew on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(Duration);

impl Ttl {
    /// Shortest accepted lifetime.
    pub const MIN: Duration = Duration::from_secs(10);
    /// Longest accepted lifetime.
    pub const MAX: Duration = Duration::from_secs(24 * 3600);
    /// The default for tokens written to files (SPEC §3): 15 minutes.
    pub const DEFAULT: Ttl = Ttl(Duration::from_secs(15 * 60));

    /// Check `duration` against the bounds.
    pub fn new(duration: Duration) -> Result<Self, TtlError> {
        let shown = || humantime::format_duration(duration).to_string();
        if duration < Self::MIN {
            return Err(TtlError::TooShort { value: shown() });
        }
        if duration > Self::MAX {
            return Err(TtlError::TooLong { value: shown() });
        }
        Ok(Self(Duration::from_secs(duration.as_secs())))
    }

    /// A lifetime given in whole minutes (Terrakube's `DynamicCredentialTtl`).
    pub fn from_minutes(minutes: u64) -> Result<Self, TtlError> {
        Self::new(Duration::from_secs(minutes.saturating_mul(60)))
    }

    /// The lifetime.
    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// The lifetime in whole seconds.
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl Default for Ttl {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl FromStr for Ttl {
    type Err = TtlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
            return Err(TtlError::NoUnit { value: s.to_owned() });
        }
        let duration = humantime::parse_duration(trimmed)
            .map_err(|e| TtlError::Invalid { value: s.to_owned(), reason: e.to_string() })?;
        // Report the value as the user wrote it ("48h", not "2days").
        Self::new(duration).map_err(|e| match e {
            TtlError::TooShort { .. } => TtlError::TooShort { value: trimmed.to_owned() },
            TtlError::TooLong { .. } => TtlError::TooLong { value: trimmed.to_owned() },
            other => other,
        })
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (input, secs) in
            [("15m", Some(900)), ("900s", Some(900)), ("1h 30m", Some(5400)), ("24h", Some(86400))]
        {
            assert_eq!(input.parse::<Ttl>().ok().map(Ttl::as_secs), secs, "{input}");
        }
        assert!(matches!("900".parse::<Ttl>(), Err(TtlError::NoUnit { .. })));
        assert!(matches!("9s".parse::<Ttl>(), Err(TtlError::TooShort { .. })));
        assert_eq!("20s".parse::<Ttl>().map(Ttl::as_secs), Ok(20));
        assert_eq!("48h".parse::<Ttl>(), Err(TtlError::TooLong { value: "48h".into() }));
        assert!(matches!("soon".parse::<Ttl>(), Err(TtlError::Invalid { .. })));
        assert_eq!(Ttl::from_minutes(30).map(Ttl::as_secs), Ok(1800));
        assert!(Ttl::from_minutes(0).is_err());
        assert_eq!(Ttl::DEFAULT.to_string(), "15m");
    }
}
