//! The lab's scenarios: the set-ups LVS tutorials build by hand with ipvsadm, each run by a
//! tandem pair from one keepalived.conf.
//!
//! The addresses are the tutorials': the client 172.16.0.48, the VIP 172.16.0.8, the DIP
//! 192.168.250.8 (the real servers' gateway in LVS-NAT), the real servers 192.168.250.18 and
//! .28 (172.16.0.18 and .28 in LVS-DR, which has one segment). The directors are .2 and .3
//! on each segment. In `nat-dnat` the client is on the Internet side of a router
//! (203.0.113.1 / 172.16.0.1) that DNATs the public address 203.0.113.8:80 to the VIP; the
//! client, 203.0.113.48, connects to the public address.

use crate::net::{Net, NetError};

/// How the directors forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// LVS-NAT: the real servers on a private segment, their gateway the floating DIP.
    Nat,
    /// LVS-DR: one segment; the real servers hold the VIP on their loopback and answer the
    /// client directly.
    Dr,
}

/// One scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its `--scenario` name.
    pub name: &'static str,
    /// What it shows, in a few words.
    pub title: &'static str,
    /// Forwarding.
    pub kind: Kind,
    /// The scheduler.
    pub scheduler: &'static str,
    /// The real servers' weights.
    pub weights: [u32; 2],
    /// The real servers' port (VIP:80 maps to it).
    pub rs_port: u16,
    /// Persistence timeout, in seconds.
    pub persistence: Option<u32>,
    /// Behind a router that DNATs a public address to the VIP.
    pub router: bool,
}

/// Every scenario, in `all`'s order.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "nat-rr",
        title: "LVS-NAT, round robin",
        kind: Kind::Nat,
        scheduler: "rr",
        weights: [1, 1],
        rs_port: 80,
        persistence: None,
        router: false,
    },
    Scenario {
        name: "nat-wrr",
        title: "LVS-NAT, weighted round robin, weights 1 and 2",
        kind: Kind::Nat,
        scheduler: "wrr",
        weights: [1, 2],
        rs_port: 80,
        persistence: None,
        router: false,
    },
    Scenario {
        name: "nat-persist",
        title: "LVS-NAT, wrr with persistence 30 s, VIP:80 to the real servers' port 8080",
        kind: Kind::Nat,
        scheduler: "wrr",
        weights: [1, 2],
        rs_port: 8080,
        persistence: Some(30),
        router: false,
    },
    Scenario {
        name: "dr",
        title: "LVS-DR, round robin (the VIP on the real servers' loopback)",
        kind: Kind::Dr,
        scheduler: "rr",
        weights: [1, 1],
        rs_port: 80,
        persistence: None,
        router: false,
    },
    Scenario {
        name: "nat-dnat",
        title: "LVS-NAT behind a router that DNATs a public address to the VIP",
        kind: Kind::Nat,
        scheduler: "rr",
        weights: [1, 1],
        rs_port: 80,
        persistence: None,
        router: true,
    },
];

/// The default scenario: NAT with round robin shows every step plainly.
pub const DEFAULT: &str = "nat-rr";

/// The VIP.
pub const VIP: &str = "172.16.0.8";
/// The DIP: the real servers' gateway in LVS-NAT, floating with the VIP.
pub const DIP: &str = "192.168.250.8";
/// The client.
pub const CLIENT: &str = "172.16.0.48";
/// The client in `nat-dnat`, on the router's Internet side.
pub const PUBLIC_CLIENT: &str = "203.0.113.48";
/// The public address the router DNATs to the VIP.
pub const PUBLIC: &str = "203.0.113.8";

/// The router's rules (nftables): the public address's port 80 to the VIP.
const DNAT_RULES: &str = "table ip lab {\n chain prerouting {\n  type nat hook prerouting priority dstnat;\n  ip daddr 203.0.113.8 tcp dport 80 dnat to 172.16.0.8:80\n }\n}\n";

impl Scenario {
    /// The scenario called `name`.
    pub fn named(name: &str) -> Option<&'static Scenario> {
        ALL.iter().find(|s| s.name == name)
    }

    /// The client's address.
    pub fn client(&self) -> &'static str {
        if self.router { PUBLIC_CLIENT } else { CLIENT }
    }

    /// Where the client connects: the VIP, or the router's public address.
    pub fn target(&self) -> &'static str {
        if self.router { PUBLIC } else { VIP }
    }

    /// Real server `i`'s (0 or 1) address.
    pub fn rs_addr(&self, i: usize) -> String {
        let net = match self.kind {
            Kind::Nat => "192.168.250",
            Kind::Dr => "172.16.0",
        };
        format!("{net}.{}", 18 + 10 * i)
    }

    /// The interface the sync daemons use: the private segment in NAT.
    pub fn sync_interface(&self) -> &'static str {
        match self.kind {
            Kind::Nat => "eth1",
            Kind::Dr => "eth0",
        }
    }

    /// The one keepalived.conf both directors run (`--config-id director1` / `director2`).
    pub fn conf(&self) -> String {
        let mut c = format!(
            "! tandem lab, {name}: {title}.\n\
             ! The same file on both directors: the @director1 / @director2 lines differ.\n\
             global_defs {{\n    router_id lab\n    lvs_sync_daemon {sync} VI_VIP id 51\n}}\n\n",
            name = self.name,
            title = self.title,
            sync = self.sync_interface(),
        );
        let instance = |name: &str, ifname: &str, vrid: u8, addr: &str| {
            format!(
                "vrrp_instance {name} {{\n@director1    priority 150\n@director2    priority 100\n    interface {ifname}\n    virtual_router_id {vrid}\n    advert_int 1\n    virtual_ipaddress {{\n        {addr} dev {ifname}\n    }}\n}}\n\n"
            )
        };
        match self.kind {
            Kind::Nat => {
                c.push_str("! The VIP and the DIP (the real servers' gateway) move together.\n");
                c.push_str("vrrp_sync_group LAB {\n    group {\n        VI_VIP\n        VI_DIP\n    }\n}\n\n");
                c.push_str(&instance("VI_VIP", "eth0", 51, &format!("{VIP}/24")));
                c.push_str(&instance("VI_DIP", "eth1", 52, "192.168.250.8/24"));
            }
            Kind::Dr => c.push_str(&instance("VI_VIP", "eth0", 51, &format!("{VIP}/24"))),
        }
        let _ = std::fmt::Write::write_fmt(
            &mut c,
            format_args!(
                "virtual_server {VIP} 80 {{\n    delay_loop 2\n    lb_algo {}\n    lb_kind {}\n    protocol TCP\n",
                self.scheduler,
                match self.kind {
                    Kind::Nat => "NAT",
                    Kind::Dr => "DR",
                }
            ),
        );
        if let Some(p) = self.persistence {
            c.push_str(&format!("    persistence_timeout {p}\n"));
        }
        for i in 0..2 {
            c.push_str(&format!(
                "\n    real_server {} {} {{\n        weight {}\n        HTTP_GET {{\n            url {{\n                path /\n                status_code 200\n            }}\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}\n",
                self.rs_addr(i),
                self.rs_port,
                self.weights[i]
            ));
        }
        c.push_str("}\n");
        c
    }

    /// Builds the segments, the client, the real servers (not their web servers) and director
    /// `d` (1 or 2; [`Scenario::director`] adds one later, as a fresh machine).
    pub fn build(&self, net: &Net) -> Result<(), NetError> {
        net.add("sw")?;
        net.bridge("sw", "pub")?;
        net.add("cl")?;
        if self.router {
            net.bridge("sw", "inet")?;
            net.plug("cl", "eth0", "sw", "inet", &format!("{PUBLIC_CLIENT}/24"))?;
            net.ip_in("cl", &["route", "add", "default", "via", "203.0.113.1"])?;
            net.add("rt")?;
            net.plug("rt", "eth0", "sw", "inet", "203.0.113.1/24")?;
            // The public address is the router's: it answers ARP for it, then DNATs.
            net.ip_in("rt", &["addr", "add", &format!("{PUBLIC}/32"), "dev", "eth0"])?;
            net.plug("rt", "eth1", "sw", "pub", "172.16.0.1/24")?;
            net.sysctl("rt", &["net.ipv4.ip_forward=1"])?;
            let rules = std::env::temp_dir().join(format!("tandem-lab-{}-dnat.nft", std::process::id()));
            std::fs::write(&rules, DNAT_RULES).map_err(|e| NetError(format!("{}: {e}", rules.display())))?;
            let r = crate::net::run(
                "ip",
                &["netns", "exec", &crate::net::ns("rt"), "nft", "-f", &rules.display().to_string()],
            );
            let _ = std::fs::remove_file(&rules);
            r?;
        } else {
            net.plug("cl", "eth0", "sw", "pub", &format!("{CLIENT}/24"))?;
        }
        if self.kind == Kind::Nat {
            net.bridge("sw", "priv")?;
        }
        for i in 0..2 {
            let rs = format!("rs{}", i + 1);
            net.add(&rs)?;
            match self.kind {
                Kind::Nat => {
                    net.plug(&rs, "eth0", "sw", "priv", &format!("{}/24", self.rs_addr(i)))?;
                    net.ip_in(&rs, &["route", "add", "default", "via", "192.168.250.8"])?;
                }
                Kind::Dr => {
                    net.plug(&rs, "eth0", "sw", "pub", &format!("{}/24", self.rs_addr(i)))?;
                    // The VIP on the loopback, never answered for on the wire.
                    net.sysctl(&rs, &["net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"])?;
                    net.ip_in(&rs, &["addr", "add", &format!("{VIP}/32"), "dev", "lo"])?;
                }
            }
        }
        for d in 1..=2 {
            self.director(net, d)?;
        }
        Ok(())
    }

    /// Director `d` (1 or 2) as a machine that has just booted: a new namespace (an empty
    /// connection table), its links, forwarding on.
    pub fn director(&self, net: &Net, d: u8) -> Result<(), NetError> {
        let name = format!("d{d}");
        net.remove(&name);
        net.add(&name)?;
        net.plug(&name, "eth0", "sw", "pub", &format!("172.16.0.{}/24", d + 1))?;
        if self.kind == Kind::Nat {
            net.plug(&name, "eth1", "sw", "priv", &format!("192.168.250.{}/24", d + 1))?;
        }
        if self.router {
            // Replies to the Internet go back through the router (which undoes its DNAT).
            net.ip_in(&name, &["route", "add", "default", "via", "172.16.0.1"])?;
        }
        net.sysctl(&name, &["net.ipv4.ip_forward=1"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_has_a_distinct_name_and_the_default_exists() {
        let mut names: Vec<_> = ALL.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(Scenario::named(DEFAULT).is_some());
        assert!(Scenario::named("all").is_none());
    }

    #[test]
    fn every_scenarios_file_loads_without_a_warning_for_both_directors() {
        for sc in ALL {
            for (id, priority) in [("director1", 150), ("director2", 100)] {
                let options =
                    tandem_conf::Options { config_id: Some(id.to_string()), strict: true, ..Default::default() };
                let r = tandem_conf::load_str(&sc.conf(), format!("{}.conf", sc.name), &options);
                assert!(r.diagnostics.is_empty(), "{} as {id}:\n{}", sc.name, r.render());
                assert!(r.config.vrrp_instances.iter().all(|i| i.priority == priority), "{} as {id}", sc.name);
                assert_eq!(r.config.virtual_servers.len(), 1, "{}", sc.name);
            }
        }
    }

    #[test]
    fn the_conf_names_both_directors_and_the_scenarios_specifics() {
        let Some(s) = Scenario::named("nat-persist") else { panic!("nat-persist") };
        let c = s.conf();
        assert!(c.contains("@director1    priority 150") && c.contains("@director2    priority 100"), "{c}");
        assert!(c.contains("persistence_timeout 30") && c.contains("real_server 192.168.250.28 8080"), "{c}");
        assert!(c.contains("lb_algo wrr") && c.contains("weight 2"), "{c}");
        let Some(dr) = Scenario::named("dr") else { panic!("dr") };
        let c = dr.conf();
        assert!(c.contains("lb_kind DR") && !c.contains("VI_DIP") && c.contains("real_server 172.16.0.18 80"), "{c}");
    }
}
