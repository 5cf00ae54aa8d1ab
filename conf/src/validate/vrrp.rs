//! VRRP checks: ranges, duplicate VRIDs, address families, references, combinations.

use super::V;
use crate::model::{AuthType, Config, Family, InitialState, TrackInterface, TrackRef};
use std::collections::HashMap;

pub(super) fn check(v: &mut V, c: &Config) {
    let g = &c.global_defs;
    v.range("global_defs.vrrp_version", "vrrp_version", i64::from(g.vrrp_version), 2, 3);

    for (i, s) in c.vrrp_scripts.iter().enumerate() {
        let p = format!("vrrp_script[{i}]");
        v.range(&format!("{p}.rise"), "rise", i64::from(s.rise), 1, 1_000_000);
        v.range(&format!("{p}.fall"), "fall", i64::from(s.fall), 1, 1_000_000);
        v.range(&format!("{p}.weight"), "weight", i64::from(s.weight), -253, 253);
        if s.script.trim().is_empty() {
            v.error(&format!("{p}.script"), format!("vrrp_script `{}` has an empty script", s.name));
        }
        if s.interval <= 0.0 {
            v.error(&format!("{p}.interval"), "interval must be above 0 seconds");
        }
    }

    let script_names: Vec<&str> = c.vrrp_scripts.iter().map(|s| s.name.as_str()).collect();
    let file_names: Vec<&str> = c.track_files.iter().map(|s| s.name.as_str()).collect();
    let process_names: Vec<&str> = c.vrrp_track_processes.iter().map(|s| s.name.as_str()).collect();
    for (k, t) in c.vrrp_track_processes.iter().enumerate() {
        let p = format!("vrrp_track_process[{k}]");
        if t.process.is_empty() || t.process[0].is_empty() {
            v.error(&p, format!("vrrp_track_process `{}` has no `process`", t.name));
        }
        if t.quorum_max.is_some_and(|m| m != 0 && m < t.quorum) {
            v.error(&format!("{p}.quorum_max"), format!("quorum_max is less than quorum {}", t.quorum));
        }
    }
    let instance_names: Vec<&str> = c.vrrp_instances.iter().map(|s| s.name.as_str()).collect();

    // (interface, VRID, family) -> first instance index.
    let mut vrids: HashMap<(Option<&str>, u8, Family), usize> = HashMap::new();
    for (i, inst) in c.vrrp_instances.iter().enumerate() {
        let p = format!("vrrp_instance[{i}]");
        let name = &inst.name;
        let version = inst.effective_version(g);

        if inst.virtual_router_id == 0 {
            if v.map.exact(&format!("{p}.virtual_router_id")).is_none() {
                v.error(&p, format!("vrrp_instance `{name}` has no virtual_router_id"));
            } else {
                v.range(&format!("{p}.virtual_router_id"), "virtual_router_id", 0, 1, 255);
            }
        }
        v.range(&format!("{p}.priority"), "priority", i64::from(inst.priority), 1, 255);
        if let Some(ver) = inst.version {
            v.range(&format!("{p}.version"), "version", i64::from(ver), 2, 3);
        }
        advert_int(v, &p, inst.advert_int, version);
        if inst.interface.is_none() && g.default_interface.is_none() {
            v.warn(
                &p,
                format!("vrrp_instance `{name}` has no interface; keepalived uses eth0 unless global_defs sets default_interface"),
            );
        }

        // One address family per instance.
        let fam = inst.family();
        for (k, a) in inst.virtual_ipaddress.iter().enumerate() {
            if Family::of(&a.address) != fam {
                v.error(
                    &format!("{p}.virtual_ipaddress[{k}]"),
                    format!(
                        "{} is {} but vrrp_instance `{name}` is {}",
                        a.address,
                        Family::of(&a.address).name(),
                        fam.name()
                    ),
                )
                .notes
                .push(
                    "an instance carries one address family; use virtual_ipaddress_excluded or a second instance"
                        .into(),
                );
            }
        }
        // IPv6 has no broadcast address: a `brd` there is dropped (the kernel would refuse it).
        for (list, addrs) in [
            ("virtual_ipaddress", &inst.virtual_ipaddress),
            ("virtual_ipaddress_excluded", &inst.virtual_ipaddress_excluded),
        ] {
            for (k, a) in addrs.iter().enumerate() {
                if a.address.is_ipv6() && a.brd.is_some() {
                    v.warn(
                        &format!("{p}.{list}[{k}]"),
                        format!("{} is IPv6, which has no broadcast address: `brd` ignored", a.address),
                    );
                }
            }
        }
        if let Some(a) = inst.mcast_dst_ip {
            if !a.is_multicast() {
                v.error(&format!("{p}.mcast_dst_ip"), format!("mcast_dst_ip {a} is not a multicast address"));
            } else if !inst.unicast_peer.is_empty() {
                v.warn(
                    &format!("{p}.mcast_dst_ip"),
                    "mcast_dst_ip has no effect with unicast_peer: adverts go to the peers",
                );
            }
        }
        for (field, addr) in [
            ("unicast_src_ip", inst.unicast_src_ip),
            ("mcast_src_ip", inst.mcast_src_ip),
            ("mcast_dst_ip", inst.mcast_dst_ip),
        ] {
            if let Some(a) = addr {
                if Family::of(&a) != fam {
                    v.error(
                        &format!("{p}.{field}"),
                        format!(
                            "{field} {a} is {} but vrrp_instance `{name}` is {}",
                            Family::of(&a).name(),
                            fam.name()
                        ),
                    );
                }
            }
        }
        vmac(v, c, i, &p);
        let mut peers: HashMap<std::net::IpAddr, usize> = HashMap::new();
        for (k, peer) in inst.unicast_peer.iter().enumerate() {
            let pp = format!("{p}.unicast_peer[{k}]");
            if Family::of(&peer.address) != fam {
                v.error(
                    &pp,
                    format!(
                        "unicast_peer {} is {} but vrrp_instance `{name}` is {}",
                        peer.address,
                        Family::of(&peer.address).name(),
                        fam.name()
                    ),
                );
            }
            if Some(peer.address) == inst.unicast_src_ip {
                v.error(&pp, format!("unicast_peer {} is this instance's own unicast_src_ip", peer.address));
            }
            if peers.insert(peer.address, k).is_some() {
                v.warn(&pp, format!("unicast_peer {} is listed twice", peer.address));
            }
            if let (Some(lo), Some(hi)) = (peer.min_ttl, peer.max_ttl) {
                if lo > hi {
                    v.error(&pp, format!("min_ttl {lo} is above max_ttl {hi}"));
                }
            }
        }

        // Duplicate VRID on one interface and family.
        let key = (inst.interface.as_deref(), inst.virtual_router_id, fam);
        if inst.virtual_router_id != 0 {
            if let Some(&first) = vrids.get(&key) {
                let other = &c.vrrp_instances[first].name;
                let note =
                    format!("`{other}` uses it{}", v.where_is(&format!("vrrp_instance[{first}].virtual_router_id")));
                let on = inst.interface.as_deref().map_or_else(String::new, |i| format!(" on {i}"));
                let d = v.error(
                    &format!("{p}.virtual_router_id"),
                    format!(
                        "virtual_router_id {} is already used{on} for {} by vrrp_instance `{other}`",
                        inst.virtual_router_id,
                        fam.name()
                    ),
                );
                d.label = Some("duplicate VRID".into());
                d.notes.push(note);
            } else {
                vrids.insert(key, i);
            }
        }

        // References.
        for (k, t) in inst.track_script.iter().enumerate() {
            if !script_names.contains(&t.name.as_str()) {
                v.error(&format!("{p}.track_script[{k}]"), format!("track_script `{}` names no vrrp_script", t.name))
                    .label = Some("unknown vrrp_script".into());
            }
        }
        for (k, t) in inst.track_process.iter().enumerate() {
            if !process_names.contains(&t.name.as_str()) {
                v.error(
                    &format!("{p}.track_process[{k}]"),
                    format!("track_process `{}` names no vrrp_track_process", t.name),
                )
                .label = Some("unknown vrrp_track_process".into());
            }
        }
        for (k, t) in inst.track_file.iter().enumerate() {
            if !file_names.contains(&t.name.as_str()) {
                v.error(
                    &format!("{p}.track_file[{k}]"),
                    format!("track_file `{}` names no track_file block", t.name),
                )
                .label = Some("unknown track_file".into());
            }
        }

        // Combinations.
        if inst.nopreempt && inst.state == InitialState::Master {
            v.warn(&format!("{p}.nopreempt"), format!("vrrp_instance `{name}` has nopreempt with state MASTER; nopreempt only works from state BACKUP, and keepalived clears it"))
                .label = Some("nopreempt with state MASTER".into());
        }
        if inst.nopreempt && inst.preempt_delay.is_some() {
            v.warn(&format!("{p}.preempt_delay"), "preempt_delay has no effect with nopreempt");
        }
        if inst.nopreempt && inst.priority == 255 {
            v.warn(&format!("{p}.nopreempt"), "priority 255 (address owner) always preempts; nopreempt is ignored");
        }
        if let Some(d) = inst.preempt_delay {
            if !(0.0..=1000.0).contains(&d) {
                v.error(&format!("{p}.preempt_delay"), format!("preempt_delay {d} is out of range 0-1000"));
            }
        }
        if let Some(auth) = &inst.authentication {
            if version == 3 {
                v.warn(&format!("{p}.authentication"), "VRRPv3 has no authentication (RFC 5798); it is ignored");
            } else if auth.auth_type == AuthType::Ah && fam == Family::Inet6 {
                v.warn(
                    &format!("{p}.authentication.auth_type"),
                    "auth_type AH is IPv4 only (keepalived: \"Cannot use AH authentication with IPv6\"); it is ignored",
                );
            } else if auth.auth_type == AuthType::Ah
                && inst.state == InitialState::Master
                && inst.priority != 255
                && !auth.auth_pass.is_empty()
            {
                // keepalived (vrrp_complete_instance): it must hear the master's AH sequence
                // number before it takes over.
                v.warn(
                    &format!("{p}.state"),
                    format!("vrrp_instance `{name}`: state MASTER is incompatible with auth_type AH (the sequence number must be heard first); it starts as BACKUP, as keepalived does"),
                )
                .label = Some("state MASTER with auth_type AH".into());
            }
            if auth.auth_pass.is_empty() {
                v.error(&format!("{p}.authentication.auth_pass"), "auth_pass is empty");
            }
        }
        strict_resets(v, c, i, &p);
        if (g.vrrp_strict || inst.strict_mode) && !inst.unicast_peer.is_empty() {
            v.error(
                &format!("{p}.unicast_peer"),
                "vrrp_strict does not allow unicast peers (RFC 5798 multicasts adverts)",
            );
        }
        if inst.virtual_ipaddress.is_empty() && inst.virtual_ipaddress_excluded.is_empty() {
            if version == 3 || g.vrrp_strict || inst.strict_mode {
                v.error(
                    &p,
                    format!("vrrp_instance `{name}` has no virtual_ipaddress; VRRPv3 and strict mode need one"),
                );
            } else {
                v.warn(&p, format!("vrrp_instance `{name}` has no virtual_ipaddress"));
            }
        }
        ignored_weights(v, c, i, &p);
    }

    // Sync groups: members exist, belong to one group only.
    let mut member_of: HashMap<&str, usize> = HashMap::new();
    for (i, grp) in c.vrrp_sync_groups.iter().enumerate() {
        let p = format!("vrrp_sync_group[{i}]");
        for (k, m) in grp.group.iter().enumerate() {
            let mp = format!("{p}.group[{k}]");
            if !instance_names.contains(&m.as_str()) {
                v.error(&mp, format!("vrrp_sync_group `{}` names `{m}`, which is no vrrp_instance", grp.name)).label =
                    Some("unknown vrrp_instance".into());
            } else if let Some(&other) = member_of.get(m.as_str()) {
                let note = format!(
                    "also in `{}`{}",
                    c.vrrp_sync_groups[other].name,
                    v.where_is(&format!("vrrp_sync_group[{other}]"))
                );
                v.error(&mp, format!("vrrp_instance `{m}` is in more than one vrrp_sync_group")).notes.push(note);
            } else {
                member_of.insert(m.as_str(), i);
            }
        }
        if !grp.sync_group_tracking_weight {
            let why =
                format!("it is vrrp_sync_group `{}`'s (add sync_group_tracking_weight to keep weights)", grp.name);
            warn_weights(
                v,
                c,
                [&grp.track_script, &grp.track_file, &grp.track_process],
                &grp.track_interface,
                &p,
                &why,
            );
        }
        if grp.group.len() == 1 {
            v.warn(&format!("{p}.group"), format!("vrrp_sync_group `{}` has only one instance", grp.name));
        }
        for (k, t) in grp.track_script.iter().enumerate() {
            if !script_names.contains(&t.name.as_str()) {
                v.error(&format!("{p}.track_script[{k}]"), format!("track_script `{}` names no vrrp_script", t.name));
            }
        }
        for (k, t) in grp.track_process.iter().enumerate() {
            if !process_names.contains(&t.name.as_str()) {
                v.error(
                    &format!("{p}.track_process[{k}]"),
                    format!("track_process `{}` names no vrrp_track_process", t.name),
                )
                .label = Some("unknown vrrp_track_process".into());
            }
        }
        for (k, t) in grp.track_file.iter().enumerate() {
            if !file_names.contains(&t.name.as_str()) {
                v.error(
                    &format!("{p}.track_file[{k}]"),
                    format!("track_file `{}` names no track_file block", t.name),
                )
                .label = Some("unknown track_file".into());
            }
        }
    }

    if g.lvs_sync_warm_preempt.is_some() && g.lvs_sync_daemon.as_ref().is_none_or(|sd| sd.instance.is_none()) {
        v.warn(
            "global_defs.lvs_sync_warm_preempt",
            "lvs_sync_warm_preempt has no effect without an lvs_sync_daemon that follows a vrrp_instance",
        );
    }
    if let Some(instance) = g.lvs_sync_daemon.as_ref().and_then(|sd| sd.instance.as_ref()) {
        if !instance_names.contains(&instance.as_str()) {
            v.error(
                "global_defs.lvs_sync_daemon",
                format!("lvs_sync_daemon follows `{instance}`, which is no vrrp_instance"),
            );
        }
    }
}

/// v2: whole seconds 1-255 (RFC 3768 5.3.7); v3: centiseconds 1-4095 (RFC 5798 5.2.7).
/// `use_vmac [NAME]` and `vmac_xmit_base` (keepalived vrrp_parser.c, vrrp_vmac_handler and
/// vrrp_end_handler; vrrp.c, vrrp_complete_instance): a name the kernel takes, used by one
/// instance only; keepalived ignores what it cannot use, tandem says so as an error.
fn vmac(v: &mut V, c: &Config, i: usize, p: &str) {
    let Some(inst) = c.vrrp_instances.get(i) else { return };
    let name = &inst.name;
    match inst.use_vmac.as_deref() {
        None => {
            if inst.vmac_xmit_base {
                v.warn(&format!("{p}.vmac_xmit_base"), "vmac_xmit_base has no effect without use_vmac");
            }
        }
        Some(vmac) => {
            let path = format!("{p}.use_vmac");
            if !vmac.is_empty() {
                if let Some(why) = vmac_name_problem(vmac) {
                    v.error(&path, format!("use_vmac {vmac}: not an interface name ({why})"));
                }
                let first = c.vrrp_instances.iter().position(|o| o.use_vmac.as_deref() == Some(vmac));
                if let Some(j) = first.filter(|j| *j < i) {
                    let other = &c.vrrp_instances[j].name;
                    v.error(&path, format!("vrrp_instance `{other}` uses the VMAC interface {vmac} already"));
                }
            }
            if !inst.unicast_peer.is_empty() && !inst.vmac_xmit_base {
                v.warn(
                    &path,
                    format!("vrrp_instance `{name}` unicasts: its adverts go from the base interface, as with vmac_xmit_base (keepalived does the same)"),
                );
            }
        }
    }
}

/// Why the kernel would refuse `name` as an interface name (net/core/dev.c, dev_valid_name).
fn vmac_name_problem(name: &str) -> Option<&'static str> {
    if name.len() >= 16 {
        Some("interface names have at most 15 bytes")
    } else if name == "." || name == ".." {
        Some("`.` and `..` are not interface names")
    } else if name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        Some("interface names cannot hold `/`, `:` or spaces")
    } else {
        None
    }
}

fn advert_int(v: &mut V, p: &str, secs: f64, version: u8) {
    let path = format!("{p}.advert_int");
    if version == 3 {
        let cs = secs * 100.0;
        if !(1.0..=4095.0).contains(&cs.round()) || cs.round() < 1.0 {
            v.error(&path, format!("advert_int {secs} is out of range 0.01-40.95 seconds for VRRPv3")).label =
                Some("must be 0.01-40.95".into());
        } else if (cs - cs.round()).abs() > 1e-6 {
            v.warn(
                &path,
                format!("advert_int {secs} is not a whole number of centiseconds; VRRPv3 sends {}", cs.round() / 100.0),
            );
        }
    } else if secs.fract() != 0.0 || !(1.0..=255.0).contains(&secs) {
        v.error(&path, format!("advert_int {secs} is not valid for VRRPv2, which counts whole seconds 1-255"))
            .notes
            .push("use `version 3` for sub-second adverts".into());
    }
}

/// keepalived (vrrp.c, vrrp_complete_instance) drops the weights of tracked scripts and
/// interfaces on members of a sync group without `sync_group_tracking_weight`, and on address
/// owners (priority 255); say so where the weight is written.
fn ignored_weights(v: &mut V, c: &Config, i: usize, p: &str) {
    let inst = &c.vrrp_instances[i];
    let group = c.vrrp_sync_groups.iter().find(|g| g.group.contains(&inst.name));
    let why = match group {
        Some(g) if !g.sync_group_tracking_weight => {
            format!("it is in vrrp_sync_group `{}` (add sync_group_tracking_weight there to keep weights)", g.name)
        }
        _ if inst.priority == 255 => "priority 255 (address owner) never changes".to_string(),
        _ => return,
    };
    warn_weights(v, c, [&inst.track_script, &inst.track_file, &inst.track_process], &inst.track_interface, p, &why);
}

/// Warns at each tracked script, file and interface (of an instance or a sync group, at `p`)
/// whose weight is ignored, saying `why`.
fn warn_weights(
    v: &mut V,
    c: &Config,
    [scripts, files, processes]: [&[TrackRef]; 3],
    interfaces: &[TrackInterface],
    p: &str,
    why: &str,
) {
    for (k, t) in scripts.iter().enumerate() {
        let weight = t.weight.or_else(|| c.vrrp_scripts.iter().find(|s| s.name == t.name).map(|s| s.weight));
        if weight.is_some_and(|w| w != 0) {
            v.warn(
                &format!("{p}.track_script[{k}]"),
                format!("the weight of tracked script `{}` is ignored, as in keepalived: {why}", t.name),
            );
        }
    }
    for (k, t) in files.iter().enumerate() {
        let weight = t.weight.or_else(|| c.track_files.iter().find(|f| f.name == t.name).map(|f| f.weight));
        if weight.is_some_and(|w| w != 0) {
            v.warn(
                &format!("{p}.track_file[{k}]"),
                format!("the weight of tracked file `{}` is ignored, as in keepalived: {why}", t.name),
            );
        }
    }
    for (k, t) in processes.iter().enumerate() {
        let weight = t.weight.or_else(|| c.vrrp_track_processes.iter().find(|p| p.name == t.name).map(|p| p.weight));
        if weight.is_some_and(|w| w != 0) {
            v.warn(
                &format!("{p}.track_process[{k}]"),
                format!("the weight of tracked process `{}` is ignored, as in keepalived: {why}", t.name),
            );
        }
    }
    for (k, t) in interfaces.iter().enumerate() {
        if t.weight.is_some_and(|w| w != 0) {
            v.warn(
                &format!("{p}.track_interface[{k}]"),
                format!("the weight of tracked interface `{}` is ignored, as in keepalived: {why}", t.interface),
            );
        }
    }
}

/// What strict mode resets, warned where the file sets it, as keepalived reports each
/// (vrrp.c, vrrp_complete_instance: `keepalived -t` counts them as errors, and runs with the
/// reset value; so does tandem).
fn strict_resets(v: &mut V, c: &Config, i: usize, p: &str) {
    let (inst, g) = (&c.vrrp_instances[i], &c.global_defs);
    if !inst.is_strict(g) {
        return;
    }
    let owner = inst.priority == 255;
    let name = &inst.name;
    if (inst.state == InitialState::Master) != owner && v.map.lookup(&format!("{p}.state")).is_some() {
        let to = if owner { "MASTER" } else { "BACKUP" };
        v.warn(
            &format!("{p}.state"),
            format!("vrrp_instance `{name}`: in strict mode state MASTER must match being the address owner (priority 255); it starts as {to}"),
        );
    }
    let mut reset = |field: &str, what: &str| {
        v.warn(&format!("{p}.{field}"), format!("vrrp_instance `{name}`: strict mode {what}"));
    };
    if inst.authentication.is_some() {
        reset("authentication", "does not support authentication (RFC 5798 has none); it is ignored");
    }
    if inst.preempt_delay.is_some_and(|d| d > 0.0) {
        reset("preempt_delay", "does not allow preempt_delay; it is reset to 0");
    }
    if inst.garp.lower_prio_repeat.is_some_and(|r| r > 0) {
        reset("garp.lower_prio_repeat", "requires no repeated gratuitous ARPs; garp_lower_prio_repeat is reset to 0");
    }
    if inst.garp.lower_prio_delay.is_some_and(|d| d > 0) {
        reset("garp.lower_prio_delay", "requires no repeated gratuitous ARPs; garp_lower_prio_delay is reset to 0");
    }
    if inst.lower_prio_no_advert == Some(false) {
        reset("lower_prio_no_advert", "requires lower_prio_no_advert; it is set");
    }
    if inst.higher_prio_send_advert == Some(true) {
        reset("higher_prio_send_advert", "requires higher_prio_send_advert to be clear; it is cleared");
    }
    if inst.accept == Some(true) && !inst.accept_mode(g) {
        reset("accept", "turns accept mode off for VRRP version 2 (RFC 3768 has no accept mode)");
    }
}
