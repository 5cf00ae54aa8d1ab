//! The open-files limit, raised to what the configuration needs.
//!
//! Every check in flight holds a socket, so 10,000 real servers checked every second need
//! thousands of descriptors at once, far above the soft limit of 1,024 a service starts with
//! (systemd's default `LimitNOFILE=1024:524288`). Past it every new probe fails with
//! "cannot create socket: Too many open files", and real servers that are fine leave the
//! pool. keepalived raises its limit from the number of checkers too (keepalived's
//! `set_checker_max_fds`). tandem raises the soft limit only as far as needed (child scripts
//! inherit it, and a program using select() cannot handle descriptors past 1,023), and the
//! hard limit when it is below that and the process may (CAP_SYS_RESOURCE, before the
//! capabilities are dropped at start).

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tandem_conf::Config;

/// Descriptors kept for everything but checks: netlink, VRRP and packet sockets, signals,
/// the notify FIFO, logging, scripts' pipes.
const BASE: u64 = 256;

/// Descriptors a configuration may hold at once: one per check (a probe holds one socket at
/// a time; the TCP sockets kept for reuse, connecting or idle, are never more than the TCP
/// checks that were in flight at once), three per MISC_CHECK (a script's pipes), four per
/// VRRP instance, and [`BASE`].
pub fn needed(c: &Config) -> u64 {
    let checks = c.virtual_servers.iter().flat_map(|v| &v.real_servers).flat_map(|r| &r.checks);
    let per_check: u64 = checks.map(|ch| if matches!(ch, tandem_conf::Check::Misc(_)) { 3 } else { 1 }).sum();
    BASE + per_check + 4 * c.vrrp_instances.len() as u64
}

/// What [`raise`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Raised {
    /// The soft limit was already enough.
    Enough(u64),
    /// The soft limit was raised from the first value to the second.
    To(u64, u64),
    /// Not enough could be had: the soft limit is now the second value (the hard limit),
    /// short of what is needed.
    Short(u64, u64),
}

/// Raises the soft open-files limit to `needed` (and the hard one, when it is lower and the
/// process may).
pub fn raise(needed: u64) -> Result<Raised, String> {
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("cannot read the open-files limit: {e}"))?;
    if soft >= needed {
        return Ok(Raised::Enough(soft));
    }
    let raise = |to: u64, hard: u64| {
        setrlimit(Resource::RLIMIT_NOFILE, to, hard)
            .map_err(|e| format!("cannot raise the open-files limit to {to}: {e}"))
    };
    if hard >= needed {
        raise(needed, hard)?;
        Ok(Raised::To(soft, needed))
    } else if raise(needed, needed).is_ok() {
        Ok(Raised::To(soft, needed))
    } else {
        raise(hard, hard)?;
        Ok(Raised::Short(soft, hard))
    }
}

/// Raises the limit for `c` and logs what came of it.
pub fn raise_for(c: &Config) {
    let need = needed(c);
    match raise(need) {
        Ok(Raised::Enough(_)) => {}
        Ok(Raised::To(from, to)) => tracing::info!(from, to, "open-files limit raised for the checks"),
        Ok(Raised::Short(from, to)) => tracing::warn!(
            from,
            to,
            needed = need,
            "open-files limit below what the checks may need (raise LimitNOFILE); probes past it fail"
        ),
        Err(e) => tracing::warn!(error = %e, "open-files limit"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::desired::tests::load;

    #[test]
    fn each_check_counts_one_descriptor_a_script_three_and_an_instance_four() {
        let c = load(
            "vrrp_instance V {\n interface lo\n state BACKUP\n virtual_router_id 5\n priority 100\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n\
             virtual_server 192.0.2.10 80 {\n protocol TCP\n real_server 10.0.0.1 80 {\n  TCP_CHECK {\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n }\n}\n",
        );
        assert_eq!(needed(&c), BASE + 1 + 3 + 1 + 4);
    }

    #[test]
    fn the_soft_limit_rises_to_what_is_needed_and_no_further() {
        // In a child process: limits are per process, and the test harness shares one.
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "run::limits::tests::in_child_raise", "--ignored", "--nocapture"])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&child.stdout);
        assert!(
            child.status.success() && out.contains("1 passed"),
            "{out}\n{}",
            String::from_utf8_lossy(&child.stderr)
        );
    }

    #[test]
    #[ignore = "run by the_soft_limit_rises_to_what_is_needed_and_no_further in its own process"]
    fn in_child_raise() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        setrlimit(Resource::RLIMIT_NOFILE, 512, hard).unwrap();
        assert_eq!(raise(400).unwrap(), Raised::Enough(512));
        assert_eq!(raise(700).unwrap(), Raised::To(512, 700));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (700, hard));
        // Below the hard limit, root raises it too.
        setrlimit(Resource::RLIMIT_NOFILE, 700, 800).unwrap();
        if caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_RESOURCE).unwrap() {
            assert_eq!(raise(900).unwrap(), Raised::To(700, 900));
            assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (900, 900));
            caps::drop(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_RESOURCE).unwrap();
        }
        // Without CAP_SYS_RESOURCE (as after the capabilities are dropped) the soft limit goes
        // as far as the hard one, and the shortfall is reported.
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(raise(5000).unwrap(), Raised::Short(soft, hard));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
    }
}
