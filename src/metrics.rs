//! Prometheus metrics at `/metrics`: requests by route and status, bytes in and out, GC runs
//! and bytes freed, and storage gauges read from the store at scrape time.
//!
//! Labels never carry repository names or digests, so cardinality stays fixed and the
//! endpoint reveals nothing about the content.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::gc::GcRun;
use crate::store::stats::Stats;

/// Counters of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    gc_runs: AtomicU64,
    gc_blobs_deleted: AtomicU64,
    gc_bytes_freed: AtomicU64,
}

impl Metrics {
    /// Counts a request: the route kind (`manifest`, `blob`, ...), the method and the status.
    pub fn record_request(&self, route: &'static str, method: &'static str, status: u16, bytes_out: u64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((route, method, status))
            .or_default() += 1;
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    /// Counts request body bytes received.
    pub fn record_bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a finished GC run.
    pub fn record_gc(&self, run: &GcRun) {
        self.gc_runs.fetch_add(1, Ordering::Relaxed);
        self.gc_blobs_deleted.fetch_add(run.blobs_deleted, Ordering::Relaxed);
        self.gc_bytes_freed.fetch_add(run.bytes_freed, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self, stats: Option<&Stats>) -> String {
        let mut out = String::new();
        out.push_str("# HELP mirror_registry_http_requests_total HTTP requests by route, method and status.\n");
        out.push_str("# TYPE mirror_registry_http_requests_total counter\n");
        for ((route, method, status), n) in
            self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter()
        {
            let _ = writeln!(
                out,
                "mirror_registry_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        let counters = [
            ("mirror_registry_http_received_bytes_total", "Request body bytes received.", &self.bytes_in),
            ("mirror_registry_http_sent_bytes_total", "Response body bytes sent (by Content-Length).", &self.bytes_out),
            ("mirror_registry_gc_runs_total", "Garbage collection runs finished by this server.", &self.gc_runs),
            ("mirror_registry_gc_blobs_deleted_total", "Blobs deleted by garbage collection.", &self.gc_blobs_deleted),
            ("mirror_registry_gc_freed_bytes_total", "Bytes freed by garbage collection.", &self.gc_bytes_freed),
        ];
        for (name, help, value) in counters {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        if let Some(s) = stats {
            let gauges = [
                ("mirror_registry_repositories", "Repositories.", s.repositories),
                ("mirror_registry_manifests", "Manifests.", s.manifests),
                ("mirror_registry_tags", "Tags.", s.tags),
                ("mirror_registry_blobs", "Distinct blobs.", s.blobs),
                ("mirror_registry_storage_bytes", "Bytes of stored blobs.", s.bytes_stored),
                ("mirror_registry_reclaimable_bytes", "Bytes of blobs no manifest references.", s.bytes_reclaimable),
                ("mirror_registry_uploads_in_progress", "Upload sessions in progress.", s.uploads),
            ];
            for (name, help, value) in gauges {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counters_and_gauges() {
        let m = Metrics::default();
        m.record_request("blob", "GET", 200, 10);
        m.record_request("blob", "GET", 200, 5);
        m.record_bytes_in(7);
        m.record_gc(&GcRun { blobs_deleted: 2, bytes_freed: 100, ..GcRun::default() });
        let text = m.render(Some(&Stats { blobs: 3, ..Stats::default() }));
        for line in [
            "mirror_registry_http_requests_total{route=\"blob\",method=\"GET\",status=\"200\"} 2",
            "mirror_registry_http_sent_bytes_total 15",
            "mirror_registry_http_received_bytes_total 7",
            "mirror_registry_gc_freed_bytes_total 100",
            "mirror_registry_blobs 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
