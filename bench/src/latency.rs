//! Latency summaries: nearest-rank percentiles over every recorded request (the counts are small
//! enough to keep each one, so no histogram approximation is needed).

use std::fmt;
use std::time::Duration;

/// Percentiles of a set of request latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests recorded.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Summary {
    /// Summarizes `latencies` (in any order).
    pub fn of(mut latencies: Vec<Duration>) -> Summary {
        latencies.sort_unstable();
        Summary {
            count: latencies.len(),
            p50: percentile(&latencies, 50),
            p99: percentile(&latencies, 99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(f, "{} × p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms", self.count, ms(self.p50), ms(self.p99), ms(self.max))
    }
}

/// The nearest-rank `pct`th percentile of `sorted` (ascending); zero when empty.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let hundred: Vec<Duration> = (1..=100).map(ms).collect();
        let cases: [(&str, &[Duration], usize, Duration); 5] = [
            ("p50 of 1..=100", &hundred, 50, ms(50)),
            ("p99 of 1..=100", &hundred, 99, ms(99)),
            ("p100 is the max", &hundred, 100, ms(100)),
            ("p99 of one value", &[ms(7)], 99, ms(7)),
            ("empty", &[], 50, Duration::ZERO),
        ];
        for (name, sorted, pct, want) in cases {
            assert_eq!(percentile(sorted, pct), want, "{name}");
        }
    }

    #[test]
    fn summary_sorts_first() {
        let s = Summary::of(vec![ms(3), ms(1), ms(2)]);
        assert_eq!(s, Summary { count: 3, p50: ms(2), p99: ms(3), max: ms(3) });
    }
}
