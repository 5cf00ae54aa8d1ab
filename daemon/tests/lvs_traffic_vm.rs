//! The LVS tutorials' set-ups, run by `tandem run` with real traffic, in the VM.
//!
//! Inside one VM boot, network namespaces give a client, a director and two real servers
//! (busybox httpd, each answering with its own name). LVS-NAT: the client is on the public
//! side, the real servers behind the director, which is their gateway. The client fetches
//! the virtual address with curl and the test counts who answered: rr alternates,
//! wrr 1:2 splits 150 requests 50/100, persistence pins the client, VIP:80 maps to RIP:8080.
//! A reload that changes one real server's weight leaves a long-lived stream through the other
//! flowing, and a file that does not validate changes nothing. LVS-DR: director and real
//! servers share the client's segment, the real servers hold the VIP on their loopback with
//! arp_ignore / arp_announce, and the replies bypass the director.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;
use tandem_tests::vm::{Batch, BatchRun, SnippetResult, Vm};

/// The NAT lab: cl (198.51.100.2) -- dir (198.51.100.1, VIP .10; 10.0.0.1 on br0) -- rs1
/// (10.0.0.11), rs2 (10.0.0.12). Each real server runs httpd on :80 and :8080 and a CGI
/// stream of 40 lines, one every 0.25 s.
const NAT_SETUP: &str = r#"set -e
ip link set lo up
for n in cl dir rs1 rs2; do ip netns add $n; ip -n $n link set lo up; done
ip link add name pub0 netns cl type veth peer name pub1 netns dir
ip -n cl addr add 198.51.100.2/24 dev pub0
ip -n cl link set pub0 up
ip -n cl route add default via 198.51.100.1
ip -n dir addr add 198.51.100.1/24 dev pub1
ip -n dir addr add 198.51.100.10/24 dev pub1
ip -n dir link set pub1 up
ip -n dir link add br0 type bridge
ip -n dir addr add 10.0.0.1/24 dev br0
ip -n dir link set br0 up
ip netns exec dir sysctl -qw net.ipv4.ip_forward=1
for i in 1 2; do
  ip link add name p$i netns dir type veth peer name eth0 netns rs$i
  ip -n dir link set p$i master br0
  ip -n dir link set p$i up
  ip -n rs$i addr add 10.0.0.1$i/24 dev eth0
  ip -n rs$i link set eth0 up
  ip -n rs$i route add default via 10.0.0.1
  mkdir -p $TMPDIR/www$i/cgi-bin $TMPDIR/alt$i
  echo RS$i > $TMPDIR/www$i/index.html
  echo "RS$i on 8080" > $TMPDIR/alt$i/index.html
  printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\ni=0\nwhile [ $i -lt 40 ]; do echo $i; i=$((i+1)); sleep 0.25; done\n' > $TMPDIR/www$i/cgi-bin/stream
  chmod +x $TMPDIR/www$i/cgi-bin/stream
  start_web $i
  ip netns exec rs$i busybox httpd -p 8080 -h $TMPDIR/alt$i
done
ip netns exec cl curl -sS -m 3 http://10.0.0.11/ >/dev/null
"#;

/// Shell functions every snippet uses: start tandem in the director's namespace with a
/// configuration and wait until the table holds `$2`; stop it; fetch N times.
fn prelude() -> String {
    format!(
        r#"TANDEM={tandem}
start_tandem() {{
  ip netns exec dir $TANDEM run -f $1 > "$TANDEM_SNIPPET_OUT/tandem.log" 2>&1 &
  pid=$!
  i=0; while [ $i -lt 100 ]; do ip netns exec dir ipvsadm -Ln | grep -q "$2" && return 0; i=$((i+1)); sleep 0.1; done
  echo "tandem did not program $2" >&2; return 1
}}
stop_tandem() {{ kill -TERM $pid; wait $pid; }}
start_web() {{ ip netns exec rs$1 busybox httpd -f -p 80 -h $TMPDIR/www$1 & echo $! > $TMPDIR/web$1.pid; }}
stop_web() {{ kill $(cat $TMPDIR/web$1.pid); }}
stamp() {{ date +%s%N; }}
wait_for() {{ i=0; while [ $i -lt 200 ]; do ip netns exec dir ipvsadm -Ln > $TMPDIR/now; if eval "$1"; then return 0; fi; i=$((i+1)); sleep 0.05; done; return 1; }}
client_loop() {{
  rm -f $TMPDIR/stop_client
  while [ ! -f $TMPDIR/stop_client ]; do s=$(stamp); a=$(ip netns exec cl curl -sS -m 1 http://198.51.100.10/ 2>/dev/null || echo FAILED); echo "$s $(stamp) $a"; sleep 0.05; done
}}
# fetch N URL: N requests, one curl process (starting one per request took most of a
# snippet's time under emulation); busybox httpd closes each connection, so each request is
# a new connection, scheduled anew. A failed request prints a line with FAILED.
fetch() {{
  n=0; urls=""; while [ $n -lt $1 ]; do urls="$urls $2"; n=$((n+1)); done
  ip netns exec cl curl -sS -m 3 $urls 2>&1 | sed 's/^curl: /FAILED curl: /'
}}
"#,
        tandem = env!("CARGO_BIN_EXE_tandem")
    )
}

fn conf(lines: &str) -> String {
    format!("virtual_server 198.51.100.10 80 {{\n protocol TCP\n lb_kind NAT\n{lines}}}\n")
}

fn nat_snippet(name: &str, conf_text: &str, requests: u32, url: &str) -> String {
    format!(
        "cat > $TMPDIR/{name}.conf <<'CONF'\n{conf_text}CONF\nstart_tandem $TMPDIR/{name}.conf 10.0.0.12\n\
         fetch {requests} {url} > \"$TANDEM_SNIPPET_OUT/answers\"\nstop_tandem\n"
    )
}

/// The reload: a stream through one real server; meanwhile the other's weight changes by
/// SIGHUP; then a file that does not validate; then a hand edit.
fn reload_snippet() -> String {
    let c = conf(" lb_algo wrr\n real_server 10.0.0.11 80 { weight 1 }\n real_server 10.0.0.12 80 { weight 1 }\n");
    format!(
        r#"cat > $TMPDIR/reload.conf <<'CONF'
{c}CONF
cp $TMPDIR/reload.conf $TANDEM_SNIPPET_OUT/before.conf
start_tandem $TMPDIR/reload.conf 10.0.0.12
ip netns exec cl curl -sS -m 20 -o "$TANDEM_SNIPPET_OUT/stream" http://198.51.100.10/cgi-bin/stream &
client=$!
i=0; while [ $i -lt 50 ]; do ip netns exec dir ipvsadm -Lnc | grep -q ESTABLISHED && break; i=$((i+1)); sleep 0.1; done
sleep 1
ip netns exec dir ipvsadm -Lnc > "$TANDEM_SNIPPET_OUT/conns_before"
through=$(awk '/ESTABLISHED/ {{ split($6, a, ":"); print a[1] }}' "$TANDEM_SNIPPET_OUT/conns_before")
if [ "$through" = 10.0.0.11 ]; then other=10.0.0.12; else other=10.0.0.11; fi
echo "$through $other" > "$TANDEM_SNIPPET_OUT/servers"
sed -i "s/real_server $other 80 {{ weight 1 }}/real_server $other 80 {{ weight 4 }}/" $TMPDIR/reload.conf
kill -HUP $pid
i=0; while [ $i -lt 50 ]; do ip netns exec dir ipvsadm -Ln | grep "$other:80" | grep -q " 4 " && break; i=$((i+1)); sleep 0.1; done
ip netns exec dir ipvsadm -Lnc > "$TANDEM_SNIPPET_OUT/conns_after"
ip netns exec dir ipvsadm -Sn > "$TANDEM_SNIPPET_OUT/table_reloaded"
wait $client; echo $? > "$TANDEM_SNIPPET_OUT/stream_status"
printf 'virtual_server 198.51.100.10 80 {{\n lb_algo nosuch\n' > $TMPDIR/reload.conf
kill -HUP $pid
sleep 1
ip netns exec dir ipvsadm -Sn > "$TANDEM_SNIPPET_OUT/table_after_bad"
kill -0 $pid && echo alive > "$TANDEM_SNIPPET_OUT/alive"
stamp > "$TANDEM_SNIPPET_OUT/t_edit"
ip netns exec dir ipvsadm -e -t 198.51.100.10:80 -r $through:80 -m -w 9
end=$(($(date +%s) + 15)); while [ $(date +%s) -lt $end ]; do ip netns exec dir ipvsadm -Sn | cmp -s - "$TANDEM_SNIPPET_OUT/table_reloaded" && break; sleep 0.1; done
ip netns exec dir ipvsadm -Sn > "$TANDEM_SNIPPET_OUT/table_repaired"
stop_tandem
"#
    )
}

/// LVS-DR on one segment: dcl .2, ddir .1 with the VIP .10, drs1 .21 and drs2 .22 with the
/// VIP on lo, arp_ignore=1 and arp_announce=2.
fn dr_snippet() -> String {
    let c = "virtual_server 198.51.100.10 80 {\n protocol TCP\n lb_algo rr\n lb_kind DR\n real_server 198.51.100.21 80 { weight 1 }\n real_server 198.51.100.22 80 { weight 1 }\n}\n";
    format!(
        r#"ip link add brdr type bridge && ip link set brdr up
add() {{ ip netns add $1; ip -n $1 link set lo up; ip link add name v$1 type veth peer name eth0 netns $1; ip link set v$1 master brdr; ip link set v$1 up; ip -n $1 addr add $2/24 dev eth0; ip -n $1 link set eth0 up; }}
add dcl 198.51.100.2; add ddir 198.51.100.1; add drs1 198.51.100.21; add drs2 198.51.100.22
ip -n ddir addr add 198.51.100.10/24 dev eth0
for i in 1 2; do
  ip netns exec drs$i sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
  ip -n drs$i addr add 198.51.100.10/32 dev lo
  mkdir -p $TMPDIR/dr$i; echo DR$i > $TMPDIR/dr$i/index.html
  ip netns exec drs$i busybox httpd -p 80 -h $TMPDIR/dr$i
done
cat > $TMPDIR/dr.conf <<'CONF'
{c}CONF
ip netns exec ddir $TANDEM run -f $TMPDIR/dr.conf > "$TANDEM_SNIPPET_OUT/tandem.log" 2>&1 &
pid=$!
i=0; while [ $i -lt 100 ]; do ip netns exec ddir ipvsadm -Ln | grep -q 198.51.100.22 && break; i=$((i+1)); sleep 0.1; done
n=0; while [ $n -lt 10 ]; do ip netns exec dcl curl -sS -m 3 http://198.51.100.10/ || echo FAILED; n=$((n+1)); done > "$TANDEM_SNIPPET_OUT/answers"
sleep 2.5
ip netns exec ddir ipvsadm -Ln --stats --exact > "$TANDEM_SNIPPET_OUT/stats"
ip -n dcl neigh show 198.51.100.10 > "$TANDEM_SNIPPET_OUT/neighbour"
ip -n ddir link show eth0 > "$TANDEM_SNIPPET_OUT/director_link"
kill -TERM $pid; wait $pid
"#
    )
}

/// A real server checked by HTTP_GET every 2 s (connect_timeout 1, retry 1,
/// delay_before_retry 1: gone within 2 + 1 * 2 + 1 * 1 = 5 s of failing).
fn checked_rs(ip: &str, extra: &str) -> String {
    format!(
        " real_server {ip} 80 {{\n  weight 1\n{extra}  HTTP_GET {{\n   url {{\n    path /\n    status_code 200\n   }}\n   connect_timeout 1\n   retry 1\n   delay_before_retry 1\n  }}\n }}\n"
    )
}

/// Health: the client curls the VIP in a loop; RS1's web server stops, tandem must take
/// `gone` (a test on ipvsadm -Ln's output in $TMPDIR/now) to be true; then it starts again
/// and `back` must become true.
fn health_snippet(name: &str, conf_text: &str, gone: &str, back: &str) -> String {
    format!(
        r##"printf "#!/bin/sh\necho \"\$1\" >> $TMPDIR/{name}.notified\n" > $TMPDIR/notify.sh; chmod +x $TMPDIR/notify.sh
cat > $TMPDIR/{name}.conf <<'CONF'
{conf_text}CONF
start_tandem $TMPDIR/{name}.conf 10.0.0.12
client_loop > "$TANDEM_SNIPPET_OUT/requests" &
loop=$!
sleep 2
stamp > "$TANDEM_SNIPPET_OUT/t_kill"; stop_web 1
wait_for '{gone}' || echo "never gone" >&2
stamp > "$TANDEM_SNIPPET_OUT/t_gone"
sleep 3
ip netns exec dir ipvsadm -Sn > "$TANDEM_SNIPPET_OUT/table_down"
stamp > "$TANDEM_SNIPPET_OUT/t_restart"; start_web 1
wait_for '{back}' || echo "never back" >&2
stamp > "$TANDEM_SNIPPET_OUT/t_back"
sleep 1.5
touch $TMPDIR/stop_client; wait $loop
ip netns exec dir ipvsadm -Sn > "$TANDEM_SNIPPET_OUT/table_up"
stop_tandem
cp $TMPDIR/{name}.notified "$TANDEM_SNIPPET_OUT/notified" 2>/dev/null || true
"##
    )
}

/// The checkers other than HTTP_GET, each a virtual server of its own (port, protocol, the
/// checker block) with real server 10.0.0.11, checked every second without retries (`retry
/// 0` is a checker's keyword: keepalived refuses it in a real_server). Each may take 3 s to
/// answer: with 1 s, a full run saw the SMTP server's first greeting miss it in the emulated
/// guest on a busy host, a spurious down before the test failed anything.
const CHECKERS: &[(&str, u16, &str, &str)] = &[
    ("DNS_CHECK", 53, "UDP", "DNS_CHECK {\n   name example.test\n   type A\n   connect_timeout 3\n   retry 0\n  }"),
    ("SMTP_CHECK", 25, "TCP", "SMTP_CHECK {\n   helo_name probe.tandem.test\n   connect_timeout 3\n   retry 0\n  }"),
    ("UDP_CHECK", 7000, "UDP", "UDP_CHECK {\n   require_reply\n   connect_timeout 3\n   retry 0\n  }"),
    ("PING_CHECK", 1004, "TCP", "PING_CHECK {\n   connect_timeout 3\n   retry 0\n  }"),
    (
        "SSL_GET",
        443,
        "TCP",
        "SSL_GET {\n   url {\n    path /\n    status_code 200\n   }\n   connect_timeout 3\n   retry 0\n  }",
    ),
    (
        "MISC_CHECK",
        1006,
        "TCP",
        "MISC_CHECK {\n   misc_path \"/bin/sh -c 'test ! -e /run/tmp/misc_down'\"\n   misc_timeout 3\n   retry 0\n  }",
    ),
    ("FILE_CHECK", 1007, "TCP", "FILE_CHECK {\n   track_file rs1_switch\n  }"),
];

/// Every checker type through the daemon: on 10.0.0.11 a DNS, an SMTP and a UDP echo server
/// (checker/tests/servers.py), a TLS web server (openssl s_server) and ICMP echo; a MISC_CHECK
/// script's flag file and a FILE_CHECK's tracked file. All are failed at once (servers
/// stopped, echo ignored, flag set, file 1): each real server must leave the kernel's table;
/// all restored: each must come back.
fn checkers_snippet() -> String {
    let servers = concat!(env!("CARGO_MANIFEST_DIR"), "/../checker/tests/servers.py");
    let mut conf = String::from(
        "global_defs {\n script_user root\n}\ntrack_file rs1_switch {\n file /run/tmp/rs1_switch\n weight 0\n}\n",
    );
    for (_, port, protocol, check) in CHECKERS {
        conf.push_str(&format!(
            "virtual_server 198.51.100.10 {port} {{\n protocol {protocol}\n lb_algo rr\n lb_kind NAT\n delay_loop 1\n \
             real_server 10.0.0.11 {port} {{\n  weight 1\n  {check}\n }}\n}}\n"
        ));
    }
    format!(
        r#"echo 0 > $TMPDIR/rs1_switch
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $TMPDIR/rs1.key -out $TMPDIR/rs1.crt -subj /CN=rs1 -days 1 2>/dev/null
up_servers() {{
  ip netns exec rs1 python3 {servers} dns 10.0.0.11 53 & echo $! > $TMPDIR/dns.pid
  ip netns exec rs1 python3 {servers} smtp 10.0.0.11 25 "220 rs1 ESMTP" probe.tandem.test & echo $! > $TMPDIR/smtp.pid
  ip netns exec rs1 python3 {servers} udp-echo 10.0.0.11 7000 & echo $! > $TMPDIR/udp.pid
  ip netns exec rs1 openssl s_server -quiet -www -accept 443 -cert $TMPDIR/rs1.crt -key $TMPDIR/rs1.key > /dev/null 2>&1 & echo $! > $TMPDIR/ssl.pid
}}
# listening: every server of up_servers ready (python and openssl start slowly under emulation).
listening() {{
  u=$(ip netns exec rs1 ss -Hlnu); t=$(ip netns exec rs1 ss -Hlnt)
  echo "$u" | grep -q ':53 ' && echo "$u" | grep -q ':7000 ' && echo "$t" | grep -q ':25 ' && echo "$t" | grep -q ':443 '
}}
up_servers
i=0; until listening || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done
cat > $TMPDIR/checkers.conf <<'CONF'
{conf}CONF
in_table() {{ grep -c "10.0.0.11" $TMPDIR/now; }}
start_tandem $TMPDIR/checkers.conf 10.0.0.11
wait_for '[ "$(in_table)" -eq 7 ]' || echo "not all 7 up at first" >&2
sleep 2
ip netns exec dir ipvsadm -Sn > "$TANDEM_SNIPPET_OUT/table_up_first"
stamp > "$TANDEM_SNIPPET_OUT/t_fail"
for p in dns smtp udp ssl; do kill $(cat $TMPDIR/$p.pid); done
ip netns exec rs1 sysctl -qw net.ipv4.icmp_echo_ignore_all=1
touch $TMPDIR/misc_down
echo 1 > $TMPDIR/rs1_switch
wait_for '[ "$(in_table)" -eq 0 ]' || echo "not all 7 gone" >&2
ip netns exec dir ipvsadm -Sn > "$TANDEM_SNIPPET_OUT/table_down"
stamp > "$TANDEM_SNIPPET_OUT/t_restore"
up_servers
i=0; until listening || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done
ip netns exec rs1 sysctl -qw net.ipv4.icmp_echo_ignore_all=0
rm -f $TMPDIR/misc_down
echo 0 > $TMPDIR/rs1_switch
wait_for '[ "$(in_table)" -eq 7 ]' || echo "not all 7 back" >&2
ip netns exec dir ipvsadm -Sn > "$TANDEM_SNIPPET_OUT/table_up"
stop_tandem
for p in dns smtp udp ssl; do kill $(cat $TMPDIR/$p.pid) 2>/dev/null || true; done
"#
    )
}

fn run() -> &'static BatchRun {
    static RUN: OnceLock<BatchRun> = OnceLock::new();
    RUN.get_or_init(|| {
        // Under emulation a loaded machine once took over 90 s for the wrr snippet (300 curl
        // runs then; 150 now).
        let vm = Vm::builder().timeout(Duration::from_secs(480)).build().unwrap_or_else(|e| panic!("{e}"));
        let batch = Batch::new()
            .prelude(prelude())
            .setup(NAT_SETUP)
            .snippet_timeout(Duration::from_secs(120))
            .snippet(
                "rr",
                nat_snippet(
                    "rr",
                    &conf(" lb_algo rr\n real_server 10.0.0.11 80 { weight 1 }\n real_server 10.0.0.12 80 { weight 1 }\n"),
                    10,
                    "http://198.51.100.10/",
                ),
            )
            .snippet(
                "wrr",
                nat_snippet(
                    "wrr",
                    &conf(" lb_algo wrr\n real_server 10.0.0.11 80 { weight 1 }\n real_server 10.0.0.12 80 { weight 2 }\n"),
                    150,
                    "http://198.51.100.10/",
                ),
            )
            .snippet(
                "persistence",
                nat_snippet(
                    "persistence",
                    &conf(" lb_algo rr\n persistence_timeout 30\n real_server 10.0.0.11 80 { weight 1 }\n real_server 10.0.0.12 80 { weight 1 }\n"),
                    20,
                    "http://198.51.100.10/",
                ),
            )
            .snippet(
                "portmap",
                nat_snippet(
                    "portmap",
                    &conf(" lb_algo rr\n real_server 10.0.0.11 8080 { weight 1 }\n real_server 10.0.0.12 8080 { weight 1 }\n"),
                    4,
                    "http://198.51.100.10/",
                ),
            )
            .snippet("reload", reload_snippet())
            .snippet(
                "health",
                health_snippet(
                    "health",
                    &conf(&format!(
                        " lb_algo rr\n delay_loop 2\n{}{}",
                        checked_rs("10.0.0.11", "  notify_up \"/run/tmp/notify.sh up\"\n  notify_down \"/run/tmp/notify.sh down\"\n"),
                        checked_rs("10.0.0.12", "")
                    )),
                    "! grep -q 10.0.0.11 $TMPDIR/now",
                    "grep -q 10.0.0.11 $TMPDIR/now",
                ),
            )
            .snippet(
                "inhibit",
                health_snippet(
                    "inhibit",
                    &conf(&format!(
                        " lb_algo rr\n delay_loop 2\n{}{}",
                        checked_rs("10.0.0.11", "  inhibit_on_failure\n"),
                        checked_rs("10.0.0.12", "")
                    )),
                    "grep 10.0.0.11 $TMPDIR/now | grep -Eq \"Masq +0 \"",
                    "grep 10.0.0.11 $TMPDIR/now | grep -Eq \"Masq +1 \"",
                ),
            )
            .snippet(
                "quorum",
                health_snippet(
                    "quorum",
                    &conf(&format!(
                        " lb_algo rr\n delay_loop 2\n quorum 2\n sorry_server 10.0.0.12 8080\n{}{}",
                        checked_rs("10.0.0.11", ""),
                        checked_rs("10.0.0.12", "")
                    )),
                    "grep -q 10.0.0.12:8080 $TMPDIR/now && ! grep -Eq \"10.0.0.1[12]:80 \" $TMPDIR/now",
                    "grep -q \"10.0.0.11:80 \" $TMPDIR/now && ! grep -q 8080 $TMPDIR/now",
                ),
            )
            .snippet("dr", dr_snippet())
            .snippet("checkers", checkers_snippet());
        vm.run_batch(&batch).unwrap_or_else(|e| panic!("{e}"))
    })
}

fn snippet(name: &str) -> &'static SnippetResult {
    let run = run();
    if let Some(setup) = run.setup() {
        assert!(setup.passed(), "the lab set-up failed: {}\n{}", setup.stdout, setup.stderr);
    }
    let s = run.get(name).unwrap();
    assert!(
        s.passed(),
        "{name}: status {:?}\n{}\n{}",
        s.status,
        s.stderr,
        s.read_to_string("tandem.log").unwrap_or_default()
    );
    s
}

/// The answers a snippet's client got, in order.
fn answers(s: &SnippetResult) -> Vec<String> {
    s.read_to_string("answers").unwrap().lines().map(str::to_string).collect()
}

fn counts(answers: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for a in answers {
        *m.entry(a.as_str()).or_default() += 1;
    }
    m
}

#[test]
fn nat_rr_alternates_between_the_real_servers() {
    let a = answers(snippet("rr"));
    assert_eq!(a.len(), 10, "{a:?}");
    assert!(a.iter().all(|x| x == "RS1" || x == "RS2"), "{a:?}");
    assert!(a.windows(2).all(|w| w[0] != w[1]), "rr does not alternate: {a:?}");
}

#[test]
fn nat_wrr_with_weights_1_and_2_splits_a_third_and_two_thirds() {
    let a = answers(snippet("wrr"));
    let c = counts(&a);
    assert_eq!(a.len(), 150);
    let (rs1, rs2) = (c.get("RS1").copied().unwrap_or(0), c.get("RS2").copied().unwrap_or(0));
    assert_eq!(rs1 + rs2, 150, "{c:?}");
    assert!((45..=55).contains(&rs1) && (95..=105).contains(&rs2), "{c:?}");
}

#[test]
fn persistence_pins_the_client_to_one_real_server() {
    let a = answers(snippet("persistence"));
    assert_eq!(a.len(), 20);
    assert!(a[0] == "RS1" || a[0] == "RS2", "{a:?}");
    assert!(a.iter().all(|x| *x == a[0]), "not pinned: {a:?}");
}

#[test]
fn vip_port_80_maps_to_the_real_servers_port_8080() {
    let a = answers(snippet("portmap"));
    let c = counts(&a);
    assert_eq!(c.get("RS1 on 8080"), Some(&2), "{a:?}");
    assert_eq!(c.get("RS2 on 8080"), Some(&2), "{a:?}");
}

#[test]
fn a_weight_change_reload_leaves_a_stream_through_the_other_server_flowing() {
    let s = snippet("reload");
    let log = s.read_to_string("tandem.log").unwrap();
    let servers = s.read_to_string("servers").unwrap();
    let (through, other) = servers.trim().split_once(' ').unwrap();
    assert!(through.starts_with("10.0.0.1"), "no stream connection seen: {servers}");
    // The stream ran to its end: 40 lines, none lost, and curl exited 0.
    let stream = s.read_to_string("stream").unwrap();
    let want: String = (0..40).map(|i| format!("{i}\n")).collect();
    assert_eq!(stream, want, "the stream was cut");
    assert_eq!(s.read_to_string("stream_status").unwrap().trim(), "0");
    // Its connection entry is the same before and after the reload.
    let conn = |f: &str| {
        s.read_to_string(f)
            .unwrap()
            .lines()
            .find(|l| l.contains("ESTABLISHED"))
            .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
    };
    assert_eq!(conn("conns_before"), conn("conns_after"));
    // The reload was one change: the other server's weight.
    let table = s.read_to_string("table_reloaded").unwrap();
    assert!(table.contains(&format!("-r {other}:80 -m -w 4")), "{table}");
    assert!(table.contains(&format!("-r {through}:80 -m -w 1")), "{table}");
    let reloaded = log.lines().find(|l| l.contains("IPVS updated")).unwrap_or_else(|| panic!("{log}"));
    assert!(reloaded.contains("applied=1 ") && reloaded.contains("refused=0"), "{reloaded}");
    assert!(log.contains(&format!("edit {other}:80 of TCP 198.51.100.10:80 (weight 4)")), "{log}");
    // A file that does not validate: named with its position, nothing changed, still running.
    assert!(log.contains("does not validate"), "{log}");
    assert!(log.contains("reload.conf:2:"), "{log}");
    assert_eq!(s.read_to_string("table_after_bad").unwrap(), table);
    assert_eq!(s.read_to_string("alive").unwrap().trim(), "alive");
    // A hand edit after the reload is repaired to the reloaded table, within one reconcile
    // period (5 s) and a moment, as tandem's log times the repair.
    assert_eq!(s.read_to_string("table_repaired").unwrap(), table, "{log}");
    let edit = s.read_to_string("t_edit").unwrap().trim().parse::<u128>().unwrap();
    let took = logged_after(&log, "drifted", edit).unwrap_or_else(|| panic!("no repair logged:\n{log}"));
    assert!(took < 6.5, "repaired {took:.2} s after the hand edit:\n{log}");
}

#[test]
fn dr_real_servers_answer_the_client_directly() {
    let s = snippet("dr");
    let a = answers(s);
    assert_eq!(a.len(), 10);
    assert!(a.windows(2).all(|w| w[0] != w[1]) && a.iter().all(|x| x == "DR1" || x == "DR2"), "{a:?}");
    // The director saw the requests but none of the replies.
    let stats = s.read_to_string("stats").unwrap();
    let line = stats.lines().find(|l| l.starts_with("TCP")).unwrap_or_else(|| panic!("{stats}"));
    let f: Vec<u64> = line.split_whitespace().skip(2).map(|x| x.parse().unwrap()).collect();
    assert!(f[0] == 10 && f[1] > 10, "connections and packets in: {stats}");
    assert_eq!((f[2], f[4]), (0, 0), "replies went through the director: {stats}");
    // The client resolved the VIP to the director (arp_ignore kept the real servers quiet).
    let link = s.read_to_string("director_link").unwrap();
    let mac = link.split("link/ether ").nth(1).and_then(|x| x.split_whitespace().next()).unwrap();
    let neighbour = s.read_to_string("neighbour").unwrap();
    assert!(neighbour.contains(mac), "VIP resolved to {neighbour}, director is {mac}");
}

/// A health snippet's requests as (started ns, ended ns, answer), and its instants.
struct Timeline {
    requests: Vec<(u128, u128, String)>,
    kill: u128,
    gone: u128,
    restart: u128,
    back: u128,
}

fn timeline(s: &SnippetResult) -> Timeline {
    let t = |f: &str| s.read_to_string(f).unwrap().trim().parse::<u128>().unwrap();
    let requests = s
        .read_to_string("requests")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (start, rest) = l.split_once(' ')?;
            let (end, answer) = rest.split_once(' ')?;
            Some((start.parse().unwrap(), end.parse().unwrap(), answer.to_string()))
        })
        .collect();
    Timeline { requests, kill: t("t_kill"), gone: t("t_gone"), restart: t("t_restart"), back: t("t_back") }
}

impl Timeline {
    /// Answers to requests that started at `from` (ns) or later and ended before `to`: a
    /// request stamped before an instant may reach the director well after it (`ip netns
    /// exec` and curl start slowly under emulation), so only whole requests count.
    fn between(&self, from: u128, to: u128) -> Vec<&str> {
        self.requests.iter().filter(|(s, e, _)| *s >= from && *e < to).map(|(_, _, a)| a.as_str()).collect()
    }
}

const MS: u128 = 1_000_000;

/// Seconds from `since_ns` (the guest's clock, ns since the epoch) to the first line of
/// tandem's log containing `needle` logged at or after it (the log's RFC 3339 UTC time).
fn logged_after(log: &str, needle: &str, since_ns: u128) -> Option<f64> {
    let since = (since_ns as f64 / 1e9).rem_euclid(86_400.0);
    log.lines().filter(|l| l.contains(needle)).find_map(|l| {
        let time = l.split_whitespace().next()?.split('T').nth(1)?.trim_end_matches('Z');
        let mut p = time.split(':');
        let (h, m, sec): (f64, f64, f64) = (p.next()?.parse().ok()?, p.next()?.parse().ok()?, p.next()?.parse().ok()?);
        let took = (h * 3600.0 + m * 60.0 + sec - since).rem_euclid(86_400.0);
        // A line from before `since` wraps to nearly a day.
        (took < 3_600.0).then_some(took)
    })
}

#[test]
fn a_failing_real_server_leaves_within_the_check_bound_and_comes_back() {
    let s = snippet("health");
    let log = s.read_to_string("tandem.log").unwrap();
    let t = timeline(s);
    // delay_loop + connect_timeout * (retry + 1) + delay_before_retry * retry = 2 + 2 + 1 s
    // from the kill at most, timed by tandem's log (the side that decides), with 1 s of
    // margin for the emulated guest.
    let took = logged_after(&log, "real server down", t.kill).unwrap_or_else(|| panic!("not logged down:\n{log}"));
    assert!(took <= 6.0, "down {took:.2} s after the kill:\n{log}");
    assert!(s.stderr.is_empty(), "{}", s.stderr);
    let table = s.read_to_string("table_down").unwrap();
    assert!(!table.contains("10.0.0.11") && table.contains("-r 10.0.0.12:80"), "{table}");
    // After the removal no request fails: all go to RS2. How many fit in the 3 s depends on
    // how fast the emulated guest starts curl (3 in a loaded run): two show traffic flowed.
    let after = t.between(t.gone + 300 * MS, t.restart);
    assert!(after.len() >= 2, "{after:?}");
    assert!(after.iter().all(|a| *a == "RS2"), "{after:?}");
    // Back: RS1 answers again.
    assert!(t.between(t.back + 300 * MS, u128::MAX).contains(&"RS1"), "{:?}", t.between(t.back, u128::MAX));
    assert!(log.contains("real server down") && log.contains("connection refused"), "{log}");
    assert!(log.contains("real server up"), "{log}");
    // notify_down, then notify_up, ran.
    assert_eq!(s.read_to_string("notified").unwrap_or_default(), "down\nup\n", "{log}");
}

#[test]
fn with_inhibit_on_failure_a_failing_real_server_stays_at_weight_0() {
    let s = snippet("inhibit");
    let t = timeline(s);
    assert!(s.stderr.is_empty(), "{}", s.stderr);
    let log = s.read_to_string("tandem.log").unwrap();
    let took = logged_after(&log, "real server down", t.kill).unwrap_or_else(|| panic!("not logged down:\n{log}"));
    assert!(took <= 6.0, "weight 0 {took:.2} s after the kill (bound 5 s):\n{log}");
    let down = s.read_to_string("table_down").unwrap();
    assert!(down.contains("-a -t 198.51.100.10:80 -r 10.0.0.11:80 -m -w 0"), "{down}");
    let after = t.between(t.gone + 300 * MS, t.restart);
    assert!(!after.is_empty() && after.iter().all(|a| *a == "RS2"), "{after:?}");
    let up = s.read_to_string("table_up").unwrap();
    assert!(up.contains("-a -t 198.51.100.10:80 -r 10.0.0.11:80 -m -w 1"), "{up}");
}

#[test]
fn losing_quorum_installs_the_sorry_server_and_regaining_it_removes_it() {
    let s = snippet("quorum");
    let log = s.read_to_string("tandem.log").unwrap();
    let t = timeline(s);
    assert!(s.stderr.is_empty(), "{}\n{log}", s.stderr);
    let down = s.read_to_string("table_down").unwrap();
    assert!(
        down.contains("-r 10.0.0.12:8080") && !down.contains("10.0.0.11") && !down.contains("10.0.0.12:80 "),
        "{down}"
    );
    let after = t.between(t.gone + 300 * MS, t.restart);
    assert!(!after.is_empty() && after.iter().all(|a| *a == "RS2 on 8080"), "{after:?}");
    let up = s.read_to_string("table_up").unwrap();
    assert!(up.contains("-r 10.0.0.11:80") && up.contains("-r 10.0.0.12:80") && !up.contains("8080"), "{up}");
    assert!(log.contains("quorum lost") && log.contains("quorum gained"), "{log}");
}

#[test]
fn every_checker_type_takes_its_real_server_out_of_the_table_and_back() {
    let s = snippet("checkers");
    let log = s.read_to_string("tandem.log").unwrap();
    assert!(s.stderr.is_empty(), "{}\n{log}", s.stderr);
    let (t_fail, t_restore) = (
        s.read_to_string("t_fail").unwrap().trim().parse::<u128>().unwrap(),
        s.read_to_string("t_restore").unwrap().trim().parse::<u128>().unwrap(),
    );
    let (first, down, up) = (
        s.read_to_string("table_up_first").unwrap(),
        s.read_to_string("table_down").unwrap(),
        s.read_to_string("table_up").unwrap(),
    );
    for (name, port, protocol, _) in CHECKERS {
        let flag = if *protocol == "UDP" { "-u" } else { "-t" };
        let entry = format!("-a {flag} 198.51.100.10:{port} -r 10.0.0.11:{port} -m -w 1");
        assert!(first.contains(&entry), "{name}: not in at first:\n{first}\n{log}");
        assert!(!down.contains(&entry), "{name}: still in after its failure:\n{down}\n{log}");
        assert!(up.contains(&entry), "{name}: not back:\n{up}\n{log}");
        // Each went down for its own check's reason, within delay_loop 1 + connect_timeout 3
        // (MISC: misc_timeout 3) of the failure, with margin for the emulated guest, and came
        // back after the restore.
        let who = format!("10.0.0.11 {port} of virtual_server 198.51.100.10 {port}");
        // Once, at the failure: not at the start (its server was checked up first).
        let downs: Vec<&str> = log.lines().filter(|l| l.contains("real server down") && l.contains(&who)).collect();
        assert_eq!(downs.len(), 1, "{name}: down {} times:\n{log}", downs.len());
        assert!(downs[0].contains("reason="), "{name}: {}", downs[0]);
        let took = logged_after(&log, &format!("{who} reason="), t_fail)
            .unwrap_or_else(|| panic!("{name}: down not logged after the failure:\n{log}"));
        assert!(took <= 8.0, "{name}: down {took:.2} s after the failure:\n{log}");
        assert!(
            logged_after(&log, &format!("real server up real_server={who}"), t_restore).is_some(),
            "{name}: not logged up after the restore:\n{log}"
        );
    }
}
