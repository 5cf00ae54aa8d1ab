//! IPVS against the real kernel, in the VM (this machine's kernel has no IPVS).
//!
//! Golden tests: for each case, the tutorial-style ipvsadm commands build a table and
//! `ipvsadm -Sn` prints it; the table is cleared; `tandem run` applies the equivalent
//! keepalived.conf; its `ipvsadm -Sn` must be the same, and the same as the golden file in
//! tests/golden/ (written from ipvsadm's output with TANDEM_BLESS=1). After SIGTERM tandem
//! has removed what it added. Then drift: a hand edit is repaired within one reconcile
//! period, and a service nobody declared is left alone. All in one boot.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use tandem_tests::vm::{Batch, BatchRun, Vm};

struct Case {
    name: &'static str,
    conf: &'static str,
    ipvsadm: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "nat_wrr_persistence_portmap",
        conf: "virtual_server 192.0.2.10 80 {\n protocol TCP\n lb_algo wrr\n lb_kind NAT\n persistence_timeout 30\n persistence_granularity 255.255.255.0\n real_server 10.0.0.11 8080 {\n  weight 1\n }\n real_server 10.0.0.12 8080 {\n  weight 2\n }\n}\n",
        ipvsadm: "ipvsadm -A -t 192.0.2.10:80 -s wrr -p 30 -M 255.255.255.0\nipvsadm -a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 1\nipvsadm -a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 2",
    },
    Case {
        name: "dr_rr",
        conf: "virtual_server 192.0.2.11 80 {\n protocol TCP\n lb_algo rr\n lb_kind DR\n real_server 10.0.0.11 80 {\n  weight 1\n }\n real_server 10.0.0.12 80 {\n  weight 1\n }\n}\n",
        ipvsadm: "ipvsadm -A -t 192.0.2.11:80 -s rr\nipvsadm -a -t 192.0.2.11:80 -r 10.0.0.11:80 -g -w 1\nipvsadm -a -t 192.0.2.11:80 -r 10.0.0.12:80 -g -w 1",
    },
    Case {
        name: "tun_ipip_gue_gre",
        conf: "virtual_server 192.0.2.12 80 {\n protocol TCP\n lb_algo wlc\n lb_kind TUN\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.12 81 {\n protocol TCP\n lb_algo wlc\n lb_kind TUN type gue port 6080 csum\n real_server 10.0.0.11 81 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.12 82 {\n protocol TCP\n lb_algo wlc\n lb_kind TUN type gre csum\n real_server 10.0.0.11 82 {\n  weight 1\n }\n}\n",
        ipvsadm: "ipvsadm -A -t 192.0.2.12:80 -s wlc\nipvsadm -a -t 192.0.2.12:80 -r 10.0.0.11:80 -i -w 1\nipvsadm -A -t 192.0.2.12:81 -s wlc\nipvsadm -a -t 192.0.2.12:81 -r 10.0.0.11:81 -i --tun-type gue --tun-port 6080 --tun-csum -w 1\nipvsadm -A -t 192.0.2.12:82 -s wlc\nipvsadm -a -t 192.0.2.12:82 -r 10.0.0.11:82 -i --tun-type gre --tun-csum -w 1",
    },
    Case {
        name: "fwmark_ipv4_ipv6",
        conf: "virtual_server fwmark 7 {\n lb_algo rr\n lb_kind DR\n real_server 10.0.0.11 {\n  weight 1\n }\n}\nvirtual_server fwmark 8 {\n ip_family inet6\n lb_algo rr\n lb_kind DR\n real_server 2001:db8:1::2 {\n  weight 1\n }\n}\n",
        ipvsadm: "ipvsadm -A -f 7 -s rr\nipvsadm -a -f 7 -r 10.0.0.11:0 -g -w 1\nipvsadm -A -f 8 -6 -s rr\nipvsadm -a -f 8 -6 -r [2001:db8:1::2]:0 -g -w 1",
    },
    Case {
        name: "ipv6_nat",
        conf: "virtual_server 2001:db8::10 443 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 2001:db8:1::2 8443 {\n  weight 3\n }\n}\n",
        ipvsadm: "ipvsadm -A -t [2001:db8::10]:443 -s rr\nipvsadm -a -t [2001:db8::10]:443 -r [2001:db8:1::2]:8443 -m -w 3",
    },
    Case {
        name: "udp_ops_sh_flags",
        conf: "virtual_server 192.0.2.13 53 {\n protocol UDP\n lb_algo sh\n sh-port\n sh-fallback\n ops\n lb_kind DR\n real_server 10.0.0.11 53 {\n  weight 1\n }\n}\n",
        ipvsadm: "ipvsadm -A -u 192.0.2.13:53 -s sh -o -b sh-fallback,sh-port\nipvsadm -a -u 192.0.2.13:53 -r 10.0.0.11:53 -g -w 1",
    },
    Case {
        name: "thresholds_sip_persistence",
        conf: "virtual_server 192.0.2.14 5060 {\n protocol UDP\n lb_algo rr\n lb_kind NAT\n persistence_timeout 60\n persistence_engine sip\n real_server 10.0.0.11 5060 {\n  weight 1\n  uthreshold 100\n  lthreshold 10\n }\n}\n",
        ipvsadm: "ipvsadm -A -u 192.0.2.14:5060 -s rr -p 60 --pe sip\nipvsadm -a -u 192.0.2.14:5060 -r 10.0.0.11:5060 -m -w 1 -x 100 -y 10",
    },
    // A group: an address range, one address and a firewall mark, each a service of its own;
    // under DR the real servers take each service's port, as keepalived programs them (and
    // ipvsadm does), 0 in the mark's (keepalived's ipvs_group_cmd), not the port they name for
    // their checks.
    Case {
        name: "group_range_vip_fwmark_dr",
        conf: "virtual_server_group G1 {\n 192.0.2.40-42 80\n 192.0.2.50 8080\n fwmark 9\n}\nvirtual_server group G1 {\n protocol TCP\n lb_algo wlc\n lb_kind DR\n persistence_timeout 120\n real_server 10.0.0.11 8000 {\n  weight 2\n }\n real_server 10.0.0.12 8000 {\n  weight 1\n }\n}\n",
        ipvsadm: "for a in 192.0.2.40:80 192.0.2.41:80 192.0.2.42:80 192.0.2.50:8080; do ipvsadm -A -t $a -s wlc -p 120; ipvsadm -a -t $a -r 10.0.0.11:8000 -g -w 2; ipvsadm -a -t $a -r 10.0.0.12:8000 -g -w 1; done\nipvsadm -A -f 9 -s wlc -p 120\nipvsadm -a -f 9 -r 10.0.0.11:0 -g -w 2\nipvsadm -a -f 9 -r 10.0.0.12:0 -g -w 1",
    },
    Case {
        name: "every_scheduler",
        conf: "virtual_server 192.0.2.20 1001 {\n protocol TCP\n lb_algo rr\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1002 {\n protocol TCP\n lb_algo wrr\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1003 {\n protocol TCP\n lb_algo lc\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1004 {\n protocol TCP\n lb_algo wlc\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1005 {\n protocol TCP\n lb_algo lblc\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1006 {\n protocol TCP\n lb_algo lblcr\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1007 {\n protocol TCP\n lb_algo dh\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1008 {\n protocol TCP\n lb_algo sh\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1009 {\n protocol TCP\n lb_algo sed\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1010 {\n protocol TCP\n lb_algo nq\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1011 {\n protocol TCP\n lb_algo fo\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1012 {\n protocol TCP\n lb_algo ovf\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\nvirtual_server 192.0.2.20 1013 {\n protocol TCP\n lb_algo mh\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\n",
        ipvsadm: "for s in rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh; do n=$((n+1)); p=$((1000+n)); ipvsadm -A -t 192.0.2.20:$p -s $s; ipvsadm -a -t 192.0.2.20:$p -r 10.0.0.11:80 -m -w 1; done",
    },
];

/// A snippet: ipvsadm's table, then tandem's, then what is left after tandem stops.
fn golden_snippet(c: &Case) -> String {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    format!(
        "cat > $TMPDIR/{name}.conf <<'CONF'\n{conf}CONF\nipvsadm -C\nn=0\n{cmds}\nipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/ipvsadm\"\nipvsadm -Ln --thresholds > \"$TANDEM_SNIPPET_OUT/ipvsadm.thresholds\"\nipvsadm -C\n\
         {tandem} run -f $TMPDIR/{name}.conf > \"$TANDEM_SNIPPET_OUT/tandem.log\" 2>&1 &\npid=$!\n\
         i=0; while [ $i -lt 150 ]; do ipvsadm -Sn > $TMPDIR/got; cmp -s $TMPDIR/got \"$TANDEM_SNIPPET_OUT/ipvsadm\" && break; i=$((i+1)); sleep 0.1; done\n\
         ipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/tandem\"\nipvsadm -Ln --thresholds > \"$TANDEM_SNIPPET_OUT/tandem.thresholds\"\nkill -TERM $pid; wait $pid; echo $? > \"$TANDEM_SNIPPET_OUT/stop_status\"\n\
         ipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/after_stop\"\n",
        name = c.name,
        conf = c.conf,
        cmds = c.ipvsadm,
    )
}

/// Drift: tandem runs a NAT service; by hand, a destination is deleted, another re-weighted
/// and a foreign service added. Within one reconcile period (5 s) tandem repairs its own
/// service and leaves the foreign one; at stop it removes only its own.
fn drift_snippet() -> String {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    format!(
        "cat > $TMPDIR/drift.conf <<'CONF'\n{conf}CONF\nipvsadm -C\n{tandem} run -f $TMPDIR/drift.conf > \"$TANDEM_SNIPPET_OUT/tandem.log\" 2>&1 &\npid=$!\n\
         i=0; while [ $i -lt 100 ]; do ipvsadm -Ln | grep -q 10.0.0.12 && break; i=$((i+1)); sleep 0.1; done\n\
         ipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/applied\"\n\
         ipvsadm -d -t 192.0.2.10:80 -r 10.0.0.11:8080\nipvsadm -e -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 9\nipvsadm -A -t 198.51.100.1:80 -s rr\n\
         date -u +%H:%M:%S.%N > \"$TANDEM_SNIPPET_OUT/edited_at\"\nipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/edited\"\n\
         end=$(($(date +%s) + 15)); while [ $(date +%s) -lt $end ]; do ipvsadm -Sn | grep -v 198.51.100.1 > $TMPDIR/now; cmp -s $TMPDIR/now \"$TANDEM_SNIPPET_OUT/applied\" && break; sleep 0.1; done\n\
         ipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/repaired\"\nkill -TERM $pid; wait $pid\nipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/after_stop\"\n",
        conf = CASES[0].conf,
    )
}

/// `tandem plan`: one weight differs from the configuration and a foreign service exists.
fn plan_snippet() -> String {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    format!(
        "cat > $TMPDIR/plan.conf <<'CONF'\n{conf}CONF\nipvsadm -C\n\
         ipvsadm -A -t 192.0.2.10:80 -s wrr -p 30 -M 255.255.255.0\nipvsadm -a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 1\n\
         ipvsadm -a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 5\nipvsadm -A -t 198.51.100.1:80 -s rr\n\
         ipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/before\"\n\
         {tandem} plan -f $TMPDIR/plan.conf > \"$TANDEM_SNIPPET_OUT/plan\" 2> \"$TANDEM_SNIPPET_OUT/plan.err\"; echo $? > \"$TANDEM_SNIPPET_OUT/plan.status\"\n\
         ipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/after\"\n\
         ipvsadm -e -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 2\n\
         {tandem} plan -f $TMPDIR/plan.conf > \"$TANDEM_SNIPPET_OUT/plan2\" 2>/dev/null; echo $? > \"$TANDEM_SNIPPET_OUT/plan2.status\"\n",
        conf = CASES[0].conf,
    )
}

/// The ways tandem ends: it runs an address owner (priority 255: master at once) on a veth
/// with a NAT service for its VIP; once both are up it gets a signal. SIGTERM, SIGINT and
/// SIGQUIT stop gracefully: exit 0, no VIP, no service left. SIGABRT (systemd's watchdog)
/// ends it at once after releasing the VIP: the IPVS table stays, for the restarted tandem
/// to reconcile.
fn ends_snippet() -> String {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let conf = "vrrp_instance VI_1 {\n interface v0\n virtual_router_id 51\n priority 255\n advert_int 1\n virtual_ipaddress {\n  192.0.2.100/24\n }\n}\n\
                virtual_server 192.0.2.100 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\n";
    format!(
        "ulimit -c 0\nipvsadm -C\nip link add v0 type veth peer name v1\nip link set v1 up\nip link set v0 up\nip addr add 192.0.2.1/24 dev v0\n\
         cat > $TMPDIR/ends.conf <<'CONF'\n{conf}CONF\n\
         for sig in TERM INT QUIT ABRT; do\n\
         {tandem} run -f $TMPDIR/ends.conf > \"$TANDEM_SNIPPET_OUT/$sig.log\" 2>&1 &\npid=$!\n\
         i=0; while [ $i -lt 150 ]; do ip -o addr show dev v0 | grep -q 192.0.2.100 && ipvsadm -Ln | grep -q 10.0.0.11 && break; i=$((i+1)); sleep 0.1; done\n\
         ipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/$sig.running\"\n\
         kill -$sig $pid; wait $pid; echo $? > \"$TANDEM_SNIPPET_OUT/$sig.status\"\n\
         ip -o addr show dev v0 > \"$TANDEM_SNIPPET_OUT/$sig.addresses\"\nipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/$sig.ipvs\"\nipvsadm -C\n\
         done\n"
    )
}

fn run() -> &'static BatchRun {
    static RUN: OnceLock<BatchRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let vm = Vm::builder().timeout(Duration::from_secs(240)).build().unwrap_or_else(|e| panic!("{e}"));
        let mut batch = Batch::new().snippet_timeout(Duration::from_secs(60));
        for c in CASES {
            batch = batch.snippet(c.name, golden_snippet(c));
        }
        batch = batch.snippet("drift", drift_snippet());
        batch = batch.snippet("plan", plan_snippet());
        batch = batch.snippet("ends", ends_snippet());
        batch = batch.snippet("globals", globals_snippet());
        batch = batch.snippet("flush_on_stop", flush_on_stop_snippet());
        batch = batch.snippet("twos", twos_snippet());
        batch = batch.snippet("refused", refused_snippet());
        // Last: it unloads IPVS and loads it again.
        batch = batch.snippet("late", late_snippet());
        vm.run_batch(&batch).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// global_defs the daemon applies to the kernel, and `--dont-release-ipvs`: lvs_timeouts
/// (ipvsadm -L --timeout), lvs_flush (a foreign service present at start is removed), and a
/// SIGTERM with --dont-release-ipvs that leaves tandem's service in the kernel.
fn globals_snippet() -> String {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let conf = "global_defs {\n lvs_timeouts tcp 7200 tcpfin 90 udp 240\n lvs_flush\n}\nvirtual_server 192.0.2.30 80 {\n protocol TCP\n lb_algo rr\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\n";
    format!(
        "cat > $TMPDIR/globals.conf <<'CONF'\n{conf}CONF\nipvsadm -C\nipvsadm --set 900 120 300\nipvsadm -A -t 198.51.100.9:80 -s rr\n\
         {tandem} run --dont-release-ipvs -f $TMPDIR/globals.conf > \"$TANDEM_SNIPPET_OUT/tandem.log\" 2>&1 &\npid=$!\n\
         end=$(($(date +%s) + 15)); while [ $(date +%s) -lt $end ]; do ipvsadm -Ln | grep -q 10.0.0.11 && break; sleep 0.1; done\n\
         ipvsadm -L --timeout > \"$TANDEM_SNIPPET_OUT/timeouts\"\nipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/running\"\n\
         kill -TERM $pid; wait $pid; echo $? > \"$TANDEM_SNIPPET_OUT/stop_status\"\nipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/after_stop\"\nipvsadm -C\n"
    )
}

#[test]
fn lvs_timeouts_and_lvs_flush_apply_and_dont_release_ipvs_keeps_the_table() {
    let s = run().get("globals").unwrap();
    let log = s.read_to_string("tandem.log").unwrap_or_default();
    assert!(s.passed(), "{}\n{log}", s.stderr);
    assert_eq!(s.read_to_string("timeouts").unwrap().trim(), "Timeout (tcp tcpfin udp): 7200 90 240", "{log}");
    let running = s.read_to_string("running").unwrap();
    assert_eq!(
        running, "-A -t 192.0.2.30:80 -s rr\n-a -t 192.0.2.30:80 -r 10.0.0.11:80 -m -w 1\n",
        "lvs_flush: the foreign service goes\n{log}"
    );
    assert_eq!(s.read_to_string("stop_status").unwrap().trim(), "0", "{log}");
    assert_eq!(s.read_to_string("after_stop").unwrap(), running, "--dont-release-ipvs leaves the table\n{log}");
}

/// The `twos` scheduler (Linux 6.2 and later): where the kernel has it, tandem's service is
/// ipvsadm's; where it has not (Debian 12's 6.1), the kernel refuses that one service, tandem
/// says which and why, and programs the others.
fn twos_snippet() -> String {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let conf = "virtual_server 192.0.2.21 1014 {\n protocol TCP\n lb_algo twos\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\n\
                virtual_server 192.0.2.21 1015 {\n protocol TCP\n lb_algo rr\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\n";
    format!(
        "cat > $TMPDIR/twos.conf <<'CONF'\n{conf}CONF\nipvsadm -C\nuname -r > \"$TANDEM_SNIPPET_OUT/kernel\"\n\
         if modprobe ip_vs_twos 2>/dev/null; then echo yes > \"$TANDEM_SNIPPET_OUT/has_twos\"; fi\n\
         ipvsadm -A -t 192.0.2.21:1014 -s twos && ipvsadm -a -t 192.0.2.21:1014 -r 10.0.0.11:80 -m -w 1\n\
         ipvsadm -A -t 192.0.2.21:1015 -s rr\nipvsadm -a -t 192.0.2.21:1015 -r 10.0.0.11:80 -m -w 1\n\
         ipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/ipvsadm\"\nipvsadm -C\n\
         {tandem} run -f $TMPDIR/twos.conf > \"$TANDEM_SNIPPET_OUT/tandem.log\" 2>&1 &\npid=$!\n\
         i=0; while [ $i -lt 150 ]; do ipvsadm -Sn > $TMPDIR/got; cmp -s $TMPDIR/got \"$TANDEM_SNIPPET_OUT/ipvsadm\" && break; i=$((i+1)); sleep 0.1; done\n\
         sleep 1\nipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/tandem\"\nkill -TERM $pid; wait $pid\nipvsadm -C\n"
    )
}

#[test]
fn the_twos_scheduler_where_the_kernel_has_it_and_a_clear_refusal_where_not() {
    let s = run().get("twos").unwrap();
    let log = s.read_to_string("tandem.log").unwrap_or_default();
    assert!(s.passed(), "{}\n{log}", s.stderr);
    let (want, got) = (s.read_to_string("ipvsadm").unwrap_or_default(), s.read_to_string("tandem").unwrap_or_default());
    assert!(got.contains("-A -t 192.0.2.21:1015 -s rr"), "the other service:\n{got}\n{log}");
    assert_eq!(got, want, "{log}");
    let kernel = s.read_to_string("kernel").unwrap_or_default();
    if s.read_to_string("has_twos").is_ok() {
        assert!(got.contains("-s twos"), "{got}\n{log}");
    } else {
        eprintln!("kernel {} has no twos scheduler: checked that it is refused clearly", kernel.trim());
        assert!(!got.contains("twos"), "{got}");
        let line = log.lines().find(|l| l.contains("192.0.2.21:1014")).unwrap_or_else(|| panic!("not logged:\n{log}"));
        assert!(line.contains("twos"), "the refusal names the scheduler: {line}");
    }
}

/// A service the kernel refuses (its scheduler's module cannot be loaded: on-demand loading
/// is off and ip_vs_mh unloaded) is retried at every round but logged once, shown by
/// `tandem status` meanwhile, and taken once the module is loaded, which is logged too. Two
/// reloads that change the other service's weight make the rounds that retry it.
fn refused_snippet() -> String {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let conf = "virtual_server 192.0.2.41 80 {\n protocol TCP\n lb_algo mh\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\n\
                virtual_server 192.0.2.41 81 {\n protocol TCP\n lb_algo rr\n real_server 10.0.0.11 80 {\n  weight W\n }\n}\n";
    let out = "$TANDEM_SNIPPET_OUT";
    let sock = "--control-socket $TMPDIR/refused.sock";
    let metrics = "http://127.0.0.1:9650/metrics";
    // Writes the file with the rr service's real server at weight `w`.
    let write = |w: u32| format!("sed 's/weight W/weight {w}/' $TMPDIR/refused.in > $TMPDIR/refused.conf\n");
    let has = |w: u32, why: &str| {
        format!("has '-a -t 192.0.2.41:81 -r 10.0.0.11:80 -m -w {w}' && echo {why} >> \"{out}/rounds\"\n")
    };
    let reload = |w: u32, why: &str| format!("{}kill -HUP $pid\n{}", write(w), has(w, why));
    format!(
        "cat > $TMPDIR/refused.in <<'CONF'\n{conf}CONF\n\
         has() {{ end=$(($(date +%s) + 20)); while [ $(date +%s) -lt $end ]; do ipvsadm -Sn | grep -qx -- \"$1\" && return 0; sleep 0.1; done; return 1; }}\n\
         ipvsadm -C\nhelper=$(cat /proc/sys/kernel/modprobe); echo /bin/false > /proc/sys/kernel/modprobe\n\
         rmmod ip_vs_mh 2>/dev/null || true\nlsmod | grep -c '^ip_vs_mh ' > \"{out}/mh_loaded_before\" || true\n\
         {}{tandem} run -f $TMPDIR/refused.conf {sock} --metrics-listen 127.0.0.1:9650 > \"{out}/tandem.log\" 2>&1 &\npid=$!\n\
         {}{}{}\
         {tandem} status --json {sock} > \"{out}/refused.json\"\n{tandem} status {sock} > \"{out}/refused.txt\"\n\
         curl -s {metrics} | grep '^tandem_ipvs_refused_changes ' > \"{out}/refused.metric\"\n\
         kill -USR1 $pid; end=$(($(date +%s) + 10)); while [ $(date +%s) -lt $end ] && ! grep -q 'ipvs refused ' \"{out}/tandem.log\"; do sleep 0.1; done\n\
         echo \"$helper\" > /proc/sys/kernel/modprobe\nmodprobe ip_vs_mh\n\
         {}has '-A -t 192.0.2.41:80 -s mh' && echo yes > \"{out}/taken\"\n\
         end=$(($(date +%s) + 10)); while [ $(date +%s) -lt $end ]; do {tandem} status --json {sock} > \"{out}/taken.json\"; grep -q '\"ipvs_refused\":\\[\\]' \"{out}/taken.json\" && break; sleep 0.2; done\n\
         kill -TERM $pid; wait $pid\nipvsadm -C\n",
        write(1),
        has(1, "start"),
        reload(2, "reload"),
        reload(3, "reload"),
        reload(4, "loaded"),
    )
}

#[test]
fn a_refused_service_is_logged_once_shown_in_status_and_taken_once_the_kernel_can() {
    let s = run().get("refused").unwrap();
    let log = s.read_to_string("tandem.log").unwrap_or_default();
    assert!(s.passed(), "{}\n{log}", s.stderr);
    assert_eq!(s.read_to_string("mh_loaded_before").unwrap_or_default().trim(), "0", "ip_vs_mh still loaded");
    let rounds = s.read_to_string("rounds").unwrap_or_default();
    assert_eq!(rounds, "start\nreload\nreload\nloaded\n", "the rounds that retry it\n{log}");
    let json = |name: &str| -> serde_json::Value {
        serde_json::from_str(&s.read_to_string(name).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{name}: {e}\n{log}"))
    };
    // Three rounds refused it (start, two reloads); status, read after the third, shows each
    // refusal counted at least twice, and each logged once.
    let refused = json("refused.json");
    let refused = refused["ipvs_refused"].as_array().cloned().unwrap_or_default();
    assert!(
        refused.iter().any(|r| r["change"].as_str().is_some_and(|c| c.contains("192.0.2.41:80"))),
        "{refused:?}\n{log}"
    );
    for r in &refused {
        assert!(r["times"].as_u64().is_some_and(|t| t >= 2), "refused in each round, counted: {r}\n{log}");
        assert!(r["error"].as_str().is_some_and(|e| e.contains("mh")), "the refusal names the scheduler: {r}");
    }
    let said = log.lines().filter(|l| l.contains("IPVS refused a change")).count();
    assert_eq!(said, refused.len(), "each refusal is logged once, however many rounds retry it:\n{log}");
    let metric = s.read_to_string("refused.metric").unwrap_or_default();
    assert_eq!(metric, format!("tandem_ipvs_refused_changes {}\n", refused.len()), "{log}");
    // SIGUSR1's dump lists it too.
    let dumped = log.lines().filter(|l| l.contains("ipvs refused ") && l.contains("192.0.2.41:80")).count();
    assert_eq!(dumped, 1, "the state dump lists the refusal:\n{log}");
    let text = s.read_to_string("refused.txt").unwrap_or_default();
    assert!(text.contains("REFUSED by the kernel") && text.contains("192.0.2.41:80"), "{text}");
    // Once the module loads, the next round takes it, says so, and status shows none.
    assert_eq!(s.read_to_string("taken").unwrap_or_default(), "yes\n", "the mh service went in\n{log}");
    assert!(log.contains("IPVS took a change it had refused"), "{log}");
    assert_eq!(json("taken.json")["ipvs_refused"], serde_json::json!([]), "{log}");
}

/// At stop, tandem removes the services it configured and leaves the others; with
/// `lvs_flush_on_stop` (keepalived's: the whole table is flushed) none is left. A foreign
/// service is added while tandem runs (without lvs_flush it is not tandem's to remove).
fn flush_on_stop_snippet() -> String {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let conf =
        "virtual_server 192.0.2.31 80 {\n protocol TCP\n lb_algo rr\n real_server 10.0.0.12 80 {\n  weight 1\n }\n}\n";
    let one = |name: &str, globals: &str| {
        format!(
            "cat > $TMPDIR/{name}.conf <<'CONF'\n{globals}{conf}CONF\nipvsadm -C\n\
             {tandem} run -f $TMPDIR/{name}.conf > \"$TANDEM_SNIPPET_OUT/{name}.log\" 2>&1 &\npid=$!\n\
             end=$(($(date +%s) + 15)); while [ $(date +%s) -lt $end ]; do ipvsadm -Ln | grep -q 10.0.0.12 && break; sleep 0.1; done\n\
             ipvsadm -A -t 198.51.100.10:80 -s rr\nipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/{name}_running\"\n\
             kill -TERM $pid; wait $pid\nipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/{name}_after_stop\"\n"
        )
    };
    format!("{}{}ipvsadm -C\n", one("plain", ""), one("flush", "global_defs {\n lvs_flush_on_stop\n}\n"))
}

#[test]
fn at_stop_tandem_removes_its_services_and_lvs_flush_on_stop_every_service() {
    let s = run().get("flush_on_stop").unwrap();
    let logs = format!(
        "{}\n{}",
        s.read_to_string("plain.log").unwrap_or_default(),
        s.read_to_string("flush.log").unwrap_or_default()
    );
    assert!(s.passed(), "{}\n{logs}", s.stderr);
    // Two services: the kernel lists them in its hash order.
    let sorted = |name: &str| {
        let mut lines: Vec<String> = s.read_to_string(name).unwrap_or_default().lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let running =
        ["-A -t 192.0.2.31:80 -s rr", "-A -t 198.51.100.10:80 -s rr", "-a -t 192.0.2.31:80 -r 10.0.0.12:80 -m -w 1"];
    assert_eq!(sorted("plain_running"), running, "{logs}");
    assert_eq!(sorted("flush_running"), running, "{logs}");
    assert_eq!(s.read_to_string("plain_after_stop").unwrap(), "-A -t 198.51.100.10:80 -s rr\n", "{logs}");
    assert_eq!(s.read_to_string("flush_after_stop").unwrap(), "", "lvs_flush_on_stop empties the table\n{logs}");
}

/// IPVS missing at start: the modules unloaded and the kernel's on-demand loading off
/// (/proc/sys/kernel/modprobe), tandem starts anyway, its VRRP instance becomes master and
/// holds the VIP, and it says it cannot program IPVS (and `tandem plan` says IPVS is missing);
/// once `modprobe ip_vs` loads the module,
/// the table is programmed at the next retry without a restart.
fn late_snippet() -> String {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let conf = "vrrp_instance VI_1 {\n interface w0\n virtual_router_id 52\n priority 255\n advert_int 1\n virtual_ipaddress {\n  192.0.2.101/24\n }\n}\n\
                virtual_server 192.0.2.101 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.11 80 {\n  weight 1\n }\n}\n";
    format!(
        "ipvsadm -C\nip link add w0 type veth peer name w1\nip link set w1 up\nip link set w0 up\nip addr add 192.0.2.2/24 dev w0\n\
         cat > $TMPDIR/late.conf <<'CONF'\n{conf}CONF\n\
         helper=$(cat /proc/sys/kernel/modprobe); echo /bin/false > /proc/sys/kernel/modprobe\n\
         for m in $(lsmod | awk '$1 ~ /^ip_vs_/ {{print $1}}'); do rmmod $m; done; rmmod ip_vs\n\
         lsmod | grep -c '^ip_vs' > \"$TANDEM_SNIPPET_OUT/loaded_before\" || true\n\
         {tandem} run -f $TMPDIR/late.conf > \"$TANDEM_SNIPPET_OUT/tandem.log\" 2>&1 &\npid=$!\n\
         end=$(($(date +%s) + 15)); while [ $(date +%s) -lt $end ]; do ip -o addr show dev w0 | grep -q 192.0.2.101 && break; sleep 0.1; done\n\
         sleep 1\nip -o addr show dev w0 > \"$TANDEM_SNIPPET_OUT/vip_without_ipvs\"\n\
         {tandem} plan -f $TMPDIR/late.conf > \"$TANDEM_SNIPPET_OUT/plan\" 2>&1; echo $? > \"$TANDEM_SNIPPET_OUT/plan.status\"\n\
         echo \"$helper\" > /proc/sys/kernel/modprobe\nmodprobe ip_vs\nmodprobe ip_vs_rr\n\
         end=$(($(date +%s) + 20)); while [ $(date +%s) -lt $end ]; do ipvsadm -Ln | grep -q 10.0.0.11 && break; sleep 0.2; done\n\
         ipvsadm -Sn > \"$TANDEM_SNIPPET_OUT/programmed\"\nkill -0 $pid && echo alive > \"$TANDEM_SNIPPET_OUT/alive\"\n\
         kill -TERM $pid; wait $pid\n"
    )
}

#[test]
fn without_ipvs_vrrp_runs_and_the_table_comes_once_the_module_is_loaded() {
    let s = run().get("late").unwrap();
    let log = s.read_to_string("tandem.log").unwrap_or_default();
    assert!(s.passed(), "{}\n{log}", s.stderr);
    assert_eq!(s.read_to_string("loaded_before").unwrap().trim(), "0", "IPVS was still loaded");
    assert!(s.read_to_string("vip_without_ipvs").unwrap().contains("192.0.2.101/24"), "VRRP held the VIP\n{log}");
    assert!(log.contains("cannot program IPVS"), "{log}");
    // `tandem plan` meanwhile: the same absence, said in words (exit 1), not a netlink dump.
    let plan = s.read_to_string("plan").unwrap_or_default();
    assert_eq!(s.read_to_string("plan.status").unwrap_or_default().trim(), "1", "{plan}");
    assert!(
        plan.contains("error: open the IPVS generic netlink family: IPVS is not available in this kernel (is the ip_vs module loaded? `modprobe ip_vs`)"),
        "{plan}"
    );
    assert!(!plan.contains("Nlmsgerr"), "{plan}");
    assert_eq!(
        s.read_to_string("programmed").unwrap(),
        "-A -t 192.0.2.101:80 -s rr\n-a -t 192.0.2.101:80 -r 10.0.0.11:80 -m -w 1\n",
        "{log}"
    );
    assert_eq!(s.read_to_string("alive").unwrap().trim(), "alive");
    // Said when it started failing and when it worked again; the rounds between retry quietly.
    assert_eq!(log.matches("cannot program IPVS").count(), 1, "{log}");
    assert!(log.contains("IPVS programmed again"), "{log}");
}

/// `tandem plan --offline` prints the table a file describes as `ipvsadm -Sn` prints it,
/// without a kernel: the same text as each golden file, which the VM test holds to what the
/// kernel shows after tandem programmed it.
#[test]
fn the_offline_plan_prints_what_ipvsadm_shows() {
    let dir = std::env::temp_dir().join(format!("tandem-offline-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for c in CASES {
        let f = dir.join(format!("{}.conf", c.name));
        std::fs::write(&f, c.conf).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["plan", "--offline", "-f", f.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}: {}", c.name, String::from_utf8_lossy(&out.stderr));
        let golden = std::fs::read_to_string(golden_path(c.name)).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), golden, "{}", c.name);
    }
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.txt"))
}

#[test]
fn tandem_programs_exactly_what_the_equivalent_ipvsadm_commands_do() {
    let run = run();
    let mut failures = Vec::new();
    for c in CASES {
        let s = run.get(c.name).unwrap();
        let log = s.read_to_string("tandem.log").unwrap_or_default();
        let want = s.read_to_string("ipvsadm").unwrap_or_default();
        let got = s.read_to_string("tandem").unwrap_or_default();
        // Written only once tandem has ended: missing means it did not stop on SIGTERM (and
        // the snippet was killed), which is not "nothing left behind".
        let (Ok(after), Ok(stopped)) = (s.read_to_string("after_stop"), s.read_to_string("stop_status")) else {
            failures.push(format!("{}: tandem did not stop on SIGTERM (no after-stop dump)\n{log}", c.name));
            continue;
        };
        if stopped.trim() != "0" {
            failures.push(format!("{}: tandem's exit status at SIGTERM was {}\n{log}", c.name, stopped.trim()));
        }
        if want.trim().is_empty() {
            failures.push(format!("{}: the ipvsadm commands built nothing: {}", c.name, s.stderr));
            continue;
        }
        if std::env::var_os("TANDEM_BLESS").is_some() {
            std::fs::write(golden_path(c.name), &want).unwrap();
        }
        let golden = std::fs::read_to_string(golden_path(c.name)).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{}: tandem's table differs from ipvsadm's\n--- ipvsadm\n{want}--- tandem\n{got}--- log\n{log}",
                c.name
            ));
        }
        // `ipvsadm -Sn` does not print thresholds; `-Ln --thresholds` does.
        let (want_t, got_t) = (
            s.read_to_string("ipvsadm.thresholds").unwrap_or_default(),
            s.read_to_string("tandem.thresholds").unwrap_or_default(),
        );
        if want_t != got_t {
            failures.push(format!("{}: thresholds differ\n--- ipvsadm\n{want_t}--- tandem\n{got_t}", c.name));
        }
        if c.name == "thresholds_sip_persistence"
            && !got_t.lines().any(|l| l.contains("10.0.0.11:5060") && l.contains(" 100 ") && l.contains(" 10 "))
        {
            failures.push(format!("{}: the thresholds 100/10 are not in the kernel\n{got_t}", c.name));
        }
        if want != golden {
            failures.push(format!(
                "{}: ipvsadm's table differs from the golden file\n--- golden\n{golden}--- now\n{want}",
                c.name
            ));
        }
        if !after.trim().is_empty() {
            failures.push(format!("{}: tandem left services behind at stop:\n{after}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `HH:MM:SS.fraction` (optionally ending in `Z`) as seconds since midnight.
fn seconds_of_day(t: &str) -> Option<f64> {
    let mut p = t.trim().trim_end_matches('Z').split(':');
    let (h, m, s): (f64, f64, f64) = (p.next()?.parse().ok()?, p.next()?.parse().ok()?, p.next()?.parse().ok()?);
    Some(h * 3600.0 + m * 60.0 + s)
}

#[test]
fn a_hand_edit_is_repaired_within_one_reconcile_period_and_foreign_services_are_left_alone() {
    let s = run().get("drift").unwrap();
    let log = s.read_to_string("tandem.log").unwrap_or_default();
    let applied = s.read_to_string("applied").unwrap();
    let edited = s.read_to_string("edited").unwrap();
    let repaired = s.read_to_string("repaired").unwrap();
    assert_ne!(applied, edited, "the hand edit did not change the table");
    // Timed by the guest's clock on both sides: the edit's time, and the time tandem logged
    // the repair (the side that owns the event), not by passes of a polling loop. The edit
    // falls anywhere in a 5 s reconcile period; the dump and diff take a moment more.
    let edited_at = seconds_of_day(&s.read_to_string("edited_at").unwrap()).unwrap();
    let line =
        log.lines().find(|l| l.contains("drifted")).unwrap_or_else(|| panic!("the repair was not logged:\n{log}"));
    let logged_at = line.split_whitespace().next().and_then(|t| t.split('T').nth(1)).and_then(seconds_of_day).unwrap();
    let took = (logged_at - edited_at).rem_euclid(86_400.0);
    assert!(took < 6.5, "repaired {took:.2} s after the edit (reconcile period 5 s):\n{repaired}\n{log}");
    let without_foreign: String =
        repaired.lines().filter(|l| !l.contains("198.51.100.1")).map(|l| format!("{l}\n")).collect();
    assert_eq!(without_foreign, applied, "{log}");
    assert!(repaired.contains("-A -t 198.51.100.1:80 -s rr"), "the foreign service was removed:\n{repaired}");
    assert!(log.contains("drifted"), "the repair was not logged:\n{log}");
    // At stop tandem removed its own service and left the foreign one.
    assert_eq!(s.read_to_string("after_stop").unwrap(), "-A -t 198.51.100.1:80 -s rr\n");
}

#[test]
fn plan_lists_the_changes_and_makes_none() {
    let s = run().get("plan").unwrap();
    let err = s.read_to_string("plan.err").unwrap_or_default();
    assert_eq!(s.read_to_string("plan").unwrap(), "ipvsadm -e -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 2\n", "{err}");
    assert_eq!(s.read_to_string("plan.status").unwrap().trim(), "2");
    assert_eq!(s.read_to_string("before").unwrap(), s.read_to_string("after").unwrap(), "plan changed the table");
    assert_eq!(s.read_to_string("plan2").unwrap(), "");
    assert_eq!(s.read_to_string("plan2.status").unwrap().trim(), "0");
}

#[test]
fn term_int_and_quit_leave_no_vip_and_no_service_and_abrt_leaves_no_vip() {
    let s = run().get("ends").unwrap();
    for sig in ["TERM", "INT", "QUIT", "ABRT"] {
        let log = s.read_to_string(format!("{sig}.log")).unwrap_or_default();
        let running = s.read_to_string(format!("{sig}.running")).unwrap_or_default();
        assert!(
            running.contains("-a -t 192.0.2.100:80 -r 10.0.0.11:80 -m -w 1"),
            "{sig}: not programmed:\n{running}\n{log}"
        );
        let status = s.read_to_string(format!("{sig}.status")).unwrap_or_default();
        let addresses = s.read_to_string(format!("{sig}.addresses")).unwrap_or_default();
        let ipvs = s.read_to_string(format!("{sig}.ipvs")).unwrap_or_default();
        assert!(addresses.contains("192.0.2.1/24"), "{sig}: {addresses}");
        assert!(!addresses.contains("192.0.2.100"), "{sig}: the VIP was left behind:\n{addresses}\n{log}");
        if sig == "ABRT" {
            // 128 + SIGABRT: the process died by the signal, after the release.
            assert_eq!(status.trim(), "134", "{log}");
            assert!(log.contains("VIP released") && log.contains("priority 0 sent"), "{log}");
            assert!(ipvs.contains("-A -t 192.0.2.100:80 -s rr"), "ABRT: the table should stay:\n{ipvs}");
        } else {
            assert_eq!(status.trim(), "0", "{sig}: {log}");
            assert_eq!(ipvs, "", "{sig}: services left behind:\n{log}");
        }
    }
}
