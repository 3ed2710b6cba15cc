//! Back-off for failed logins, per client address and per user name: the first few failures are
//! free (typos), then each failure doubles the wait before the next attempt, and after
//! [`LOCK_AFTER`] failures the key is locked for [`LOCK_FOR`]. A success clears both keys.
//!
//! The check and the count are one step: an attempt is admitted ([`Limiter::begin`]) only while
//! its keys have room for it, counting the attempts still being verified. Beyond the free
//! failures a key admits one attempt at a time, and others wait for its outcome; so parallel
//! guesses get no more tries than sequential ones would.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Failures allowed before any delay.
pub const FREE_FAILURES: u32 = 3;
/// Failures after which the key is locked.
pub const LOCK_AFTER: u32 = 10;
/// How long a lock lasts.
pub const LOCK_FOR: Duration = Duration::from_mins(5);
/// Entries with no failure for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_mins(15);
/// Longest an attempt waits for earlier attempts on its keys before it is refused.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(10);

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
    in_flight: u32,
    blocked_until: Instant,
    last_failure: Instant,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry { failures: 0, in_flight: 0, blocked_until: now, last_failure: now }
    }

    /// Attempts that may be verified at once: what is left of the free failures, at least one.
    fn room(&self) -> u32 {
        FREE_FAILURES.saturating_sub(self.failures).max(1)
    }

    fn end(&mut self, outcome: Outcome, now: Instant) {
        match outcome {
            Outcome::Succeeded => {
                self.failures = 0;
                self.blocked_until = now;
            }
            Outcome::Failed => {
                self.failures += 1;
                self.last_failure = now;
                self.blocked_until = now + delay(self.failures);
            }
            Outcome::Abandoned => {}
        }
    }
}

/// How an admitted attempt ended; an abandoned one (the request was cancelled) counts as nothing.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Succeeded,
    Failed,
    Abandoned,
}

/// The failed-login table.
#[derive(Debug, Default)]
pub struct Limiter {
    entries: Mutex<HashMap<Key, Entry>>,
    finished: Notify,
}

enum Admission {
    Go,
    Busy,
    Blocked(Duration),
}

/// An admitted attempt. Say how it ended with [`Attempt::succeed`] or [`Attempt::fail`]; dropped
/// without either (the request was cancelled), it counts as neither.
pub struct Attempt<'a> {
    limiter: &'a Limiter,
    keys: Vec<Key>,
    open: bool,
}

impl Limiter {
    /// Waits until `keys` have room for one more attempt, and takes it.
    ///
    /// # Errors
    /// The remaining wait when a key is backing off or locked (or its queue is too long).
    pub async fn begin(&self, keys: &[Key]) -> Result<Attempt<'_>, Duration> {
        let started = Instant::now();
        loop {
            // Registered before the check, so a finish between the check and the wait is seen.
            let finished = self.finished.notified();
            match self.admit(keys, Instant::now()) {
                Admission::Go => return Ok(Attempt { limiter: self, keys: keys.to_vec(), open: true }),
                Admission::Blocked(wait) => return Err(wait),
                Admission::Busy if started.elapsed() > MAX_QUEUE_WAIT => return Err(Duration::from_secs(1)),
                Admission::Busy => {
                    let _ = tokio::time::timeout(Duration::from_millis(200), finished).await;
                }
            }
        }
    }

    fn admit(&self, keys: &[Key], now: Instant) -> Admission {
        let mut entries = self.lock();
        let wait = keys
            .iter()
            .filter_map(|k| entries.get(k))
            .map(|e| e.blocked_until.saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Admission::Blocked(wait);
        }
        if keys.iter().filter_map(|k| entries.get(k)).any(|e| e.in_flight >= e.room()) {
            return Admission::Busy;
        }
        for k in keys {
            entries.entry(k.clone()).or_insert_with(|| Entry::new(now)).in_flight += 1;
        }
        Admission::Go
    }

    /// Clears the keys: the account's owner proved the password (by any path).
    pub fn succeed(&self, keys: &[Key]) {
        let now = Instant::now();
        let mut entries = self.lock();
        for k in keys {
            if let Some(e) = entries.get_mut(k) {
                e.end(Outcome::Succeeded, now);
            }
        }
        forget_idle(&mut entries, keys);
    }

    /// Ends an admitted attempt on `keys`; returns the failures of the worst key.
    fn finish(&self, keys: &[Key], outcome: Outcome) -> u32 {
        let now = Instant::now();
        let mut worst = 0;
        {
            let mut entries = self.lock();
            entries.retain(|_, e| e.in_flight > 0 || now.saturating_duration_since(e.last_failure) < FORGET_AFTER);
            for k in keys {
                let e = entries.entry(k.clone()).or_insert_with(|| Entry::new(now));
                e.in_flight = e.in_flight.saturating_sub(1);
                e.end(outcome, now);
                worst = worst.max(e.failures);
            }
            forget_idle(&mut entries, keys);
        }
        self.finished.notify_waiters();
        worst
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Attempt<'_> {
    /// The password was right: clears the keys.
    pub fn succeed(mut self) {
        self.open = false;
        self.limiter.finish(&self.keys, Outcome::Succeeded);
    }

    /// The password was wrong: counts a failure against every key; returns the failures of the
    /// worst key.
    #[must_use = "the failure count is for the log line"]
    pub fn fail(mut self) -> u32 {
        self.open = false;
        self.limiter.finish(&self.keys, Outcome::Failed)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.open {
            self.limiter.finish(&self.keys, Outcome::Abandoned);
        }
    }
}

/// Keys with nothing in flight and no failure hold nothing worth keeping.
fn forget_idle(entries: &mut HashMap<Key, Entry>, keys: &[Key]) {
    for k in keys {
        if entries.get(k).is_some_and(|e| e.in_flight == 0 && e.failures == 0) {
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

    fn keys() -> [Key; 2] {
        [Key::User("init".into()), Key::Addr("127.0.0.1".parse().expect("ip"))]
    }

    #[tokio::test]
    async fn backoff_grows_then_locks_and_success_clears() {
        let l = Limiter::default();
        let keys = keys();
        for _ in 0..FREE_FAILURES {
            let _ = l.begin(&keys).await.expect("typos are free").fail();
        }
        let _ = l.begin(&keys).await.expect("fourth try allowed").fail();
        let wait = l.begin(&keys).await.err().expect("backing off");
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500), "{wait:?}");
        tokio::time::sleep(Duration::from_millis(510)).await;
        let _ = l.begin(&keys).await.expect("after the wait").fail();
        let wait = l.begin(&keys).await.err().expect("doubles");
        assert!(wait > Duration::from_millis(900), "{wait:?}");
        assert!(l.begin(&[Key::User("other".into())]).await.is_ok(), "other users unaffected");
        l.succeed(&keys);
        l.begin(&keys).await.expect("a success clears").succeed();
        assert!(l.lock().is_empty(), "nothing kept after a success");
    }

    #[tokio::test]
    async fn parallel_attempts_get_no_more_tries_than_sequential_ones() {
        let l = std::sync::Arc::new(Limiter::default());
        let keys = keys();
        let mut tasks = Vec::new();
        for _ in 0..30 {
            let (l, keys) = (l.clone(), keys.clone());
            tasks.push(tokio::spawn(async move {
                match l.begin(&keys).await {
                    Ok(attempt) => {
                        // A slow verification, as argon2 is.
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        let _ = attempt.fail();
                        true
                    }
                    Err(_) => false,
                }
            }));
        }
        let mut evaluated = 0;
        for t in tasks {
            evaluated += u32::from(t.await.expect("task"));
        }
        assert_eq!(evaluated, FREE_FAILURES + 1, "then the key backs off");
    }

    #[tokio::test]
    async fn a_cancelled_attempt_counts_as_nothing() {
        let l = Limiter::default();
        let keys = keys();
        for _ in 0..5 {
            drop(l.begin(&keys).await.expect("admitted"));
        }
        assert!(l.lock().values().all(|e| e.failures == 0 && e.in_flight == 0));
    }
}
