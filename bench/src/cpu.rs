//! CPU time used by a server process, from `/proc/PID/stat`.
//!
//! Wall-clock figures on a two-core machine also measure the benchmark client, which shares the
//! cores; the server's own CPU time per scenario shows what each registry costs regardless of
//! who was the bottleneck.

use std::time::Duration;

use anyhow::Context;

/// Clock ticks per second of `utime` and `stime`: `USER_HZ`, which Linux fixes at 100 in its
/// user-space ABI on every architecture this runs on (`getconf CLK_TCK`).
const USER_HZ: u64 = 100;

/// CPU time of a process, all threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// In user space.
    pub user: Duration,
    /// In the kernel on the process's behalf (syscalls, page faults, writeback it waited on).
    pub system: Duration,
}

impl CpuTime {
    /// User plus system.
    pub fn total(self) -> Duration {
        self.user + self.system
    }

    /// The time used since `earlier`.
    #[must_use]
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime { user: self.user.saturating_sub(earlier.user), system: self.system.saturating_sub(earlier.system) }
    }
}

/// CPU time used so far by process `pid`.
///
/// # Errors
/// When the process is gone or the file is not as documented in proc(5).
pub fn used(pid: u32) -> anyhow::Result<CpuTime> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat(&stat).with_context(|| format!("no utime/stime in {path}"))
}

fn parse_stat(stat: &str) -> Option<CpuTime> {
    // The command name (field 2) is in parentheses and may contain spaces; fields after it are
    // plain. utime and stime are fields 14 and 15, so the 12th and 13th after the `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let ticks = |field: Option<&str>| Some(Duration::from_millis(field?.parse::<u64>().ok()? * 1000 / USER_HZ));
    Some(CpuTime { user: ticks(fields.next())?, system: ticks(fields.next())? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime() {
        let cases = [
            ("plain name", "689 (cat) R 687 687 2608 0 -1 4194304 102 0 0 0 25 7 0 0 20 0 1 0", (250, 70)),
            ("name with spaces and a paren", "12 (a b) c) S 1 1 1 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0", (1000, 500)),
        ];
        for (name, stat, (user, system)) in cases {
            let want = CpuTime { user: Duration::from_millis(user), system: Duration::from_millis(system) };
            assert_eq!(parse_stat(stat), Some(want), "{name}");
        }
        assert_eq!(parse_stat("1 (x) R 2"), None, "truncated");
    }

    #[test]
    fn reads_this_process() {
        used(std::process::id()).expect("own stat is readable");
    }
}
