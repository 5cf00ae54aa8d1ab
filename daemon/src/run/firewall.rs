//! Accept mode off (RFC 5798 6.1: a master that is not the address owner does not accept
//! packets addressed to the virtual addresses): packets to and from an instance's VIPs are
//! dropped while it is master, as keepalived does with nftables (vrrp_nftables.c,
//! nft_setup_ipv4_vips / nft_setup_ipv6_vips; vrrp_firewall.c, firewall_handle_accept_mode).
//!
//! tandem keeps one nftables table, `inet tandem` (keepalived's is `keepalived`, one per
//! family): sets `vips4` and `vips6`, an input chain dropping `daddr` in them and an output
//! chain dropping `saddr` in them, both at priority -1 (before IPVS and the usual filter
//! chains), with IPv6 neighbour solicitations and advertisements let through so that the
//! VIP's neighbours still resolve it. The table is made when first needed, removed at
//! start (what a killed predecessor left) and at stop. It is driven through `nft -f -`
//! (Debian's `nftables` package).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tracing::{info, warn};

/// The table's name (family `inet`).
pub(crate) const TABLE: &str = "tandem";

/// The nftables table, and which instance has which VIPs in it.
#[derive(Default)]
pub(crate) struct Firewall {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The table exists.
    made: bool,
    /// Addresses dropped, by instance.
    by_instance: BTreeMap<String, BTreeSet<IpAddr>>,
}

impl Firewall {
    /// Removes the table a previous run may have left (its sets would drop traffic to
    /// addresses this run may hold in accept mode).
    pub async fn clear_leftovers(&self) {
        if nft(&format!("delete table inet {TABLE}\n")).await.is_ok() {
            info!(table = TABLE, "removed the nftables table a previous run left");
        }
    }

    /// Makes `addrs` the addresses dropped for `instance` (empty: none), changing only the
    /// difference.
    pub async fn set(&self, instance: &str, addrs: &[IpAddr]) {
        let mut st = self.state.lock().await;
        let want: BTreeSet<IpAddr> = addrs.iter().copied().collect();
        let have = st.by_instance.get(instance).cloned().unwrap_or_default();
        if want == have {
            return;
        }
        let mut script = String::new();
        if !st.made && !want.is_empty() {
            script.push_str(&table_script());
        }
        for a in have.difference(&want) {
            script.push_str(&element("delete", a));
        }
        for a in want.difference(&have) {
            script.push_str(&element("add", a));
        }
        match nft(&script).await {
            Ok(()) => {
                st.made |= !want.is_empty();
                info!(%instance, dropped = ?want, "accept mode off: packets to and from these addresses are dropped while master");
                if want.is_empty() {
                    st.by_instance.remove(instance);
                } else {
                    st.by_instance.insert(instance.to_string(), want);
                }
            }
            Err(e) => {
                warn!(%instance, error = %e, "accept mode off: cannot set the nftables drop rules; packets to the VIPs are accepted")
            }
        }
    }

    /// Removes the table (at stop).
    pub async fn remove(&self) {
        let mut st = self.state.lock().await;
        if st.made {
            if let Err(e) = nft(&format!("delete table inet {TABLE}\n")).await {
                warn!(error = %e, "cannot remove the nftables table");
            }
            st.made = false;
            st.by_instance.clear();
        }
    }
}

/// The table, its sets and chains.
fn table_script() -> String {
    format!(
        "table inet {TABLE} {{\n\
         \tset vips4 {{ type ipv4_addr; }}\n\
         \tset vips6 {{ type ipv6_addr; }}\n\
         \tchain in {{\n\t\ttype filter hook input priority -1; policy accept;\n\
         \t\ticmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n\
         \t\tip daddr @vips4 drop\n\t\tip6 daddr @vips6 drop\n\t}}\n\
         \tchain out {{\n\t\ttype filter hook output priority -1; policy accept;\n\
         \t\ticmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n\
         \t\tip saddr @vips4 drop\n\t\tip6 saddr @vips6 drop\n\t}}\n\
         }}\n"
    )
}

/// `add` / `delete` of one address in its family's set.
fn element(verb: &str, a: &IpAddr) -> String {
    let set = if a.is_ipv4() { "vips4" } else { "vips6" };
    format!("{verb} element inet {TABLE} {set} {{ {a} }}\n")
}

/// Runs `nft -f -` with `script`.
async fn nft(script: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run nft (install Debian's nftables package): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).await.map_err(|e| format!("nft: {e}"))?;
    }
    let out = child.wait_with_output().await.map_err(|e| format!("nft: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(format!("nft: {}", String::from_utf8_lossy(&out.stderr).trim())) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn elements_go_to_their_familys_set() {
        let v4: std::net::IpAddr = [192, 0, 2, 10].into();
        let v6: std::net::IpAddr = "2001:db8::10".parse().unwrap_or(v4);
        assert_eq!(super::element("add", &v4), "add element inet tandem vips4 { 192.0.2.10 }\n");
        assert_eq!(super::element("delete", &v6), "delete element inet tandem vips6 { 2001:db8::10 }\n");
        assert!(super::table_script().contains("ip daddr @vips4 drop"));
    }
}
