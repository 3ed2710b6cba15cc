//! Garbage collection, in one place: a run is expired uploads, retention policies, then the
//! blob sweep, with a report. Uploads go first: on a full disk they are what frees room
//! soonest, and everything after them needs some (issue #12). The same run serves `serve`'s background task and
//! `mirror-registry gc`.
//!
//! - this file: the run's options, order and report, and the periodic driver of `serve`
//! - [`sweep`]: the transactions of each step, and the rules that keep them safe next to
//!   concurrent pushes (invariant 3); they need the store's database and blob backend, which is
//!   why GC lives inside `store`

pub mod sweep;

use std::time::{Duration, Instant};

pub use sweep::{GcRun, Retained, RetentionRule, SWEEP_BATCH, Swept};

use crate::config::{Gc as GcConfig, RetentionPolicy};
use crate::store::{self, Store};

/// How one run behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Unreferenced blobs touched more recently than this are kept.
    pub grace_period: Duration,
    /// Upload sessions older than this are removed.
    pub upload_expiry: Duration,
    /// Opt-in manifest deletion.
    pub retention: Vec<RetentionPolicy>,
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
}

impl Options {
    /// The options a config asks for.
    #[must_use]
    pub fn from_config(gc: &GcConfig) -> Options {
        Options {
            grace_period: gc.grace_period.0,
            upload_expiry: gc.upload_expiry.0,
            retention: gc.retention.clone(),
            dry_run: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Counts.
    pub run: GcRun,
    /// Blobs put back from the trash after an interrupted run.
    pub trash_restored: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Another collection held the collector lock (another replica, on PostgreSQL): this run
    /// did nothing, which is not an error.
    pub busy: bool,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.busy {
            return f.write_str("another collection is running; nothing done");
        }
        let r = &self.run;
        let verb = if r.dry_run { "would delete" } else { "deleted" };
        write!(
            f,
            "{verb} {} blobs ({}), {} manifests, {} tags, {} expired uploads in {:.2?}",
            r.blobs_deleted,
            human_bytes(r.bytes_freed),
            r.manifests_deleted,
            r.tags_deleted,
            r.uploads_expired,
            self.elapsed
        )
    }
}

/// `1.5 GiB` and the like.
#[must_use]
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)] // a display value
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// Whether `name` matches a retention glob (`*` any characters, `?` one).
#[must_use]
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Runs one collection. Only one runs at a time across every process sharing a PostgreSQL
/// database: when another holds the collector lock, this returns at once with `busy` set. Dry
/// runs delete nothing and take no lock.
///
/// # Errors
/// Storage failures; what was already deleted stays deleted (every step is its own transaction).
pub async fn run(store: &Store, options: &Options) -> store::Result<Report> {
    let started = Instant::now();
    let now = store.clock();
    let mut report =
        Report { run: GcRun { started_at: now, dry_run: options.dry_run, ..GcRun::default() }, ..Report::default() };
    let collector = if options.dry_run { None } else { store.db().try_lock_collector().await? };
    if collector.is_none() && !options.dry_run {
        report.busy = true;
        report.elapsed = started.elapsed();
        return Ok(report);
    }
    report.run.uploads_expired = store.expire_uploads(now - seconds(options.upload_expiry), options.dry_run).await?;
    if !options.dry_run {
        // A minute's margin: younger placements may belong to a push in flight in a running server.
        report.trash_restored = store.recover_interrupted(60).await?;
    }
    if !options.retention.is_empty() {
        let names = store.repository_names().await?;
        for policy in &options.retention {
            let rule = RetentionRule {
                untagged_before: policy.delete_untagged_older_than.map(|d| now - seconds(d.0)),
                keep_newest_tags: policy.keep_newest_tags,
                tags_before: policy.delete_tags_older_than.map(|d| now - seconds(d.0)),
            };
            for name in names.iter().filter(|n| glob_match(&policy.repositories, n)) {
                let done = store.apply_retention(name.clone(), rule, options.dry_run).await?;
                report.run.tags_deleted += done.tags;
                report.run.manifests_deleted += done.manifests;
            }
        }
    }
    let swept = store.sweep_blobs(now - seconds(options.grace_period), options.dry_run).await?;
    report.run.blobs_deleted = swept.blobs;
    report.run.bytes_freed = swept.bytes;
    report.run.finished_at = store.clock();
    report.elapsed = started.elapsed();
    if !options.dry_run {
        store.record_gc_run(report.run).await?;
    }
    drop(collector);
    Ok(report)
}

/// Runs GC every `config.interval` until the process ends (the background task of `serve`).
pub async fn run_periodically(store: Store, config: GcConfig, metrics: std::sync::Arc<crate::metrics::Metrics>) {
    let options = Options::from_config(&config);
    loop {
        tokio::time::sleep(config.interval.0).await;
        match run(&store, &options).await {
            Ok(report) if report.busy => tracing::info!("another replica is collecting garbage; skipped this run"),
            Ok(report) => {
                metrics.record_gc(&report.run);
                tracing::info!(
                    blobs = report.run.blobs_deleted,
                    bytes = report.run.bytes_freed,
                    manifests = report.run.manifests_deleted,
                    tags = report.run.tags_deleted,
                    uploads = report.run.uploads_expired,
                    elapsed_ms = u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                    "garbage collection finished"
                );
            }
            Err(e) => tracing::error!(error = %e, "garbage collection failed; retrying at the next interval"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("everything", "*", "a/b/c", true),
            ("prefix across slashes", "ci/*", "ci/a/b", true),
            ("prefix other", "ci/*", "prod/a", false),
            ("exact", "a/b", "a/b", true),
            ("question mark", "a?c", "abc", true),
            ("suffix", "*-dev", "team/app-dev", true),
            ("no partial", "app", "app2", false),
        ];
        for (name, pattern, input, expected) in cases {
            assert_eq!(glob_match(pattern, input), expected, "case {name}");
        }
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}

#[cfg(test)]
mod store_tests;
