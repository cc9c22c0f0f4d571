//! What the kernel says about a function process: CPU time and memory.
//!
//! CPU time comes two ways. `/proc/<pid>/stat` `utime + stime` is what `ps`/`top` show, but
//! in clock ticks (10 ms here), far too coarse for one request of a fraction of a millisecond.
//! The per-request figures use the process's CPU-time clock instead
//! (`clock_getcpuclockid(pid)` + `clock_gettime`): the scheduler's own runtime sum over all the
//! process's threads, exited ones included, in nanoseconds. Both are recorded; they agree over
//! a whole run.

use anyhow::{anyhow, bail, Context, Result};
use std::time::Duration;

/// The CPU time of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// Scheduler runtime of all threads, nanosecond resolution.
    pub precise: Duration,
    /// `utime + stime` from `/proc/<pid>/stat`, clock-tick resolution.
    pub ticks: Duration,
}

/// Memory of a process from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// `VmHWM`: peak resident set size.
    pub hwm_kib: u64,
    /// `VmRSS`: resident set size now.
    pub rss_kib: u64,
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions and reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

fn precise_cpu(pid: u32) -> Result<Duration> {
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid out-pointer for the duration of the call.
    let rc = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
    if rc != 0 {
        bail!("clock_getcpuclockid({pid}) failed: error {rc}");
    }
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid out-pointer for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut now) };
    if rc != 0 {
        return Err(anyhow!(std::io::Error::last_os_error())).context("clock_gettime on the process CPU clock");
    }
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

fn tick_cpu(pid: u32) -> Result<Duration> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may contain spaces: count from the last ')'.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .ok_or_else(|| anyhow!("/proc/{pid}/stat has no field {n}"))?
            .parse::<u64>()
            .with_context(|| format!("/proc/{pid}/stat field {n}"))
    };
    let ticks = field(14)? + field(15)?;
    Ok(Duration::from_micros(ticks * 1_000_000 / clock_ticks_per_second()))
}

pub fn cpu(pid: u32) -> Result<Cpu> {
    Ok(Cpu {
        precise: precise_cpu(pid)?,
        ticks: tick_cpu(pid)?,
    })
}

pub fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        hwm_kib: kib("VmHWM:"),
        rss_kib: kib("VmRSS:"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let mut spin = 0u64;
        for i in 0..2_000_000u64 {
            spin = spin.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(spin);
        let cpu = cpu(pid).unwrap_or_default();
        assert!(cpu.precise > Duration::ZERO);
        let memory = memory(pid).unwrap_or_default();
        assert!(memory.hwm_kib >= memory.rss_kib && memory.rss_kib > 0);
    }
}
