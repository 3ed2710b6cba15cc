//! The figures of one registry, and the Markdown table that compares two against the targets.
//!
//! Targets (from the performance issue), for ours against distribution: small-object push at
//! least 2×; big blob push and pull at least 1×; p99 with concurrent pullers no higher; idle RSS
//! at most half; and, for ours alone, peak RSS at most 50 MiB under load.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cpu::CpuTime;
use crate::pullers::PullResult;
use crate::rss::Memory;
use crate::small_push::PushResult;

const MIB: f64 = 1024.0 * 1024.0;

/// What a scenario cost the server process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Largest `VmRSS` sampled during the scenario, KiB.
    pub peak_rss_kib: u64,
    /// CPU time the server used during the scenario.
    pub cpu: CpuTime,
}

/// Everything measured on one registry.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Right after start-up, once idle.
    pub idle: Memory,
    /// Scenario 1.
    pub small: PushResult,
    /// Its cost.
    pub small_usage: Usage,
    /// Scenario 3.
    pub pull: PullResult,
    /// Its cost.
    pub pull_usage: Usage,
    /// Scenario 2: blob size in bytes.
    pub big_size: u64,
    /// Push time.
    pub big_push: Duration,
    /// Its cost.
    pub big_push_usage: Usage,
    /// Pull time.
    pub big_pull: Duration,
    /// Its cost.
    pub big_pull_usage: Usage,
    /// After all scenarios: `VmHWM` is then the peak over the whole run.
    pub after: Memory,
}

/// What a figure is held to.
#[derive(Debug, Clone, Copy)]
enum Target {
    None,
    /// ours / distribution ≥ this.
    RatioAtLeast(f64),
    /// ours / distribution ≤ this.
    RatioAtMost(f64),
    /// ours ≤ this, in the figure's unit.
    OursAtMost(f64),
}

impl Target {
    fn describe(self) -> String {
        match self {
            Target::None => String::new(),
            Target::RatioAtLeast(r) => format!("≥ {r}× distribution"),
            Target::RatioAtMost(r) if (r - 1.0).abs() < f64::EPSILON => "≤ distribution".to_owned(),
            Target::RatioAtMost(r) => format!("≤ {r}× distribution"),
            Target::OursAtMost(v) => format!("≤ {v}"),
        }
    }

    fn met(self, ours: Option<f64>, ratio: Option<f64>) -> &'static str {
        let verdict = match self {
            Target::None => return "",
            Target::RatioAtLeast(r) => ratio.map(|x| x >= r),
            Target::RatioAtMost(r) => ratio.map(|x| x <= r),
            Target::OursAtMost(v) => ours.map(|x| x <= v),
        };
        match verdict {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        }
    }
}

struct Row {
    label: String,
    decimals: usize,
    value: fn(&Figures) -> f64,
    target: Target,
}

fn row(label: impl Into<String>, decimals: usize, value: fn(&Figures) -> f64, target: Target) -> Row {
    Row { label: label.into(), decimals, value, target }
}

#[allow(clippy::cast_precision_loss, reason = "byte counts and KiB figures are far below 2^52")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

fn kib_to_mib(kib: u64) -> f64 {
    mib(kib * 1024)
}

#[allow(clippy::cast_precision_loss, reason = "object counts are far below 2^52")]
fn count(n: usize) -> f64 {
    n as f64
}

#[allow(clippy::cast_precision_loss, reason = "thread counts are far below 2^52")]
fn count_u64(n: u64) -> f64 {
    n as f64
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn rows(big_mib: u64, pullers: usize) -> Vec<Row> {
    vec![
        row("small push: blobs/s", 0, |f| count(f.small.blobs) / secs(f.small.elapsed), Target::RatioAtLeast(2.0)),
        row("small push: total s", 2, |f| secs(f.small.elapsed), Target::None),
        row("small push: server CPU s", 2, |f| secs(f.small_usage.cpu.total()), Target::None),
        row(
            format!("{big_mib} MiB blob push: MiB/s"),
            0,
            |f| mib(f.big_size) / secs(f.big_push),
            Target::RatioAtLeast(1.0),
        ),
        row(format!("{big_mib} MiB blob push: server CPU s"), 2, |f| secs(f.big_push_usage.cpu.total()), Target::None),
        row(
            format!("{big_mib} MiB blob pull: MiB/s"),
            0,
            |f| mib(f.big_size) / secs(f.big_pull),
            Target::RatioAtLeast(1.0),
        ),
        row(format!("{big_mib} MiB blob pull: server CPU s"), 2, |f| secs(f.big_pull_usage.cpu.total()), Target::None),
        row(format!("{pullers} pullers: p50 ms"), 2, |f| ms(f.pull.all.p50), Target::None),
        row(format!("{pullers} pullers: p99 ms"), 2, |f| ms(f.pull.all.p99), Target::RatioAtMost(1.0)),
        row(format!("{pullers} pullers: max ms"), 1, |f| ms(f.pull.all.max), Target::None),
        row(format!("{pullers} pullers: requests/s"), 0, |f| f.pull.per_second(), Target::None),
        row(format!("{pullers} pullers: server CPU s"), 2, |f| secs(f.pull_usage.cpu.total()), Target::None),
        row("RSS idle MiB", 1, |f| kib_to_mib(f.idle.rss_kib), Target::RatioAtMost(0.5)),
        row("RSS idle: anonymous MiB", 1, |f| kib_to_mib(f.idle.anon_kib), Target::None),
        row("RSS idle: file-backed (code) MiB", 1, |f| kib_to_mib(f.idle.file_kib), Target::None),
        row("RSS peak in small push MiB", 1, |f| kib_to_mib(f.small_usage.peak_rss_kib), Target::None),
        row("RSS peak in pullers MiB", 1, |f| kib_to_mib(f.pull_usage.peak_rss_kib), Target::None),
        row("RSS peak in big push MiB", 1, |f| kib_to_mib(f.big_push_usage.peak_rss_kib), Target::None),
        row("RSS peak in big pull MiB", 1, |f| kib_to_mib(f.big_pull_usage.peak_rss_kib), Target::None),
        row("VmHWM after all (peak) MiB", 1, |f| kib_to_mib(f.after.hwm_kib), Target::OursAtMost(50.0)),
        row("threads after all", 0, |f| count_u64(f.after.threads), Target::None),
    ]
}

/// The median of `value` over `runs` (the mean of the middle two for an even count); `None`
/// for no runs.
fn median(runs: &[Figures], value: fn(&Figures) -> f64) -> Option<f64> {
    let mut values: Vec<f64> = runs.iter().map(value).collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[mid]),
        _ => Some(f64::midpoint(values[mid - 1], values[mid])),
    }
}

/// The comparison as a Markdown table, each figure the median over the runs of its registry; a
/// registry not run shows `-`.
pub fn table(ours: &[Figures], distribution: &[Figures], big_mib: u64, pullers: usize) -> String {
    let mut out = String::from(
        "| figure | ours | distribution | ours/distribution | target | met |\n|---|--:|--:|--:|---|---|\n",
    );
    for r in rows(big_mib, pullers) {
        let o = median(ours, r.value);
        let d = median(distribution, r.value);
        let ratio = o.zip(d).filter(|&(_, d)| d > 0.0).map(|(o, d)| o / d);
        let show = |v: Option<f64>, decimals: usize| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"));
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.label,
            show(o, r.decimals),
            show(d, r.decimals),
            show(ratio, 2),
            r.target.describe(),
            r.target.met(o, ratio),
        )
        .expect("writing to a String cannot fail");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::Summary;

    fn figures(small_secs: u64) -> Figures {
        let secs = Duration::from_secs;
        Figures {
            idle: Memory { rss_kib: 1024, anon_kib: 512, file_kib: 512, hwm_kib: 1024, threads: 1 },
            small: PushResult { blobs: 100, manifests: 10, elapsed: secs(small_secs), steps: Vec::new() },
            small_usage: Usage::default(),
            pull: PullResult {
                elapsed: secs(1),
                all: Summary::default(),
                manifests: Summary::default(),
                blobs: Summary::default(),
            },
            pull_usage: Usage::default(),
            big_size: 1 << 20,
            big_push: secs(1),
            big_push_usage: Usage::default(),
            big_pull: secs(1),
            big_pull_usage: Usage::default(),
            after: Memory { rss_kib: 0, anon_kib: 0, file_kib: 0, hwm_kib: 0, threads: 1 },
        }
    }

    #[test]
    fn median_of_runs() {
        let secs = |f: &Figures| f.small.elapsed.as_secs_f64();
        let cases: [(&str, Vec<u64>, Option<f64>); 4] = [
            ("no runs", vec![], None),
            ("one run", vec![4], Some(4.0)),
            ("odd count takes the middle", vec![9, 1, 5], Some(5.0)),
            ("even count averages the middle two", vec![8, 1, 2, 4], Some(3.0)),
        ];
        for (name, small_secs, want) in cases {
            let runs: Vec<Figures> = small_secs.into_iter().map(figures).collect();
            assert_eq!(median(&runs, secs), want, "{name}");
        }
    }

    #[test]
    fn table_shows_ratio_only_with_both() {
        let (one, two) = ([figures(2)], [figures(4)]);
        let both = table(&one, &two, 1, 32);
        assert!(both.contains("| small push: total s | 2.00 | 4.00 | 0.50 |  |  |"), "{both}");
        let alone = table(&one, &[], 1, 32);
        assert!(alone.contains("| small push: blobs/s | 50 | - | - | ≥ 2× distribution | - |"), "{alone}");
    }

    #[test]
    fn verdicts() {
        let cases = [
            ("2.5× meets ≥ 2×", Target::RatioAtLeast(2.0), None, Some(2.5), "yes"),
            ("1.5× misses ≥ 2×", Target::RatioAtLeast(2.0), None, Some(1.5), "**no**"),
            ("p99 ratio 1.0 meets ≤ 1", Target::RatioAtMost(1.0), None, Some(1.0), "yes"),
            ("no ratio without distribution", Target::RatioAtMost(0.5), Some(10.0), None, "-"),
            ("absolute needs only ours", Target::OursAtMost(50.0), Some(49.0), None, "yes"),
            ("absolute missed", Target::OursAtMost(50.0), Some(51.0), Some(0.5), "**no**"),
            ("no target", Target::None, Some(1.0), Some(1.0), ""),
        ];
        for (name, target, ours, ratio, want) in cases {
            assert_eq!(target.met(ours, ratio), want, "{name}");
        }
    }
}
