use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time as milliseconds since the Unix epoch.
///
/// Milliseconds, not seconds, so that a token created in the same second as a password
/// change is still ordered correctly against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds, the unit of DynamoDB's TTL attribute.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0 + secs * 1000)
    }
}

/// Where "now" comes from. Injected so expiry can be tested without waiting, and because
/// DynamoDB deletes expired items only eventually: every read compares against this clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(millis)
    }
}

/// A clock that stands still until moved; for tests.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn at(time: Timestamp) -> Self {
        Self(AtomicI64::new(time.as_millis()))
    }

    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_down() {
        assert_eq!(Timestamp::from_millis(1_999).as_secs(), 1);
        assert_eq!(Timestamp::from_millis(2_000).plus_secs(3).as_millis(), 5_000);
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at(Timestamp::from_millis(10_000));
        assert_eq!(clock.now().as_secs(), 10);
        clock.advance_secs(60);
        assert_eq!(clock.now().as_secs(), 70);
    }

    #[test]
    fn system_clock_is_after_2025() {
        assert!(SystemClock.now().as_secs() > 1_735_689_600);
    }
}
