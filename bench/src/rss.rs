//! Memory use of a server process, from `/proc/PID/status`.
//!
//! `VmRSS` is the resident set now; `VmHWM` is the kernel's record of its peak over the process's
//! life, so it catches spikes that a sampler would miss. The sampler adds a per-scenario peak.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;

/// How often the sampler reads `VmRSS` during a scenario.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// One reading, in KiB as the kernel reports it.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident set size now.
    pub rss_kib: u64,
    /// The part of it that is anonymous memory (heap, stacks): what the process allocated.
    pub anon_kib: u64,
    /// The part of it that is mapped files, mostly the executable's own code and read-only data.
    pub file_kib: u64,
    /// Peak resident set size so far.
    pub hwm_kib: u64,
    /// Threads of the process now (each may hold a stack and a malloc arena).
    pub threads: u64,
}

/// Reads `VmRSS` (and its `RssAnon` and `RssFile` parts), `VmHWM` and `Threads` of process `pid`.
///
/// # Errors
/// When the process is gone or the file lacks the fields.
pub fn read(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status(&status).with_context(|| format!("no VmRSS/VmHWM/Threads in {path}"))
}

fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        let value = status.lines().find_map(|line| line.strip_prefix(name))?.trim();
        value.strip_suffix("kB").unwrap_or(value).trim().parse::<u64>().ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        anon_kib: field("RssAnon:")?,
        file_kib: field("RssFile:")?,
        hwm_kib: field("VmHWM:")?,
        threads: field("Threads:")?,
    })
}

/// Samples `VmRSS` of a process in the background and keeps the largest value seen.
pub struct PeakSampler {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakSampler {
    /// Starts sampling process `pid`.
    pub fn start(pid: u32) -> PeakSampler {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (peak_kib, stop) = (peak_kib.clone(), stop.clone());
            async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    if let Ok(memory) = read(pid) {
                        peak_kib.fetch_max(memory.rss_kib, Ordering::Relaxed);
                    }
                }
            }
        });
        PeakSampler { peak_kib, stop, task }
    }

    /// Stops sampling and returns the peak `VmRSS` seen, in KiB.
    pub async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        // The task only exits through `stop`; a join error would mean it panicked, and then the
        // peak seen so far is still the best figure there is.
        let _ = self.task.await;
        self.peak_kib.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fields_of_a_real_status_file() {
        let status = "Name:\tregistry\nVmPeak:\t  812340 kB\nVmHWM:\t   21444 kB\nVmRSS:\t   19876 kB\n\
                      RssAnon:\t    6876 kB\nRssFile:\t   13000 kB\nRssShmem:\t       0 kB\nThreads:\t9\n";
        let m = parse_status(status).expect("all fields present");
        assert_eq!((m.rss_kib, m.anon_kib, m.file_kib, m.hwm_kib, m.threads), (19876, 6876, 13000, 21444, 9));
    }

    #[test]
    fn missing_field_is_none() {
        assert!(parse_status("VmRSS:\t 1 kB\nRssAnon:\t 1 kB\nRssFile:\t 0 kB\nThreads:\t1\n").is_none(), "no VmHWM");
    }

    #[test]
    fn reads_this_process() {
        let m = read(std::process::id()).expect("own status is readable");
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib, "{m:?}");
    }
}
