//! Wall time and exact peak RSS of one client process, for the bench binaries that time a
//! client (`operators`, `releases`).
//!
//! The client runs under the bench program started again as a wrapper ([`measure_child`]), so
//! that the wrapper's `getrusage(RUSAGE_CHILDREN)` covers that one child: its `ru_maxrss` is
//! the kernel's exact record of the child's peak, where polling `VmHWM` could miss the last
//! moments, and the bench's own children (registries, earlier clients) don't count. A binary
//! using this module calls [`measure_child`] first thing in `main` when its first argument is
//! [`MEASURE`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// Wall time, peak RSS and CPU time of one client process.
pub struct Measured {
    pub seconds: f64,
    pub peak_kib: u64,
    /// User plus system CPU time, all threads.
    #[allow(dead_code)] // not every bench reports it
    pub cpu_seconds: f64,
}

impl Measured {
    pub fn peak_mib(&self) -> f64 {
        self.peak_kib as f64 / 1024.0
    }
}

/// The first argument that makes a bench program a measuring wrapper (see [`measure_child`]).
pub const MEASURE: &str = "__measure-child";

/// Runs `cmd` (its program, arguments and environment changes) to completion with its output
/// in `log`; its wall time and peak RSS. On failure, the error holds the log's last lines.
pub fn run_measured(cmd: &Command, what: &str, log: &Path) -> anyhow::Result<Measured> {
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let result = log.with_extension("measured");
    let mut wrapper = Command::new(std::env::current_exe()?);
    wrapper.arg(MEASURE).arg(&result).arg(cmd.get_program()).args(cmd.get_args());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapper.env(name, value),
            None => wrapper.env_remove(name),
        };
    }
    let status = wrapper
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("starting {what}"))?;
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} failed ({status}); last lines of {}:\n{}", log.display(), tail.join("\n"));
    }
    let text = std::fs::read_to_string(&result).with_context(|| format!("reading {}", result.display()))?;
    let mut fields = text.split_whitespace();
    let mut next = || fields.next().context("measurement file");
    Ok(Measured { seconds: next()?.parse()?, peak_kib: next()?.parse()?, cpu_seconds: next()?.parse()? })
}

/// The wrapper: `BENCH __measure-child RESULT PROGRAM ARGS...` runs the program (its output and
/// environment inherited), writes `SECONDS PEAK_KIB CPU_SECONDS` to `RESULT` and returns the
/// program's exit status, which the caller exits with.
pub fn measure_child(mut argv: impl Iterator<Item = std::ffi::OsString>) -> anyhow::Result<i32> {
    let result = PathBuf::from(argv.next().context("no result file")?);
    let program = argv.next().context("no program")?;
    let started = Instant::now();
    let status =
        Command::new(&program).args(argv).status().with_context(|| format!("starting {}", program.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    let cpu = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let cpu_seconds = cpu(usage.user_time()) + cpu(usage.system_time());
    std::fs::write(&result, format!("{seconds} {} {cpu_seconds}", usage.max_rss()))?;
    Ok(status.code().unwrap_or(1))
}
