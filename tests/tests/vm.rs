//! The VM rig itself: IPVS works inside (every scheduler), network namespaces work inside,
//! named snippets in one boot keep their own results, and a hung script times out with QEMU
//! killed. Needs qemu-system-x86_64, a Debian kernel in /boot and busybox-static. Three
//! boots in all (about 7-15 s each under TCG).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::sync::OnceLock;
use std::time::Duration;
use tandem_tests::vm::{Batch, BatchRun, DEFAULT_MODULES, Vm, VmError};

fn vm() -> &'static Vm {
    static VM: OnceLock<Vm> = OnceLock::new();
    VM.get_or_init(|| match Vm::builder().timeout(Duration::from_secs(180)).build() {
        Ok(vm) => vm,
        Err(e) => panic!("cannot set up the VM: {e}"),
    })
}

/// The schedulers this kernel has (every `ip_vs_*` of the defaults but the SIP engine).
fn schedulers(vm: &Vm) -> Vec<&'static str> {
    DEFAULT_MODULES
        .iter()
        .filter_map(|m| m.strip_prefix("ip_vs_"))
        .filter(|s| *s != "pe_sip")
        .filter(|s| !vm.missing_modules().iter().any(|m| m == &format!("ip_vs_{s}")))
        .collect()
}

#[test]
fn ipvs_works_in_the_vm_with_every_scheduler() {
    let vm = vm();
    let scheds = schedulers(vm);
    assert!(scheds.len() >= 13, "schedulers: {scheds:?}");
    let script = format!(
        r#"set -e
echo hello from the vm
echo a warning >&2
echo "$TANDEM_VM_KERNEL" > "$TANDEM_VM_OUT/kernel"
ipvsadm -A -t 10.0.0.1:80 -s wrr
ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 2
ipvsadm -Sn > "$TANDEM_VM_OUT/rules"
ipvsadm -C
mkdir "$TANDEM_VM_OUT/sched"
for s in {scheds}; do
    if ipvsadm -A -t 10.0.1.1:80 -s "$s" 2> "$TMPDIR/err"; then
        ipvsadm -Sn > "$TANDEM_VM_OUT/sched/$s"
    else
        cp "$TMPDIR/err" "$TANDEM_VM_OUT/sched/$s.err"
    fi
    ipvsadm -C
done
ipvsadm -A -u 10.0.2.1:5060 -s rr -p 60 --pe sip
ipvsadm -Sn > "$TANDEM_VM_OUT/sip"
"#,
        scheds = scheds.join(" ")
    );
    let run = vm.run(&script).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("boot to poweroff: {:?}", run.elapsed());
    assert_eq!(run.status(), 0);
    assert_eq!(run.stdout(), "hello from the vm\n");
    assert_eq!(run.stderr(), "a warning\n");
    assert_eq!(run.read_to_string("kernel").unwrap().trim(), vm.kernel().version);
    assert_eq!(
        run.read_to_string("rules").unwrap(),
        "-A -t 10.0.0.1:80 -s wrr\n-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 2\n"
    );
    for s in &scheds {
        let rules = run.read_to_string(format!("sched/{s}")).unwrap_or_else(|_| {
            panic!("scheduler {s} failed: {}", run.read_to_string(format!("sched/{s}.err")).unwrap_or_default())
        });
        assert_eq!(rules, format!("-A -t 10.0.1.1:80 -s {s}\n"), "scheduler {s}");
    }
    let sip = run.read_to_string("sip").unwrap();
    assert!(sip.contains("-A -u 10.0.2.1:5060 -s rr -p 60 --pe sip"), "{sip}");
    let files = run.files();
    assert!(files.iter().any(|f| f.to_str() == Some("rules")), "{files:?}");
    assert!(run.console().contains("tandem-vm: script exited with status 0"), "{}", run.console());
}

/// One boot shared by the namespace and snippet tests.
fn batch() -> &'static BatchRun {
    static RUN: OnceLock<BatchRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let batch = Batch::new()
            .snippet_timeout(Duration::from_secs(3))
            .prelude("nsx() { ns=$1; shift; ip netns exec \"$ns\" \"$@\"; }")
            .setup(
                r#"set -e
ip netns add a
ip netns add b
ip link add va netns a type veth peer name vb netns b
ip -n a addr add 192.0.2.1/24 dev va
ip -n b addr add 192.0.2.2/24 dev vb
for n in a b; do ip -n $n link set lo up; done
ip -n a link set va up
ip -n b link set vb up
"#,
            )
            .snippet(
                "ping",
                "set -e\nnsx a ping -c1 -W3 192.0.2.2\nnsx b ping -c1 -W3 192.0.2.1\nip -n a -o addr show va",
            )
            .snippet("pass", "echo to stdout\necho to stderr >&2\necho data > \"$TANDEM_SNIPPET_OUT/file\"")
            .snippet("fail", "echo partial output\necho went wrong >&2\nexit 3")
            .snippet("hang", "echo sleeping\nsleep 30")
            .snippet("after", "echo still ran");
        vm().run_batch(&batch).unwrap_or_else(|e| panic!("{e}"))
    })
}

#[test]
fn network_namespaces_in_the_vm_reach_each_other() {
    let run = batch();
    let setup = run.setup().unwrap();
    assert!(setup.passed(), "setup: {setup:?}");
    let ping = run.get("ping").unwrap();
    assert!(ping.passed(), "ping: {ping:?}\n{}", run.vm_run().console());
    assert!(ping.stdout.contains("1 packets transmitted, 1 received"), "{}", ping.stdout);
    assert!(ping.stdout.contains("192.0.2.1/24"), "{}", ping.stdout);
}

#[test]
fn snippets_in_one_boot_keep_their_own_results() {
    let run = batch();
    let names: Vec<&str> = run.results().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["ping", "pass", "fail", "hang", "after"]);

    let pass = run.get("pass").unwrap();
    assert_eq!(pass.status, Some(0));
    assert_eq!(pass.stdout, "to stdout\n");
    assert_eq!(pass.stderr, "to stderr\n");
    assert_eq!(pass.read_to_string("file").unwrap(), "data\n");

    let fail = run.get("fail").unwrap();
    assert_eq!(fail.status, Some(3));
    assert!(!fail.passed());
    assert_eq!(fail.stdout, "partial output\n");
    assert_eq!(fail.stderr, "went wrong\n");

    let hang = run.get("hang").unwrap();
    assert!(hang.timed_out(), "{hang:?}");
    assert_eq!(hang.stdout, "sleeping\n");
    // Before the kill, the rig read where the snippet's processes waited: its shell and its
    // sleep, each with its state.
    assert!(hang.stderr.contains("where its processes waited"), "{}", hang.stderr);
    assert!(hang.stderr.lines().any(|l| l.contains(" sleep S ")), "{}", hang.stderr);

    let after = run.get("after").unwrap();
    assert!(after.passed() && after.stdout == "still ran\n", "{after:?}");

    let failed: Vec<&str> = run.failures().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(failed, ["fail", "hang"]);
    match run.check() {
        Err(VmError::SnippetsFailed { failures, .. }) => {
            assert_eq!(failures.len(), 2, "{failures:?}");
            assert!(failures[0].contains("snippet fail exited with status 3"), "{}", failures[0]);
            assert!(failures[0].contains("went wrong"), "{}", failures[0]);
            assert!(failures[1].contains("snippet hang timed out"), "{}", failures[1]);
        }
        other => panic!("expected SnippetsFailed, got {other:?}"),
    }
}

#[test]
fn a_hung_script_times_out_and_qemu_is_killed() {
    let vm = Vm::builder().timeout(Duration::from_secs(18)).build().unwrap();
    let started = std::time::Instant::now();
    let result = vm.run("echo started\nsleep 600\necho never");
    let took = started.elapsed();
    let Err(VmError::Timeout { qemu_pid, run_dir, stdout_tail, console_tail, .. }) = result else {
        panic!("expected a timeout, got {result:?}");
    };
    // The script did start: the hang was in it, not in the boot.
    assert_eq!(stdout_tail.trim(), "started", "console:\n{console_tail}");
    assert!(took >= Duration::from_secs(18) && took < Duration::from_secs(18 + 60), "took {took:?}"); // a slot wait included
    // QEMU is gone: its pid is not a live QEMU, and no process mentions the run's directory.
    let comm = std::fs::read_to_string(format!("/proc/{qemu_pid}/comm")).unwrap_or_default();
    assert!(!comm.contains("qemu"), "QEMU {qemu_pid} still alive");
    let needle = run_dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline);
            assert!(!cmdline.contains(&needle), "process {:?} survived: {cmdline}", entry.file_name());
        }
    }
    let message = VmError::Timeout {
        timeout: Duration::from_secs(18),
        qemu_pid,
        run_dir,
        stdout_tail,
        stderr_tail: String::new(),
        console_tail: String::new(),
    }
    .to_string();
    assert!(message.contains("timeout") && message.contains("killed"), "{message}");
}

#[test]
fn missing_qemu_or_kernel_is_a_clear_error() {
    let e = Vm::builder().qemu("/nonexistent/qemu-system-x86_64").build().unwrap_err();
    assert!(matches!(e, VmError::QemuMissing { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/qemu-system-x86_64"), "{e}");
    let e = Vm::builder().kernel("/nonexistent/vmlinuz-1.2.3").build().unwrap_err();
    assert!(matches!(e, VmError::KernelMissing { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/vmlinuz-1.2.3"), "{e}");
    let e = Vm::builder().busybox("/nonexistent/busybox").build().unwrap_err();
    assert!(matches!(e, VmError::BusyboxMissing { .. }), "{e:?}");
    let e = vm().run_batch(&Batch::new().snippet("a b", "true")).unwrap_err();
    assert!(matches!(e, VmError::Invalid(_)), "{e:?}");
}
