//! `tandem-vm`: runs a shell script in the VM rig (Debian's kernel under qemu with real IPVS,
//! the host's root shared read-only) and prints what the script printed. For benchmarks and
//! the lab; tests use the library directly.
//!
//! Usage: `tandem-vm [--timeout SECS] [--memory MB] [--cpus N] [--systemd] SCRIPT`
//! (`--systemd`: systemd as PID 1, the script run by a unit). Exits with the script's status.

use std::process::ExitCode;
use std::time::Duration;
use tandem_tests::vm::{Job, Vm};

const USAGE: &str = "usage: tandem-vm [--timeout SECS] [--memory MB] [--cpus N] [--systemd] SCRIPT";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut builder = Vm::builder().timeout(Duration::from_secs(600));
    let mut script = None;
    while let Some(a) = args.next() {
        let mut number = |what: &str| -> Option<u64> {
            let n = args.next().and_then(|v| v.parse().ok());
            if n.is_none() {
                eprintln!("tandem-vm: {what} needs a number");
            }
            n
        };
        builder = match a.as_str() {
            "--timeout" => match number("--timeout") {
                Some(n) => builder.timeout(Duration::from_secs(n)),
                None => return ExitCode::from(2),
            },
            "--memory" => match number("--memory").and_then(|n| u32::try_from(n).ok()) {
                Some(n) => builder.memory(n),
                None => return ExitCode::from(2),
            },
            "--systemd" => builder.systemd(true),
            "--cpus" => match number("--cpus").and_then(|n| u32::try_from(n).ok()) {
                Some(n) => builder.cpus(n),
                None => return ExitCode::from(2),
            },
            _ if script.is_none() => {
                script = Some(a);
                builder
            }
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        };
    }
    let Some(path) = script else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tandem-vm: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let vm = match builder.build() {
        Ok(vm) => vm,
        Err(e) => {
            eprintln!("tandem-vm: {e}");
            return ExitCode::from(1);
        }
    };
    match vm.run_job(&Job::new(text)) {
        Ok(run) => {
            print!("{}", run.stdout());
            eprint!("{}", run.stderr());
            ExitCode::from(u8::try_from(run.status()).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("tandem-vm: {e}");
            ExitCode::from(1)
        }
    }
}
