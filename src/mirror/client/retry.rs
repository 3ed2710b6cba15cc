//! The one retry policy of a run: `--retry-times` is the number of attempts each request gets
//! in all, `--retry-delay` the wait between them (0 means exponential back-off); 429, 5xx,
//! time-outs and broken connections are worth another attempt.
//!
//! Retries never nest. A request that can be sent again (its body is in memory) is retried by
//! the client's request loop; when its attempts are spent the error says so and is final, so
//! nothing above retries it again. A blob transfer, whose body is a stream, is retried whole by
//! the copy engine, and only for a failure of the streamed part. A registry that could not be
//! connected to in all the attempts of one request is unreachable for the rest of the run:
//! later requests to it give up after their first failed attempt, so a destination that goes
//! away mid-run stops the run after one request's worth of attempts (at most
//! [`RetryPolicy::longest_wait`] of waiting), not after one per image and blob.

use std::time::Duration;

/// First wait of the exponential back-off.
const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest wait of the exponential back-off.
const BACKOFF_MAX: Duration = Duration::from_secs(16);
/// Longest `Retry-After` honoured; a server asking for more gets this.
const RETRY_AFTER_MAX: Duration = Duration::from_mins(1);

/// How often to try and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of each request in all (`--retry-times`); 0 counts as 1.
    pub times: u32,
    /// Fixed wait between attempts; zero for exponential back-off.
    pub delay: Duration,
}

impl RetryPolicy {
    /// Attempts of each request in all.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.times.max(1)
    }

    /// The most one request waits between its attempts (`Retry-After` aside): the sum of the
    /// waits before attempts 2 to [`RetryPolicy::attempts`].
    #[must_use]
    pub fn longest_wait(&self) -> Duration {
        (0..self.attempts() - 1).map(|retry| self.wait(retry, None)).sum()
    }

    /// The wait before retry number `attempt` (0-based: the wait after the first failed
    /// attempt is `wait(0, ..)`), or `retry_after` when the server said.
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

/// GET of a plain HTTP resource (not a registry API: update graphs, signatures, chart
/// repositories) under `policy`: `Ok(None)` on 404, the response on success.
///
/// # Errors
/// One line naming what failed (the status, or the transport error) and, when attempts ran
/// out, how many there were; the caller adds the URL.
pub async fn get(
    http: &reqwest::Client,
    url: &str,
    accept: &str,
    policy: RetryPolicy,
) -> Result<Option<reqwest::Response>, String> {
    let mut attempt = 0;
    loop {
        let result = http.get(url).header(reqwest::header::ACCEPT, accept).send().await;
        let (wait, message) = match result {
            Ok(r) if r.status().is_success() => return Ok(Some(r)),
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return Ok(None),
            Ok(r) if is_retryable_status(r.status()) => (retry_after(r.headers()), format!("HTTP {}", r.status())),
            Ok(r) => return Err(format!("HTTP {}", r.status())),
            Err(e) if is_retryable_error(&e) => (None, crate::mirror::error_chain(&e)),
            Err(e) => return Err(crate::mirror::error_chain(&e)),
        };
        attempt += 1;
        if attempt >= policy.attempts() {
            return Err(format!("{message} (after {attempt} attempts)"));
        }
        tokio::time::sleep(policy.wait(attempt - 1, wait)).await;
    }
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
    fn attempts_and_the_longest_wait() {
        let cases: Vec<(&str, RetryPolicy, u32, Duration)> = vec![
            ("zero is one attempt", RetryPolicy { times: 0, delay: Duration::ZERO }, 1, Duration::ZERO),
            ("one attempt never waits", RetryPolicy { times: 1, delay: Duration::from_secs(1) }, 1, Duration::ZERO),
            ("fixed", RetryPolicy { times: 3, delay: Duration::from_millis(100) }, 3, Duration::from_millis(200)),
            // The default: 0.5 + 1 + 2 + 4 seconds.
            ("exponential", RetryPolicy { times: 5, delay: Duration::ZERO }, 5, Duration::from_millis(7500)),
        ];
        for (name, policy, attempts, longest) in cases {
            assert_eq!(policy.attempts(), attempts, "case {name}");
            assert_eq!(policy.longest_wait(), longest, "case {name}");
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
