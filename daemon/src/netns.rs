//! `net_namespace NAME`: tandem moves into the network namespace `ip netns add NAME` made
//! before it opens any socket, as keepalived does (core/namespaces.c, set_namespaces); every
//! VRRP socket, address, route, IPVS table and probe is then that namespace's.

use nix::sched::{CloneFlags, setns};

/// Where `ip netns` keeps named namespaces (/var/run is a link to /run on current systems).
const DIRS: [&str; 2] = ["/run/netns", "/var/run/netns"];

/// Moves the calling thread (which must be the only one: threads made later inherit its
/// namespace) into namespace `name`.
pub fn enter(name: &str) -> Result<(), String> {
    let mut last = String::new();
    for dir in DIRS {
        let path = std::path::Path::new(dir).join(name);
        match std::fs::File::open(&path) {
            Ok(f) => {
                return setns(&f, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("net_namespace {name}: cannot enter {}: {e}", path.display()));
            }
            Err(e) => last = format!("{}: {e}", path.display()),
        }
    }
    Err(format!("net_namespace {name}: no such network namespace ({last}); `ip netns add {name}` makes it"))
}
