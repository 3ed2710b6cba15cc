//! Back-off for failed logins, per client address and per user name: the first few failures are
//! free (typos), then each failure doubles the wait before the next attempt, and after
//! [`LOCK_AFTER`] failures the key is locked for [`LOCK_FOR`]. A success clears both keys.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before any delay.
pub const FREE_FAILURES: u32 = 3;
/// Failures after which the key is locked.
pub const LOCK_AFTER: u32 = 10;
/// How long a lock lasts.
pub const LOCK_FOR: Duration = Duration::from_mins(5);
/// Entries with no failure for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_mins(15);

/// What a login attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// The client address.
    Addr(IpAddr),
    /// The user name presented.
    User(String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    blocked_until: Instant,
    last_failure: Instant,
}

/// The failed-login table.
#[derive(Debug, Default)]
pub struct Limiter {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Limiter {
    /// `Err(wait)` when any key must still wait before another attempt.
    ///
    /// # Errors
    /// The longest remaining wait.
    pub fn check(&self, keys: &[Key], now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let wait =
            keys.iter().filter_map(|k| entries.get(k)).map(|e| e.blocked_until.saturating_duration_since(now)).max();
        match wait {
            Some(w) if !w.is_zero() => Err(w),
            _ => Ok(()),
        }
    }

    /// Counts a failure against every key; returns the number of failures of the worst key.
    pub fn fail(&self, keys: &[Key], now: Instant) -> u32 {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|_, e| now.saturating_duration_since(e.last_failure) < FORGET_AFTER);
        let mut worst = 0;
        for k in keys {
            let e = entries.entry(k.clone()).or_insert(Entry { failures: 0, blocked_until: now, last_failure: now });
            e.failures += 1;
            e.last_failure = now;
            e.blocked_until = now + delay(e.failures);
            worst = worst.max(e.failures);
        }
        worst
    }

    /// Clears the keys after a successful login.
    pub fn succeed(&self, keys: &[Key]) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for k in keys {
            entries.remove(k);
        }
    }
}

/// The wait imposed after `failures` failures.
#[must_use]
pub fn delay(failures: u32) -> Duration {
    if failures >= LOCK_AFTER {
        LOCK_FOR
    } else if failures > FREE_FAILURES {
        Duration::from_millis(500 << (failures - FREE_FAILURES - 1).min(10))
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_locks_and_success_clears() {
        let l = Limiter::default();
        let keys = [Key::User("init".into()), Key::Addr("127.0.0.1".parse().expect("ip"))];
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            l.fail(&keys, t0);
        }
        assert!(l.check(&keys, t0).is_ok(), "typos are free");
        l.fail(&keys, t0);
        assert_eq!(l.check(&keys, t0), Err(Duration::from_millis(500)));
        assert!(l.check(&keys, t0 + Duration::from_millis(500)).is_ok());
        l.fail(&keys, t0);
        assert_eq!(l.check(&keys, t0), Err(Duration::from_secs(1)), "doubles");
        for _ in 0..LOCK_AFTER {
            l.fail(&keys, t0);
        }
        assert_eq!(l.check(&keys, t0), Err(LOCK_FOR), "locked");
        assert!(l.check(&[Key::User("other".into())], t0).is_ok(), "other users unaffected");
        l.succeed(&keys);
        assert!(l.check(&keys, t0).is_ok());
    }
}
