//! The server's CPU time, read from `/proc/<pid>/stat`.
//!
//! The postmaster is not a child btrtune waits for during the measurement, so
//! `getrusage(RUSAGE_CHILDREN)` does not see it. Its time is its own `utime`/`stime`, plus
//! `cutime`/`cstime` (children it has reaped: the backends of clients that disconnected),
//! plus the `utime`/`stime` of its live children (checkpointer, WAL writer, backends still
//! connected). [`ServerCpu::since`] takes the difference of two such snapshots.

use std::collections::BTreeMap;
use std::time::Duration;

/// The fields of `/proc/<pid>/stat` this module uses; times in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: i32,
    /// Parent's process id.
    pub ppid: i32,
    /// User time.
    pub utime: u64,
    /// System time.
    pub stime: u64,
    /// User time of waited-for children.
    pub cutime: u64,
    /// System time of waited-for children.
    pub cstime: u64,
}

/// Parses one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
/// hold spaces and parentheses itself, so fields are counted from the last `)`.
pub fn parse(line: &str) -> Option<ProcStat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let pid = line.get(..open)?.trim().parse().ok()?;
    let rest: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state): field n is rest[n - 3].
    let field = |n: usize| rest.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        ppid: rest.get(1)?.parse().ok()?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

/// The stat of one process; `None` when it is gone or unreadable.
pub fn read(pid: i32) -> Option<ProcStat> {
    parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process whose parent is `ppid`.
pub fn children_of(ppid: i32) -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read)
        .filter(|s| s.ppid == ppid)
        .collect()
}

/// The command line of a process, arguments joined by spaces; empty when unreadable.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
fn ticks_per_s() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// A snapshot of the postmaster's and its children's CPU times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCpu {
    postmaster: ProcStat,
    children: BTreeMap<i32, ProcStat>,
}

impl ServerCpu {
    /// Reads the postmaster `pid` and its children; `None` when it is gone.
    pub fn read(pid: i32) -> Option<ServerCpu> {
        Some(ServerCpu {
            postmaster: read(pid)?,
            children: children_of(pid).into_iter().map(|s| (s.pid, s)).collect(),
        })
    }

    /// User and system CPU time used between `earlier` and this snapshot.
    pub fn since(&self, earlier: &ServerCpu) -> (Duration, Duration) {
        let (u, s) = self.ticks_since(earlier);
        let tps = ticks_per_s();
        let d = |t: u64| Duration::from_nanos(t.saturating_mul(1_000_000_000) / tps);
        (d(u), d(s))
    }

    /// [`since`](Self::since) in clock ticks.
    pub fn ticks_since(&self, earlier: &ServerCpu) -> (u64, u64) {
        let (a, b) = (&earlier.postmaster, &self.postmaster);
        let mut usr = b.utime.saturating_sub(a.utime) + b.cutime.saturating_sub(a.cutime);
        let mut sys = b.stime.saturating_sub(a.stime) + b.cstime.saturating_sub(a.cstime);
        for (pid, now) in &self.children {
            let (u0, s0) = earlier
                .children
                .get(pid)
                .map_or((0, 0), |c| (c.utime, c.stime));
            usr += now.utime.saturating_sub(u0);
            sys += now.stime.saturating_sub(s0);
        }
        // Children gone since: their whole lives are now in cutime/cstime; take off the
        // part they had used before `earlier`.
        for (pid, then) in &earlier.children {
            if !self.children.contains_key(pid) {
                usr = usr.saturating_sub(then.utime);
                sys = sys.saturating_sub(then.stime);
            }
        }
        (usr, sys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_a_tricky_name() {
        let line = "4242 (postgres: a) b) S 4000 4242 4242 0 -1 4194560 1000 0 0 0 \
                    17 5 30 7 20 0 1 0 12345 1000000 100 18446744073709551615";
        let s = parse(line).unwrap();
        assert_eq!(
            s,
            ProcStat {
                pid: 4242,
                ppid: 4000,
                utime: 17,
                stime: 5,
                cutime: 30,
                cstime: 7
            }
        );
        assert_eq!(parse("12 (x) S 1 2"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("x (y) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"), None);
    }

    #[test]
    fn our_own_stat_reads() {
        let me = i32::try_from(std::process::id()).unwrap();
        let s = read(me).unwrap();
        assert_eq!(s.pid, me);
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_str().unwrap();
        assert!(cmdline(me).contains(name), "{}", cmdline(me));
        assert_eq!(cmdline(-1), "");
    }

    fn st(pid: i32, utime: u64, stime: u64, cutime: u64, cstime: u64) -> ProcStat {
        ProcStat {
            pid,
            ppid: 1,
            utime,
            stime,
            cutime,
            cstime,
        }
    }

    #[test]
    fn deltas_count_live_new_and_reaped_children_once() {
        let before = ServerCpu {
            postmaster: st(1, 10, 10, 0, 0),
            children: [(2, st(2, 5, 5, 0, 0)), (3, st(3, 4, 2, 0, 0))].into(),
        };
        // 2 lived on (+3 usr, +1 sys); 3 exited after using 6+1 more (reaped: its whole
        // 10+3 in cutime/cstime); 4 is new (2, 2); the postmaster used 1, 0.
        let after = ServerCpu {
            postmaster: st(1, 11, 10, 10, 3),
            children: [(2, st(2, 8, 6, 0, 0)), (4, st(4, 2, 2, 0, 0))].into(),
        };
        assert_eq!(after.ticks_since(&before), (1 + 3 + 6 + 2, 1 + 1 + 2));
        assert_eq!(after.ticks_since(&after), (0, 0));
    }
}
