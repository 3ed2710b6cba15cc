//! CPU time of process trees, from `/proc/PID/stat`, for the services the `scale-out` bench
//! starts as children: registry replicas, Garage nodes, and PostgreSQL (a postmaster that forks
//! a backend per connection, started through `runuser` when running as root).
//!
//! The CPU time of a tree is, over every live process in it, its own `utime + stime` plus
//! `cutime + cstime`: the time of the children it has reaped. A process that exits is counted
//! once, in the parent that waited for it (the postmaster reaps its backends), so a difference of
//! two readings covers backends that came and went in between.

use std::collections::HashMap;
use std::time::Duration;

/// Clock ticks per second of the time fields: `USER_HZ`, fixed at 100 in Linux's user-space ABI.
const USER_HZ: u64 = 100;

/// The fields of `/proc/PID/stat` used here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    comm: String,
    ppid: u32,
    /// Own user plus system time.
    own: Duration,
    /// User plus system time of reaped children.
    reaped: Duration,
}

fn parse_stat(stat: &str) -> Option<Stat> {
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the `)`: state is field 3, so field N is at index N - 3.
    let ticks = |n: usize| Some(Duration::from_millis(fields.get(n - 3)?.parse::<u64>().ok()? * 1000 / USER_HZ));
    Some(Stat {
        comm,
        ppid: fields.get(1)?.parse().ok()?,
        own: ticks(14)? + ticks(15)?,
        reaped: ticks(16)? + ticks(17)?,
    })
}

/// Every process visible now, by pid.
fn snapshot() -> HashMap<u32, Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashMap::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            // A process may exit between the listing and the read; it is then not counted.
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            Some((pid, parse_stat(&stat)?))
        })
        .collect()
}

/// CPU time used so far by `root` and its descendants (see the module doc).
pub fn tree_cpu(root: u32) -> Duration {
    let all = snapshot();
    let mut total = Duration::ZERO;
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        if let Some(stat) = all.get(&pid) {
            total += stat.own + stat.reaped;
        }
        pending.extend(all.iter().filter(|(_, s)| s.ppid == pid).map(|(&child, _)| child));
    }
    total
}

/// The children of this process whose command name is one of `names` (`garage`; `postgres` or
/// `runuser`), in pid order.
pub fn children_named(names: &[&str]) -> Vec<u32> {
    let me = std::process::id();
    let mut pids: Vec<u32> = snapshot()
        .into_iter()
        .filter(|(_, s)| s.ppid == me && names.contains(&s.comm.as_str()))
        .map(|(pid, _)| pid)
        .collect();
    pids.sort_unstable();
    pids
}

/// CPU time this process's own threads used so far (the benchmark clients and the proxy), not
/// counting its children.
pub fn own_cpu() -> Duration {
    std::fs::read_to_string("/proc/self/stat").ok().as_deref().and_then(parse_stat).map_or(Duration::ZERO, |s| s.own)
}
