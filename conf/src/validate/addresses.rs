//! Addresses across blocks: one virtual address held by one instance, a virtual server's
//! address held by some instance.

use super::V;
use crate::model::Config;
use std::collections::HashMap;
use std::net::IpAddr;

pub(super) fn check(v: &mut V, c: &Config) {
    // The same address in two instances: whichever is master last takes it from the other,
    // and a failover of one removes the other's address.
    let mut held: HashMap<IpAddr, (usize, String)> = HashMap::new();
    for (i, inst) in c.vrrp_instances.iter().enumerate() {
        let lists = [
            ("virtual_ipaddress", &inst.virtual_ipaddress),
            ("virtual_ipaddress_excluded", &inst.virtual_ipaddress_excluded),
        ];
        for (list, addrs) in lists {
            for (k, a) in addrs.iter().enumerate() {
                let here = format!("vrrp_instance[{i}].{list}[{k}]");
                match held.get(&a.address) {
                    // (An instance defined twice is said once, by its name.)
                    Some((j, first)) if *j != i && c.vrrp_instances[*j].name != inst.name => {
                        let note =
                            format!("also in vrrp_instance `{}`{}", c.vrrp_instances[*j].name, v.where_is(first));
                        v.error(
                            &here,
                            format!(
                                "{} is a virtual address of two instances, `{}` and `{}`",
                                a.address, c.vrrp_instances[*j].name, inst.name
                            ),
                        )
                        .notes
                        .push(note);
                    }
                    Some(_) => {}
                    None => {
                        held.insert(a.address, (i, here));
                    }
                }
            }
        }
    }
    for (i, vs) in c.virtual_servers.iter().enumerate() {
        let p = format!("virtual_server[{i}]");
        // Where VRRP runs, a service on an address no instance holds answers on every
        // director at once, or on none.
        if !c.vrrp_instances.is_empty() {
            if let Some(ip) = vs.ip {
                if !held.contains_key(&ip) {
                    v.warn(&format!("{p}.ip"), format!("no vrrp_instance holds {ip}, this virtual server's address"))
                        .notes
                        .push("it is served wherever the address is; add it to an instance's virtual_ipaddress to move it with the master".into());
                }
            }
        }
    }
}
