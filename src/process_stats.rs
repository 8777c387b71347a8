//! The server process's own figures, as Prometheus's process collector
//! names them (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_start_time_seconds`), read from `/proc/self` at each scrape.
//! Linux only: elsewhere there is nothing to read, and none is exported.

/// One reading.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ProcessStats {
    pub(crate) cpu_seconds: f64,
    pub(crate) resident_bytes: u64,
    pub(crate) virtual_bytes: u64,
    pub(crate) open_fds: u64,
    pub(crate) start_time_seconds: u64,
}

impl ProcessStats {
    /// This process's figures now, where the system gives them.
    pub(crate) fn read() -> Option<Self> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Self::parse(
            &stat,
            &boot,
            fds,
            rustix::param::clock_ticks_per_second(),
            rustix::param::page_size() as u64,
        )
    }

    /// From `/proc/self/stat` and `/proc/stat` (proc(5)): the fields after
    /// the command's closing parenthesis, which may itself hold spaces.
    fn parse(stat: &str, boot: &str, fds: u64, ticks: u64, page: u64) -> Option<Self> {
        let after = &stat[stat.rfind(')')? + 1..];
        // Field 3 (state) is the first after the command.
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
        let ticks = ticks.max(1);
        let btime: u64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some(Self {
            cpu_seconds: (field(14)? + field(15)?) as f64 / ticks as f64,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)?.saturating_mul(page),
            open_fds: fds,
            start_time_seconds: btime + field(22)? / ticks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_reads_as_proc5_says() {
        // A command with spaces and a parenthesis, as proc(5) allows.
        let stat = "4242 (ans (wer) log) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 12000 104857600 2560 18446744073709551615";
        let boot = "cpu  1 2 3\nbtime 1760000000\nprocesses 10\n";
        let stats = ProcessStats::parse(stat, boot, 17, 100, 4096).unwrap();
        assert_eq!(
            stats,
            ProcessStats {
                cpu_seconds: 3.0,
                resident_bytes: 2560 * 4096,
                virtual_bytes: 104_857_600,
                open_fds: 17,
                start_time_seconds: 1_760_000_120,
            }
        );
        assert_eq!(ProcessStats::parse("garbage", boot, 1, 100, 4096), None);
        // This process, read for real.
        if cfg!(target_os = "linux") {
            let now = ProcessStats::read().unwrap();
            assert!(now.resident_bytes > 0 && now.open_fds > 0 && now.start_time_seconds > 0);
        }
    }
}
