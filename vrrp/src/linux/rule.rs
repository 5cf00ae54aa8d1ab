//! Policy-routing rules added and removed over rtnetlink (RTM_NEWRULE / RTM_DELRULE), as
//! `ip rule add ...` and `ip rule del ...` do.
//!
//! The message follows keepalived's (keepalived/vrrp/vrrp_iprule.c, netlink_rule): added with
//! NLM_F_CREATE | NLM_F_EXCL, deleted with the same attributes; a table above 255 goes as
//! FRA_TABLE. "Already there" (EEXIST) on add and "not there" (ENOENT) on delete are success.

use super::NetlinkError;
use super::addr::{Outcome, ip_bytes, libc_errno, router_error};
use super::route::Routing;
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{FrAct, Frattr, Frf, RtAddrFamily, RtTable, Rtm},
    },
    nl::NlPayload,
    rtnl::{Fibmsg, FibmsgBuilder, RtattrBuilder},
    types::{Buffer, RtBuffer},
};
use std::net::IpAddr;

/// What a rule does (FR_ACT_*, linux/fib_rules.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAct {
    /// Look up a table (FR_ACT_TO_TBL).
    Table(u32),
    /// Look up the L3 master device's table (FR_ACT_TO_TBL with FRA_L3MDEV).
    L3mdev,
    /// Jump to the rule of this priority (FR_ACT_GOTO).
    Goto(u32),
    /// Another action: nop 3, blackhole 6, unreachable 7, prohibit 8.
    Other(u8),
}

/// One rule, with `ip rule`'s options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    /// IPv6 rule.
    pub v6: bool,
    /// `from` prefix.
    pub from: Option<(IpAddr, u8)>,
    /// `to` prefix.
    pub to: Option<(IpAddr, u8)>,
    /// `not`.
    pub invert: bool,
    /// The action.
    pub action: RuleAct,
    /// FRA_PRIORITY.
    pub priority: Option<u32>,
    /// TOS.
    pub tos: u8,
    /// FRA_FWMARK.
    pub fwmark: Option<u32>,
    /// FRA_FWMASK.
    pub fwmask: Option<u32>,
    /// FRA_FLOW.
    pub realms: Option<u32>,
    /// FRA_SUPPRESS_PREFIXLEN.
    pub suppress_prefixlength: Option<u32>,
    /// FRA_SUPPRESS_IFGROUP.
    pub suppress_ifgroup: Option<u32>,
    /// FRA_IIFNAME.
    pub iif: Option<String>,
    /// FRA_OIFNAME.
    pub oif: Option<String>,
    /// FRA_TUN_ID (host order; sent big-endian).
    pub tunnel_id: Option<u64>,
    /// FRA_UID_RANGE.
    pub uidrange: Option<(u32, u32)>,
    /// FRA_PROTOCOL.
    pub protocol: Option<u8>,
    /// FRA_IP_PROTO.
    pub ipproto: Option<u8>,
    /// FRA_SPORT_RANGE.
    pub sport: Option<(u16, u16)>,
    /// FRA_DPORT_RANGE.
    pub dport: Option<(u16, u16)>,
}

impl RuleSpec {
    /// A rule looking up `table` and matching everything.
    pub fn new(v6: bool, action: RuleAct) -> RuleSpec {
        RuleSpec {
            v6,
            from: None,
            to: None,
            invert: false,
            action,
            priority: None,
            tos: 0,
            fwmark: None,
            fwmask: None,
            realms: None,
            suppress_prefixlength: None,
            suppress_ifgroup: None,
            iif: None,
            oif: None,
            tunnel_id: None,
            uidrange: None,
            protocol: None,
            ipproto: None,
            sport: None,
            dport: None,
        }
    }

    /// `[priority N] [from P] [to P] ACTION`, for messages.
    pub fn describe(&self) -> String {
        let mut s = String::from("rule");
        if let Some(p) = self.priority {
            s.push_str(&format!(" priority {p}"));
        }
        if let Some((a, l)) = &self.from {
            s.push_str(&format!(" from {a}/{l}"));
        }
        if let Some((a, l)) = &self.to {
            s.push_str(&format!(" to {a}/{l}"));
        }
        match self.action {
            RuleAct::Table(t) => s.push_str(&format!(" table {t}")),
            RuleAct::L3mdev => s.push_str(" l3mdev"),
            RuleAct::Goto(g) => s.push_str(&format!(" goto {g}")),
            RuleAct::Other(a) => s.push_str(&format!(" action {a}")),
        }
        s
    }
}

impl Routing {
    /// Adds a rule (RTM_NEWRULE with NLM_F_CREATE | NLM_F_EXCL).
    pub fn add_rule(&self, spec: &RuleSpec) -> Result<Outcome, NetlinkError> {
        let op = format!("add {}", spec.describe());
        let msg = rule_message(spec).map_err(|e| NetlinkError::new(&op, None, e))?;
        match self.rule_request(Rtm::Newrule, NlmF::CREATE | NlmF::EXCL | NlmF::ACK, msg, &op) {
            Err(e) if e.errno == Some(libc_errno::EEXIST) => Ok(Outcome::AlreadySo),
            other => other.map(|()| Outcome::Done),
        }
    }

    /// Removes a rule (RTM_DELRULE).
    pub fn remove_rule(&self, spec: &RuleSpec) -> Result<Outcome, NetlinkError> {
        let op = format!("remove {}", spec.describe());
        let msg = rule_message(spec).map_err(|e| NetlinkError::new(&op, None, e))?;
        match self.rule_request(Rtm::Delrule, NlmF::ACK, msg, &op) {
            Err(e) if matches!(e.errno, Some(libc_errno::ENOENT | libc_errno::ESRCH)) => Ok(Outcome::AlreadySo),
            other => other.map(|()| Outcome::Done),
        }
    }

    fn rule_request(&self, kind: Rtm, flags: NlmF, msg: Fibmsg, op: &str) -> Result<(), NetlinkError> {
        let recv = self
            .rtnl
            .send::<_, _, Rtm, Fibmsg>(kind, flags, NlPayload::Payload(msg))
            .map_err(|e| router_error(op, e))?;
        for r in recv {
            r.map_err(|e| router_error(op, e))?;
        }
        Ok(())
    }
}

fn name_bytes(n: &str) -> Vec<u8> {
    let mut b = n.as_bytes().to_vec();
    b.push(0);
    b
}

fn range_bytes<T: Copy>(r: (T, T), f: impl Fn(T) -> Vec<u8>) -> Vec<u8> {
    let mut b = f(r.0);
    b.extend(f(r.1));
    b
}

/// The RTM_NEWRULE / RTM_DELRULE message for `spec` (struct fib_rule_hdr and FRA_*).
pub fn rule_message(spec: &RuleSpec) -> Result<Fibmsg, String> {
    let mut attrs = RtBuffer::<Frattr, Buffer>::new();
    let mut attr = |kind: Frattr, bytes: Vec<u8>| -> Result<(), String> {
        attrs.push(
            RtattrBuilder::default()
                .rta_type(kind)
                .rta_payload(Buffer::from(bytes))
                .build()
                .map_err(|e| e.to_string())?,
        );
        Ok(())
    };
    let mut table = 0u8;
    let action = match spec.action {
        RuleAct::Table(t) if t < 256 => {
            table = t as u8;
            1
        }
        RuleAct::Table(t) => {
            attr(Frattr::Table, t.to_ne_bytes().to_vec())?;
            1
        }
        RuleAct::L3mdev => 1,
        RuleAct::Goto(_) => 2,
        RuleAct::Other(a) => a,
    };
    if let Some((a, _)) = &spec.from {
        attr(Frattr::Src, ip_bytes(a))?;
    }
    if let Some((a, _)) = &spec.to {
        attr(Frattr::Dst, ip_bytes(a))?;
    }
    if let Some(p) = spec.priority {
        attr(Frattr::Priority, p.to_ne_bytes().to_vec())?;
    }
    if let Some(m) = spec.fwmark {
        attr(Frattr::Fwmark, m.to_ne_bytes().to_vec())?;
    }
    if let Some(m) = spec.fwmask {
        attr(Frattr::Fwmask, m.to_ne_bytes().to_vec())?;
    }
    if let Some(r) = spec.realms {
        attr(Frattr::Flow, r.to_ne_bytes().to_vec())?;
    }
    if let Some(l) = spec.suppress_prefixlength {
        attr(Frattr::SuppressPrefixlen, l.to_ne_bytes().to_vec())?;
    }
    if let Some(g) = spec.suppress_ifgroup {
        attr(Frattr::SuppressIfgroup, g.to_ne_bytes().to_vec())?;
    }
    if let Some(n) = &spec.iif {
        attr(Frattr::Iifname, name_bytes(n))?;
    }
    if let Some(n) = &spec.oif {
        attr(Frattr::Oifname, name_bytes(n))?;
    }
    if let Some(t) = spec.tunnel_id {
        attr(Frattr::TunId, t.to_be_bytes().to_vec())?;
    }
    if let Some(r) = spec.uidrange {
        attr(Frattr::UidRange, range_bytes(r, |v: u32| v.to_ne_bytes().to_vec()))?;
    }
    if spec.action == RuleAct::L3mdev {
        attr(Frattr::L3mdev, vec![1])?;
    }
    if let Some(p) = spec.protocol {
        attr(Frattr::Protocol, vec![p])?;
    }
    if let Some(p) = spec.ipproto {
        attr(Frattr::IpProto, vec![p])?;
    }
    if let Some(r) = spec.sport {
        attr(Frattr::SportRange, range_bytes(r, |v: u16| v.to_ne_bytes().to_vec()))?;
    }
    if let Some(r) = spec.dport {
        attr(Frattr::DportRange, range_bytes(r, |v: u16| v.to_ne_bytes().to_vec()))?;
    }
    if let RuleAct::Goto(g) = spec.action {
        attr(Frattr::Goto, g.to_ne_bytes().to_vec())?;
    }
    FibmsgBuilder::default()
        .fib_family(if spec.v6 { RtAddrFamily::Inet6 } else { RtAddrFamily::Inet })
        .fib_dst_len(spec.to.map_or(0, |(_, l)| l))
        .fib_src_len(spec.from.map_or(0, |(_, l)| l))
        .fib_tos(spec.tos)
        .fib_table(RtTable::from(table))
        .fib_action(FrAct::from(action))
        .fib_flags(if spec.invert { Frf::INVERT } else { Frf::empty() })
        .rtattrs(attrs)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::route::put_attr;
    use neli::ToBytes;

    #[test]
    fn a_rule_message_is_what_ip_rule_sends() {
        let mut s = RuleSpec::new(false, RuleAct::Table(100));
        s.from = Some(("10.0.0.0".parse().unwrap_or_else(|_| unreachable!()), 8));
        s.priority = Some(200);
        s.invert = true;
        s.iif = Some("eth0".into());
        s.sport = Some((10, 20));
        let m = rule_message(&s).unwrap_or_else(|e| panic!("{e}"));
        let mut c = std::io::Cursor::new(Vec::new());
        m.to_bytes(&mut c).unwrap_or_else(|e| panic!("{e}"));
        let b = c.into_inner();
        // fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags (INVERT).
        assert_eq!(&b[..8], &[2, 0, 8, 0, 100, 0, 0, 1]);
        assert_eq!(&b[8..12], &2u32.to_ne_bytes());
        let mut want = Vec::new();
        put_attr(&mut want, 2, &[10, 0, 0, 0]);
        put_attr(&mut want, 6, &200u32.to_ne_bytes());
        put_attr(&mut want, 3, b"eth0\0");
        let mut ports = 10u16.to_ne_bytes().to_vec();
        ports.extend(20u16.to_ne_bytes());
        put_attr(&mut want, 23, &ports);
        assert_eq!(&b[12..], &want[..]);
    }

    #[test]
    fn a_large_table_and_goto_go_as_attributes() {
        let mut s = RuleSpec::new(true, RuleAct::Table(6908));
        s.priority = Some(5);
        let m = rule_message(&s).unwrap_or_else(|e| panic!("{e}"));
        let mut c = std::io::Cursor::new(Vec::new());
        m.to_bytes(&mut c).unwrap_or_else(|e| panic!("{e}"));
        let b = c.into_inner();
        assert_eq!(&b[..8], &[10, 0, 0, 0, 0, 0, 0, 1]);
        let mut want = Vec::new();
        put_attr(&mut want, 15, &6908u32.to_ne_bytes());
        put_attr(&mut want, 6, &5u32.to_ne_bytes());
        assert_eq!(&b[12..], &want[..]);
        let g = rule_message(&RuleSpec::new(false, RuleAct::Goto(40))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(*g.fib_action(), FrAct::FrActGoto);
    }
}
