//! Connection sync in the VM: a tandem pair of LVS-NAT directors whose kernel sync daemons
//! follow the VRRP role (`lvs_sync_daemon`), and long-lived connections that survive the
//! master's death.
//!
//! The lab, in network namespaces of one VM boot: a client (198.51.100.2) on the public
//! segment with the directors d1 (198.51.100.3) and d2 (.4); the directors and two real
//! servers (10.0.0.11, .12, each a line-echo server) on the private segment, where the real
//! servers' gateway is the floating DIP 10.0.0.1. One sync group floats the VIP
//! 198.51.100.10 and the DIP together; the sync daemons use the private segment. A second lab
//! in the same boot does the same for LVS-DR on one segment.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::sync::OnceLock;
use std::time::Duration;
use tandem_tests::vm::{Batch, BatchRun, SnippetResult, Vm};

/// The pair lab (see the module doc); `$TMPDIR/echo.py` serves lines back on port 80 and
/// `$TMPDIR/client.py` holds connections open across phases.
const PAIR_SETUP: &str = r#"set -e
ip link set lo up
for n in sw cl d1 d2 rs1 rs2; do ip netns add $n; ip -n $n link set lo up; done
for b in pub priv; do ip -n sw link add $b type bridge; ip -n sw link set $b up; done
plug cl eth0 pub 198.51.100.2/24
wire d1
wire d2
for i in 1 2; do
  plug rs$i eth0 priv 10.0.0.1$i/24
  ip -n rs$i route add default via 10.0.0.1
done
cat > $TMPDIR/echo.py <<'PY'
# echo.py NAME: port 80 echoes what it reads (one thread, every connection in a selector:
# a thousand held-open connections cost no thread each); port 81 says NAME and closes.
import selectors, socket, socketserver, sys, threading
name = sys.argv[1].encode() + b"\n"
class Who(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(name)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
who = socketserver.ThreadingTCPServer(("0.0.0.0", 81), Who)
threading.Thread(target=who.serve_forever, daemon=True).start()
sel = selectors.DefaultSelector()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("0.0.0.0", 80))
ls.listen(4096)
ls.setblocking(False)
sel.register(ls, selectors.EVENT_READ)
def drop(s):
    sel.unregister(s)
    s.close()
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is ls:
            try:
                c, _ = ls.accept()
            except OSError:
                continue
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ)
            continue
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            drop(s)
            continue
        try:
            s.sendall(data)
        except OSError:
            drop(s)
PY
cat > $TMPDIR/client.py <<'PY'
# client.py N VIP DIR: opens N connections to VIP:80, checks one echo on each, writes
# DIR/opened; then, each time DIR/go-K appears, checks one more echo on each and writes the
# number that answered to DIR/answered-K. Ends when DIR/done appears. Connections open 50 at a
# time and a round sends every line before it reads any answer, so that it costs a few round
# trips rather than N (under emulation, N one after another took minutes); a round waits at
# most 30 s for the answers.
import os, selectors, socket, sys, time
n, vip, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def open_all():
    conns = []
    for start in range(0, n, 50):
        batch = []
        sel = selectors.DefaultSelector()
        for i in range(start, min(n, start + 50)):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((vip, 80))
            sel.register(s, selectors.EVENT_WRITE)
            batch.append(s)
        pending, deadline = len(batch), time.monotonic() + 5
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0, deadline - time.monotonic())):
                sel.unregister(key.fileobj)
                pending -= 1
        sel.close()
        conns.extend(batch)
    return conns
conns = open_all()
def round_(tag):
    sel = selectors.DefaultSelector()
    want, got = {}, {}
    for i, s in enumerate(conns):
        msg = ("%s %d\n" % (tag, i)).encode()
        try:
            s.send(msg)
        except OSError:
            continue
        want[s], got[s] = msg, b""
        sel.register(s, selectors.EVENT_READ)
    ok, pending, deadline = 0, len(want), time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0, deadline - time.monotonic())):
            s = key.fileobj
            try:
                chunk = s.recv(100)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            got[s] += chunk
            if not chunk or got[s].endswith(b"\n"):
                sel.unregister(s)
                pending -= 1
                ok += got[s] == want[s]
    sel.close()
    return ok
def put(name, n):
    # Written whole, then renamed: whoever waits for the file never reads it half-written.
    open(os.path.join(d, name + ".tmp"), "w").write("%d\n" % n)
    os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name))
put("opened", round_("open"))
k = 1
while not os.path.exists(os.path.join(d, "done")):
    if os.path.exists(os.path.join(d, "go-%d" % k)):
        put("answered-%d" % k, round_("round%d" % k))
        k += 1
    time.sleep(0.1)
PY
for i in 1 2; do ip netns exec rs$i python3 $TMPDIR/echo.py rs$i & done
sleep 1
"#;

fn conf(priority: u8) -> String {
    format!(
        "global_defs {{\n lvs_sync_daemon eth1 VI_PUB\n}}\n\
         vrrp_sync_group G {{\n group {{\n  VI_PUB\n  VI_PRIV\n }}\n}}\n\
         vrrp_instance VI_PUB {{\n interface eth0\n virtual_router_id 51\n priority {priority}\n advert_int 1\n virtual_ipaddress {{\n  198.51.100.10/24\n }}\n}}\n\
         vrrp_instance VI_PRIV {{\n interface eth1\n virtual_router_id 52\n priority {priority}\n advert_int 1\n virtual_ipaddress {{\n  10.0.0.1/24\n }}\n}}\n\
         virtual_server 198.51.100.10 80 {{\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.11 80 {{\n  weight 1\n }}\n real_server 10.0.0.12 80 {{\n  weight 1\n }}\n}}\n\
         virtual_server 198.51.100.10 81 {{\n protocol TCP\n lb_algo rr\n lb_kind NAT\n persistence_timeout 600\n real_server 10.0.0.11 81 {{\n  weight 1\n }}\n real_server 10.0.0.12 81 {{\n  weight 1\n }}\n}}\n"
    )
}

/// Shell functions: start tandem in a director, wait for a director to hold the VIP, and
/// record the sync daemons a director's kernel runs.
fn prelude() -> String {
    format!(
        r#"TANDEM={tandem}
start_tandem() {{
  ip netns exec $1 $TANDEM run -f $TMPDIR/$1.conf --control-socket $TMPDIR/$1.sock > "$TANDEM_SNIPPET_OUT/$2.log" 2>&1 &
  eval pid_$1=$!
}}
plug() {{
  ip link add name $2 netns $1 type veth peer name $1-$2 netns sw
  ip -n sw link set $1-$2 master $3
  ip -n sw link set $1-$2 up
  ip -n $1 addr add $4 dev $2
  ip -n $1 link set $2 up
}}
# wire dN: director N's links (eth0 public, eth1 private) and forwarding.
wire() {{
  n=${{1#d}}
  plug $1 eth0 pub 198.51.100.$((n+2))/24
  plug $1 eth1 priv 10.0.0.$((n+1))/24
  ip netns exec $1 sysctl -qw net.ipv4.ip_forward=1
}}
# die dN: the director's machine dies: every process in it killed, its links down.
die() {{ for p in $(ip netns pids $1); do kill -KILL $p; done; ip -n $1 link set eth0 down; ip -n $1 link set eth1 down; }}
# fresh dN: the dead director boots again: a new namespace, so an empty connection table.
# Every process left in it is killed first, and gone before the namespace is: a daemon that
# outlived `ip netns del` would go on advertising the VIPs from the unnamed namespace (the
# keepalived comparison's daemons take a while to stop with 1,000 connections).
fresh() {{
  for p in $(ip netns pids $1); do kill -KILL $p; done
  i=0; while [ -n "$(ip netns pids $1)" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
  ip netns del $1; sleep 0.2; ip netns add $1; ip -n $1 link set lo up; wire $1;
}}
# clients DIR N: N connections to the VIP held open by client.py in DIR; waits for them.
clients() {{
  mkdir -p $1
  ip netns exec cl python3 $TMPDIR/client.py $2 198.51.100.10 $1 &
  i=0; while [ $i -lt 1200 ] && [ ! -f $1/opened ]; do i=$((i+1)); sleep 0.1; done
}}
# who: the real server a new connection to VIP:81 (persistent) reaches.
who() {{ ip netns exec cl python3 -c 'import socket; print(socket.create_connection(("198.51.100.10", 81), timeout=5).recv(16).decode().strip())' || echo FAILED; }}
# round DIR K: one more line on every connection; prints how many echoed.
round() {{
  touch $1/go-$2
  i=0; while [ $i -lt 1200 ] && [ ! -f $1/answered-$2 ]; do i=$((i+1)); sleep 0.1; done
  cat $1/answered-$2
}}
holds_vip() {{ i=0; while [ $i -lt 200 ]; do ip -n $1 -o addr show dev eth0 | grep -q 198.51.100.10 && return 0; i=$((i+1)); sleep 0.1; done; return 1; }}
daemons() {{ ip netns exec $1 ipvsadm -L --daemon > "$TANDEM_SNIPPET_OUT/$2"; }}
"#,
        tandem = env!("CARGO_BIN_EXE_tandem")
    )
}

/// The role switches and a failover with 50 connections open: d1 (150) and d2 (100) start;
/// d1 is master. The sync daemons are recorded; d1 is stopped with SIGTERM and d2 takes over
/// (recorded); d1 comes back, preempts (recorded). Then 50 connections are opened through d1;
/// a failover drill on d1 hands the VIPs to d2 and takes them back (every connection must
/// still echo); then d1's machine dies (tandem killed, its links down): every connection must
/// still echo through d2.
fn roles_snippet() -> String {
    format!(
        r#"cat > $TMPDIR/d1.conf <<'CONF'
{c1}CONF
cat > $TMPDIR/d2.conf <<'CONF'
{c2}CONF
start_tandem d1 d1
start_tandem d2 d2
holds_vip d1
sleep 2
daemons d1 d1.master
daemons d2 d2.backup
kill -TERM $pid_d1; wait $pid_d1
holds_vip d2
sleep 2
daemons d1 d1.stopped
daemons d2 d2.master
start_tandem d1 d1b
sleep 1
holds_vip d1
sleep 2
daemons d1 d1.back
daemons d2 d2.back
clients $TMPDIR/c 50
cp $TMPDIR/c/opened "$TANDEM_SNIPPET_OUT/opened"
sleep 3
ip netns exec d2 cat /proc/net/ip_vs_conn > "$TANDEM_SNIPPET_OUT/d2.conns"
$TANDEM drill --json --back --hold 4 --control-socket $TMPDIR/d1.sock > "$TANDEM_SNIPPET_OUT/drill.json" 2> "$TANDEM_SNIPPET_OUT/drill.err" || true
holds_vip d1
round $TMPDIR/c 1 > "$TANDEM_SNIPPET_OUT/after_drill"
die d1
holds_vip d2
round $TMPDIR/c 2 > "$TANDEM_SNIPPET_OUT/answered"
touch $TMPDIR/c/done
kill -TERM $pid_d2; wait $pid_d2
fresh d1
"#,
        c1 = conf(150),
        c2 = conf(100)
    )
}

/// The comparison: keepalived 2.2.7 with the same files, both subsystems (its checker
/// programs IPVS). The master's machine dies with 1,000 connections open: keepalived keeps them
/// all. The machine comes back with an empty table and preempts: the connections that were
/// quiet meanwhile have no entry there and die (keepalived issues #237, #1076, #1966).
fn keepalived_snippet() -> String {
    r#"for d in d1 d2; do
  ip netns exec $d keepalived -n -l -D -f $TMPDIR/$d.conf -p $TMPDIR/k$d.pid -r $TMPDIR/k$d.vrrp.pid -c $TMPDIR/k$d.chk.pid > "$TANDEM_SNIPPET_OUT/k$d.log" 2>&1 &
done
holds_vip d1
sleep 3
clients $TMPDIR/k 1000
cp $TMPDIR/k/opened "$TANDEM_SNIPPET_OUT/opened"
sleep 3
die d1
holds_vip d2
round $TMPDIR/k 1 > "$TANDEM_SNIPPET_OUT/after_failover"
fresh d1
ip netns exec d1 keepalived -n -l -D -f $TMPDIR/d1.conf -p $TMPDIR/kd1b.pid -r $TMPDIR/kd1b.vrrp.pid -c $TMPDIR/kd1b.chk.pid > "$TANDEM_SNIPPET_OUT/kd1b.log" 2>&1 &
sleep 1
holds_vip d1
sleep 1
round $TMPDIR/k 2 > "$TANDEM_SNIPPET_OUT/after_return"
touch $TMPDIR/k/done
for p in $(ip netns pids d1) $(ip netns pids d2); do kill -TERM $p; done
i=0; while [ -n "$(ip netns pids d1)$(ip netns pids d2)" ] && [ $i -lt 300 ]; do i=$((i+1)); sleep 0.1; done
"#
    .to_string()
}

/// tandem closes keepalived's hole: the same as [`keepalived_snippet`] with tandem, whose
/// returning director asks the master for its table as its backup daemon starts, before it
/// preempts.
fn return_snippet() -> String {
    r#"fresh d1
fresh d2
# Fresh echo servers too: the comparison's 1,000 connections that keepalived's return reset
# are still open on the real servers' side (the reset never reached them), a thread each,
# and slowed new connections there enough to time out under emulation.
for i in 1 2; do for p in $(ip netns pids rs$i); do kill -KILL $p; done; done
sleep 0.5
for i in 1 2; do ip netns exec rs$i python3 $TMPDIR/echo.py rs$i & done
sleep 1
start_tandem d1 r1
start_tandem d2 r2
holds_vip d1
sleep 3
clients $TMPDIR/r 500
cp $TMPDIR/r/opened "$TANDEM_SNIPPET_OUT/opened"
{ who; who; who; } > "$TANDEM_SNIPPET_OUT/who_before"
sleep 3
die d1
holds_vip d2
round $TMPDIR/r 1 > "$TANDEM_SNIPPET_OUT/after_failover"
{ who; who; who; } > "$TANDEM_SNIPPET_OUT/who_failover"
clients $TMPDIR/r2 500
cp $TMPDIR/r2/opened "$TANDEM_SNIPPET_OUT/opened_away"
ip netns exec d2 cat /proc/net/ip_vs_conn > "$TANDEM_SNIPPET_OUT/d2.conns"
fresh d1
start_tandem d1 r1b
sleep 1
holds_vip d1
ip netns exec d1 cat /proc/net/ip_vs_conn_sync > "$TANDEM_SNIPPET_OUT/d1.conns"
sleep 1
round $TMPDIR/r 2 > "$TANDEM_SNIPPET_OUT/after_return"
round $TMPDIR/r2 1 > "$TANDEM_SNIPPET_OUT/after_return_away"
{ who; who; who; } > "$TANDEM_SNIPPET_OUT/who_return"
kill -USR1 $pid_d1
kill -36 $pid_d1
sleep 4
kill -36 $pid_d2
sleep 1
touch $TMPDIR/r/done $TMPDIR/r2/done
kill -TERM $pid_d1 $pid_d2; wait $pid_d1 $pid_d2
"#
    .to_string()
}

/// LVS-DR: directors e1 and e2, real servers es1 and es2 (the VIP 192.0.2.10 on their loopback,
/// arp_ignore 1, arp_announce 2) and the client ec on one segment; replies go straight to the
/// client. 1,000 connections through e1; e1's machine dies; e1 comes back empty and preempts.
fn dr_snippet() -> String {
    let conf = |priority: u8| {
        format!(
            "global_defs {{\n lvs_sync_daemon eth0 VI_DR\n}}\n\
             vrrp_instance VI_DR {{\n interface eth0\n virtual_router_id 61\n priority {priority}\n advert_int 1\n virtual_ipaddress {{\n  192.0.2.10/24\n }}\n}}\n\
             virtual_server 192.0.2.10 80 {{\n protocol TCP\n lb_algo rr\n lb_kind DR\n real_server 192.0.2.11 80 {{\n  weight 1\n }}\n real_server 192.0.2.12 80 {{\n  weight 1\n }}\n}}\n"
        )
    };
    format!(
        r#"cat > $TMPDIR/e1.conf <<'CONF'
{c1}CONF
cat > $TMPDIR/e2.conf <<'CONF'
{c2}CONF
ip -n sw link add dr type bridge
ip -n sw link set dr up
dplug() {{
  ip netns add $1; ip -n $1 link set lo up
  ip link add name eth0 netns $1 type veth peer name $1-0 netns sw
  ip -n sw link set $1-0 master dr
  ip -n sw link set $1-0 up
  ip -n $1 addr add $2 dev eth0
  ip -n $1 link set eth0 up
}}
dplug ec 192.0.2.2/24
dplug e1 192.0.2.3/24
dplug e2 192.0.2.4/24
for i in 1 2; do
  dplug es$i 192.0.2.1$i/24
  ip netns exec es$i sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  ip -n es$i addr add 192.0.2.10/32 dev lo
  ip netns exec es$i python3 $TMPDIR/echo.py es$i &
done
sleep 1
dvip() {{ i=0; while [ $i -lt 200 ]; do ip -n $1 -o addr show dev eth0 | grep -q 192.0.2.10/ && return 0; i=$((i+1)); sleep 0.1; done; return 1; }}
ip netns exec e1 $TANDEM run -f $TMPDIR/e1.conf > "$TANDEM_SNIPPET_OUT/e1.log" 2>&1 &
ip netns exec e2 $TANDEM run -f $TMPDIR/e2.conf > "$TANDEM_SNIPPET_OUT/e2.log" 2>&1 &
pe2=$!
dvip e1
sleep 3
mkdir -p $TMPDIR/dr
ip netns exec ec python3 $TMPDIR/client.py 1000 192.0.2.10 $TMPDIR/dr &
i=0; while [ $i -lt 1200 ] && [ ! -f $TMPDIR/dr/opened ]; do i=$((i+1)); sleep 0.1; done
cp $TMPDIR/dr/opened "$TANDEM_SNIPPET_OUT/opened"
sleep 3
for p in $(ip netns pids e1); do kill -KILL $p; done
ip -n e1 link set eth0 down
dvip e2
round $TMPDIR/dr 1 > "$TANDEM_SNIPPET_OUT/after_failover"
ip netns del e1
sleep 0.2
dplug e1 192.0.2.3/24
ip netns exec e1 $TANDEM run -f $TMPDIR/e1.conf > "$TANDEM_SNIPPET_OUT/e1b.log" 2>&1 &
pe1=$!
sleep 1
dvip e1
sleep 1
round $TMPDIR/dr 2 > "$TANDEM_SNIPPET_OUT/after_return"
touch $TMPDIR/dr/done
kill -TERM $pe1 $pe2; wait $pe1 $pe2
"#,
        c1 = conf(150),
        c2 = conf(100)
    )
}

fn run() -> &'static BatchRun {
    static RUN: OnceLock<BatchRun> = OnceLock::new();
    RUN.get_or_init(|| {
        // Bounds, not expectations: 1,000 connections opened one by one through an emulated
        // NAT took the return snippet from about 150 s to over 240 s on a loaded machine.
        let vm = Vm::builder().timeout(Duration::from_secs(1500)).build().unwrap_or_else(|e| panic!("{e}"));
        let batch = Batch::new()
            .prelude(prelude())
            .setup(PAIR_SETUP)
            .snippet_timeout(Duration::from_secs(480))
            .snippet("roles", roles_snippet())
            .snippet("keepalived", keepalived_snippet())
            .snippet("return", return_snippet())
            .snippet("dr", dr_snippet());
        vm.run_batch(&batch).unwrap_or_else(|e| panic!("{e}"))
    })
}

fn snippet(name: &str) -> &'static SnippetResult {
    let run = run();
    if let Some(setup) = run.setup() {
        assert!(setup.passed(), "the lab set-up failed: {}\n{}", setup.stdout, setup.stderr);
    }
    let s = run.get(name).unwrap();
    let logs = ["d1.log", "d2.log", "d1b.log", "r1.log", "r2.log", "r1b.log", "e1.log", "e2.log", "e1b.log"]
        .map(|l| format!("--- {l}\n{}", s.read_to_string(l).unwrap_or_default()));
    assert!(s.passed(), "{name}: status {:?}\n{}\n{}", s.status, s.stderr, logs.join("\n"));
    s
}

/// `ipvsadm -L --daemon`'s lines, without the trailing spaces.
fn daemons(s: &SnippetResult, file: &str) -> String {
    s.read_to_string(file).unwrap_or_default().lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

#[test]
fn the_sync_daemons_follow_the_vrrp_role_and_stop_with_tandem() {
    let s = snippet("roles");
    let log = |l: &str| s.read_to_string(l).unwrap_or_default();
    let master = "master sync daemon (mcast=eth1, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n";
    let backup = "backup sync daemon (mcast=eth1, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n";
    assert_eq!(daemons(s, "d1.master"), master, "{}", log("d1.log"));
    assert_eq!(daemons(s, "d2.backup"), backup, "{}", log("d2.log"));
    // d1 stopped: it stopped its daemon; d2 took over and switched.
    assert_eq!(daemons(s, "d1.stopped"), "", "{}", log("d1.log"));
    assert_eq!(daemons(s, "d2.master"), master, "{}", log("d2.log"));
    // d1 back and master again; d2 backup again.
    assert_eq!(daemons(s, "d1.back"), master, "{}", log("d1b.log"));
    assert_eq!(daemons(s, "d2.back"), backup, "{}", log("d2.log"));
    // Every switch is logged with its reason.
    let d2 = log("d2.log");
    assert!(d2.contains("IPVS sync daemon started") && d2.contains("reason=tandem started"), "{d2}");
    assert!(d2.contains("reason=VI_PUB is MASTER") && d2.contains("reason=VI_PUB is BACKUP"), "{d2}");
    assert!(log("d1.log").contains("reason=tandem stopping"), "{}", log("d1.log"));
    // The stop is ordered: every instance has released its addresses (the backup told by a
    // priority-0 advert) before the master sync daemon stops and the virtual services go; the
    // other way round, connections reaching the VIP meanwhile were reset (the fault campaign
    // caught it).
    let d1 = log("d1.log");
    let stopped = d1.rfind("to=Stopped").unwrap_or(usize::MAX);
    let sync_stopped = d1.find("reason=tandem stopping").unwrap_or(0);
    let services_removed = d1.find("IPVS services removed at stop").unwrap_or(0);
    assert!(stopped < sync_stopped && stopped < services_removed, "{d1}");
}

/// `tandem drill --back` on the master of a synced pair: it sees the backup (its sync
/// messages), times the takeover, sees the table went with the VIPs, and comes back; the 50
/// connections open through it all still echo afterwards.
#[test]
fn a_drill_sees_the_backup_hands_over_with_the_table_and_comes_back() {
    let s = snippet("roles");
    let text = s.read_to_string("drill.json").unwrap_or_default();
    let err = s.read_to_string("drill.err").unwrap_or_default();
    let d1 = s.read_to_string("d1b.log").unwrap_or_default();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}\n{err}\n{d1}"));
    assert_eq!(r["refused"], serde_json::Value::Null, "{r}\n{d1}");
    assert!(r["knows"].to_string().contains("backup tandem at 10.0.0.3: BACKUP at priority 100"), "{r}");
    assert_eq!(r["new_master"], "198.51.100.4", "{r}");
    let takeover = r["takeover_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(takeover < 2000, "takeover {takeover} ms: {r}");
    let (before, after) = (r["table_before"].as_u64().unwrap_or(0), r["new_master_table"].as_u64().unwrap_or(0));
    assert!(
        before >= 50 && after >= 50,
        "the table went with the VIPs: {before} before, {after} on the new master: {r}"
    );
    assert!(r["back_ms"].as_u64().is_some(), "{r}");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(s.read_to_string("after_drill").unwrap().trim(), "50", "connections lost in the drill\n{r}");
}

#[test]
fn every_connection_survives_the_masters_death() {
    let s = snippet("roles");
    assert_eq!(s.read_to_string("opened").unwrap().trim(), "50", "not every connection opened");
    let conns = s.read_to_string("d2.conns").unwrap_or_default();
    let synced = conns.lines().filter(|l| l.contains("ESTABLISHED")).count();
    assert_eq!(synced, 50, "the backup's table before the failover:\n{conns}");
    assert_eq!(s.read_to_string("answered").unwrap().trim(), "50", "connections lost at failover");
}

/// The hole tandem's resync closes, as keepalived leaves it: every connection survives the
/// failover, none the return of a director that restarted empty.
#[test]
fn keepalived_keeps_the_connections_at_failover_and_loses_them_at_the_return() {
    let s = snippet("keepalived");
    let log = |l: &str| s.read_to_string(l).unwrap_or_default();
    assert_eq!(s.read_to_string("opened").unwrap().trim(), "1000", "{}", log("kd1.log"));
    assert_eq!(s.read_to_string("after_failover").unwrap().trim(), "1000", "{}", log("kd2.log"));
    assert_eq!(s.read_to_string("after_return").unwrap().trim(), "0", "{}\n{}", log("kd1b.log"), log("kd2.log"));
}

/// What keepalived loses, tandem keeps: the director that restarted empty gets the master's
/// table (bulk resync) before it preempts, and every connection survives its return: the 500
/// opened before the failover and the 500 opened while it was away; a client pinned by
/// persistence stays on its real server across both moves.
#[test]
fn every_connection_survives_the_return_of_a_director_that_restarted_empty() {
    let s = snippet("return");
    let log = |l: &str| s.read_to_string(l).unwrap_or_default();
    let n = |f: &str| s.read_to_string(f).unwrap_or_default().trim().to_string();
    assert_eq!(n("opened"), "500", "{}", log("r1.log"));
    assert_eq!(n("after_failover"), "500", "{}", log("r2.log"));
    assert_eq!(n("opened_away"), "500", "{}", log("r2.log"));
    assert_eq!(n("after_return_away"), "500", "opened while d1 was away:\n{}\n{}", log("r1b.log"), log("r2.log"));
    // Three new connections at each stage: without the template, rr would alternate.
    let who: Vec<String> = ["who_before", "who_failover", "who_return"]
        .iter()
        .flat_map(|f| n(f).lines().map(String::from).collect::<Vec<_>>())
        .collect();
    assert_eq!(who.len(), 9, "{who:?}");
    assert!(who[0] == "rs1" || who[0] == "rs2", "{who:?}");
    assert!(who.iter().all(|w| *w == who[0]), "persistence lost: {who:?}\n{}", log("r1b.log"));
    let synced = s.read_to_string("d1.conns").unwrap_or_default();
    assert!(
        synced.lines().filter(|l| l.contains("ESTABLISHED") && l.contains("SYNC")).count() >= 1000,
        "the returning director's table when it took over:\n{synced}\n{}\n{}",
        log("r1b.log"),
        log("r2.log")
    );
    assert_eq!(n("after_return"), "500", "{}\n{}", log("r1b.log"), log("r2.log"));
    assert!(log("r1b.log").contains("resync: caught up with the master's table"), "{}", log("r1b.log"));
    // Warm preemption: held from start, let go once caught up, and only then master.
    let r1b = log("r1b.log");
    let at = |what: &str| r1b.lines().position(|l| l.contains(what));
    let (held, caught_up, master) = (
        at("preemption held until"),
        at("warm preemption: caught up with the master's table"),
        at("from=Backup to=Master"),
    );
    assert!(held.is_some() && held < caught_up && caught_up < master, "{r1b}");
    // The dumps say it too (SIGUSR1, SIGRTMIN+2).
    assert!(r1b.contains("sync: interface eth1, sync id 51, kernel daemons: master; last resync received"), "{r1b}");
    let json = r1b.lines().find_map(|l| l.find("{\"pid\"").map(|at| &l[at..])).expect("no JSON dump");
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let got = &v["sync"]["last_received"];
    assert!(got["records"].as_u64().unwrap() >= 1000, "{json}");
    assert_eq!(got["behind"], 0, "{json}");
    assert_eq!(
        v["sync"]["warm_preemption"],
        format!("let go: caught up with the master's table (table {})", got["table"]),
        "{json}"
    );
    assert!(log("r2.log").contains("resync: table sent"), "{}", log("r2.log"));
    // What tandem heard on the kernel's sync port: the resync's records, at least.
    assert!(v["sync"]["heard"]["records"].as_u64().unwrap() >= 1000, "{json}");
    assert_eq!(v["sync"]["heard"]["dropped"], 0, "{json}");
    // d2, a backup again, knows how far it is behind the master d1: the master's count came
    // (over 1,000 connections), and d2 holds them (it was their master).
    let r2 = log("r2.log");
    let json = r2.lines().find_map(|l| l.find("{\"pid\"").map(|at| &l[at..])).expect("no JSON dump from d2");
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let count = |k: &str| v["sync"][k].as_u64().unwrap_or_else(|| panic!("no {k}:\n{json}"));
    assert!(count("master_table") >= 1000, "{json}");
    assert!(count("resync_records_sent") >= 1000, "{json}");
    let behind = count("behind");
    assert!(behind < 10, "d2 behind by {behind}:\n{json}");
}

/// LVS-DR: the director sees only the client's half of each connection; the connections
/// survive its death and its empty return all the same.
#[test]
fn dr_connections_survive_the_masters_death_and_its_return() {
    let s = snippet("dr");
    let log = |l: &str| s.read_to_string(l).unwrap_or_default();
    let n = |f: &str| s.read_to_string(f).unwrap_or_default().trim().to_string();
    assert_eq!(n("opened"), "1000", "{}", log("e1.log"));
    assert_eq!(n("after_failover"), "1000", "{}", log("e2.log"));
    assert_eq!(n("after_return"), "1000", "{}\n{}", log("e1b.log"), log("e2.log"));
    assert!(log("e1b.log").contains("resync: caught up with the master's table"), "{}", log("e1b.log"));
}
