//! The injected clock. Every crate asks a [`Clock`] for the time instead of calling
//! `SystemTime::now()` (banned by `clippy.toml`), so that expiry, refresh and rotation are tested
//! at exact boundaries with a [`FixedClock`].

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that may read the OS clock
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until told to move; for tests and for minting tokens "as of" a time.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<SystemTime>,
}

impl FixedClock {
    /// A clock fixed at `unix` seconds after the epoch.
    pub fn at_unix(unix: u64) -> Self {
        Self::at(UNIX_EPOCH + Duration::from_secs(unix))
    }

    /// A clock fixed at `time`.
    pub fn at(time: SystemTime) -> Self {
        Self { now: Mutex::new(time) }
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }

    /// Set the clock to `time`.
    pub fn set(&self, time: SystemTime) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = time;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whole seconds since the Unix epoch; times before the epoch count as 0.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at_unix(1_700_000_000);
        assert_eq!(unix_seconds(clock.now()), 1_700_000_000);
        clock.advance(Duration::from_secs(90));
        assert_eq!(unix_seconds(clock.now()), 1_700_000_090);
        clock.set(UNIX_EPOCH);
        assert_eq!(unix_seconds(clock.now()), 0);
    }

    #[test]
    fn times_before_the_epoch_count_as_zero() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(unix_seconds(before), 0);
    }
}
