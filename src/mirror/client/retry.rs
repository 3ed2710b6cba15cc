//! When and how long to wait before trying a request again: `--retry-times` and `--retry-delay`
//! (0 means exponential back-off), for 429, 5xx, time-outs and broken connections.

use std::time::Duration;

/// First wait of the exponential back-off.
const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest wait of the exponential back-off.
const BACKOFF_MAX: Duration = Duration::from_secs(16);
/// Longest `Retry-After` honoured; a server asking for more gets this.
const RETRY_AFTER_MAX: Duration = Duration::from_mins(1);

/// How often to retry and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub times: u32,
    /// Fixed wait between attempts; zero for exponential back-off.
    pub delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based), or `retry_after` when the server said.
    #[must_use]
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(RETRY_AFTER_MAX);
        }
        if !self.delay.is_zero() {
            return self.delay;
        }
        BACKOFF_START.saturating_mul(1 << attempt.min(8)).min(BACKOFF_MAX)
    }
}

/// Whether a status is worth retrying: too many requests, or a server-side failure other than
/// "not implemented".
#[must_use]
pub fn is_retryable_status(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != reqwest::StatusCode::NOT_IMPLEMENTED)
}

/// Whether a transport error is worth retrying: time-outs, refused or reset connections, and
/// bodies cut short.
#[must_use]
pub fn is_retryable_error(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()
}

/// `Retry-After` in seconds (the HTTP-date form is not used by registries).
#[must_use]
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits() {
        let exp = RetryPolicy { times: 5, delay: Duration::ZERO };
        let fixed = RetryPolicy { times: 5, delay: Duration::from_millis(250) };
        let cases: Vec<(&str, RetryPolicy, u32, Option<Duration>, Duration)> = vec![
            ("exponential first", exp, 0, None, Duration::from_millis(500)),
            ("exponential third", exp, 2, None, Duration::from_secs(2)),
            ("exponential capped", exp, 20, None, BACKOFF_MAX),
            ("fixed", fixed, 3, None, Duration::from_millis(250)),
            ("retry-after wins", fixed, 0, Some(Duration::from_secs(3)), Duration::from_secs(3)),
            ("retry-after capped", exp, 0, Some(Duration::from_hours(1)), RETRY_AFTER_MAX),
        ];
        for (name, policy, attempt, after, expected) in cases {
            assert_eq!(policy.wait(attempt, after), expected, "case {name}");
        }
    }

    #[test]
    fn retryable_statuses() {
        for (code, expected) in
            [(429, true), (500, true), (502, true), (503, true), (501, false), (404, false), (401, false)]
        {
            let status = reqwest::StatusCode::from_u16(code).expect("status");
            assert_eq!(is_retryable_status(status), expected, "status {code}");
        }
    }
}
