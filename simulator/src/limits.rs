//! Process limits. Every SCCP phone of the fleet holds a TCP connection,
//! and every connection a server accepts holds one too, so the number of
//! open files a process may have caps both. Linux starts processes at a
//! soft limit of 1024 under a far higher hard limit; raising the soft one
//! to the hard one at start is what servers and load generators do.

/// Descriptors kept for everything but phones: listeners, the SIP socket,
/// HTTP exchanges in flight, files.
pub const RESERVED_FILES: u64 = 512;

/// Raises the soft limit on open files to the hard limit; the limit now in
/// force (`None` where the platform has no such limit).
pub fn raise_open_files() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write one `rlimit`
        // through a pointer to a local of that type.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                return Some(raised.rlim_cur);
            }
        }
        Some(limit.rlim_cur)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// How many SCCP phones a process with `open_files` can hold.
pub fn sccp_phones(open_files: u64) -> u64 {
    open_files.saturating_sub(RESERVED_FILES)
}

/// How many shards a fleet of `sccp` SCCP phones needs, `room` per process.
pub fn shards_for(sccp: u64, room: u64) -> u64 {
    sccp.div_ceil(room.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        let now = raise_open_files();
        #[cfg(target_os = "linux")]
        {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
            assert_eq!(now, Some(limit.rlim_cur));
            assert_eq!(limit.rlim_cur, limit.rlim_max);
        }
        assert_eq!(sccp_phones(20_000), 19_488);
        assert_eq!(sccp_phones(100), 0);
        assert_eq!(shards_for(100_000, 19_488), 6);
        assert_eq!(shards_for(19_488, 19_488), 1);
        assert_eq!(shards_for(0, 0), 1);
    }
}
