//! The IPVS generic-netlink client (family "IPVS", version 1). Every command needs
//! CAP_NET_ADMIN. There is no batch command: each change is one acknowledged request.

use crate::attrs::{self, cmd, top};
use crate::diff::Change;
use crate::model::{DestKey, ServiceKey, Table};
use neli::{
    consts::{nl::NlmF, socket::NlFamily},
    err::RouterError,
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder},
    nl::NlPayload,
    router::synchronous::NlRouter,
    types::{Buffer, GenlBuffer},
    utils::Groups,
};

/// IPVS generic-netlink protocol version.
const VERSION: u8 = 1;

/// A failed IPVS request: what was being done and the kernel's errno.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {detail}")]
pub struct IpvsError {
    /// What was being done, e.g. "add destination 10.0.0.2:80 to TCP 192.0.2.10:80".
    pub op: String,
    /// The kernel's errno, when it answered with one.
    pub errno: Option<i32>,
    /// The kernel's or the library's words.
    pub detail: String,
}

impl IpvsError {
    fn new(op: impl Into<String>, errno: Option<i32>, detail: impl Into<String>) -> Self {
        IpvsError { op: op.into(), errno, detail: detail.into() }
    }
}

/// errno values (asm-generic/errno-base.h).
const ENOENT: i32 = 2;
const EEXIST: i32 = 17;
const ESRCH: i32 = 3;

/// `ipvsadm --version`'s numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// major << 16 | minor << 8 | patch.
    pub version: u32,
    /// Connection hash table size.
    pub conn_tab_size: u32,
}

/// A generic-netlink socket speaking IPVS, in the calling thread's network namespace.
pub struct Ipvs {
    router: NlRouter,
    family: u16,
}

type Msg = Genlmsghdr<u8, u16>;

fn router_error<T: std::fmt::Debug, P: std::fmt::Debug>(op: &str, e: RouterError<T, P>) -> IpvsError {
    match e {
        RouterError::Nlmsgerr(m) => {
            let errno = -*m.error();
            IpvsError::new(op, Some(errno), std::io::Error::from_raw_os_error(errno).to_string())
        }
        other => IpvsError::new(op, None, format!("{other:?}")),
    }
}

fn nested(kind: u16, attrs: &[(u16, Vec<u8>)], op: &str) -> Result<Nlattr<u16, Buffer>, IpvsError> {
    let err = |e: String| IpvsError::new(op, None, e);
    let mut outer = NlattrBuilder::default()
        .nla_type(AttrTypeBuilder::default().nla_type(kind).nla_nested(true).build().map_err(|e| err(e.to_string()))?)
        .nla_payload(Vec::<u8>::new())
        .build()
        .map_err(|e| err(e.to_string()))?;
    for (t, bytes) in attrs {
        let inner = NlattrBuilder::default()
            .nla_type(AttrTypeBuilder::default().nla_type(*t).build().map_err(|e| err(e.to_string()))?)
            .nla_payload(Buffer::from(bytes.clone()))
            .build()
            .map_err(|e| err(e.to_string()))?;
        outer = outer.nest(&inner).map_err(|e| err(e.to_string()))?;
    }
    Ok(outer)
}

impl Ipvs {
    /// Connects and resolves the IPVS family (fails when the ip_vs module is not loaded).
    pub fn open() -> Result<Ipvs, IpvsError> {
        let op = "open the IPVS generic netlink family";
        let (router, _) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| IpvsError::new(op, None, e.to_string()))?;
        let family = router.resolve_genl_family("IPVS").map_err(|e| router_error(op, e))?;
        Ok(Ipvs { router, family })
    }

    fn request(
        &self,
        command: u8,
        flags: NlmF,
        attrs: Vec<Nlattr<u16, Buffer>>,
        op: &str,
    ) -> Result<Vec<Msg>, IpvsError> {
        let genl = GenlmsghdrBuilder::default()
            .cmd(command)
            .version(VERSION)
            .attrs(attrs.into_iter().collect::<GenlBuffer<u16, Buffer>>())
            .build()
            .map_err(|e| IpvsError::new(op, None, e.to_string()))?;
        let recv = self
            .router
            .send::<u16, Msg, u16, Msg>(self.family, flags, NlPayload::Payload(genl))
            .map_err(|e| router_error(op, e))?;
        let mut out = Vec::new();
        for r in recv {
            let r = r.map_err(|e| router_error(op, e))?;
            if let Some(p) = r.get_payload() {
                out.push(p.clone());
            }
        }
        Ok(out)
    }

    /// IPVS_CMD_GET_INFO.
    pub fn info(&self) -> Result<Info, IpvsError> {
        let op = "read IPVS info";
        let replies = self.request(cmd::GET_INFO, NlmF::empty(), vec![], op)?;
        let reply = replies.first().ok_or_else(|| IpvsError::new(op, None, "no reply"))?;
        let h = reply.attrs().get_attr_handle();
        let get = |t| h.get_attribute(t).and_then(|a| attrs::u32_from(a.nla_payload().as_ref()));
        Ok(Info {
            version: get(attrs::info::VERSION).unwrap_or(0),
            conn_tab_size: get(attrs::info::CONN_TAB_SIZE).unwrap_or(0),
        })
    }

    /// Every service and destination in the kernel (GET_SERVICE, then GET_DEST per service).
    pub fn dump(&self) -> Result<Table, IpvsError> {
        let op = "list IPVS services";
        let mut table = Table::default();
        for m in self.request(cmd::GET_SERVICE, NlmF::DUMP, vec![], op)? {
            let h = m.attrs().get_attr_handle();
            let Ok(nested) = h.get_nested_attributes::<u16>(top::SERVICE) else { continue };
            let get = |t: u16| nested.get_attribute(t).map(|a| a.nla_payload().as_ref().to_vec());
            if let Some((k, s)) = attrs::service_from(&get) {
                table.services.insert(k, (s, Default::default()));
            }
        }
        let keys: Vec<ServiceKey> = table.services.keys().copied().collect();
        for key in keys {
            let op = format!("list destinations of {key}");
            let svc = nested(top::SERVICE, &attrs::service_identity(&key), &op)?;
            for m in self.request(cmd::GET_DEST, NlmF::DUMP, vec![svc], &op)? {
                let h = m.attrs().get_attr_handle();
                let Ok(nested) = h.get_nested_attributes::<u16>(top::DEST) else { continue };
                let get = |t: u16| nested.get_attribute(t).map(|a| a.nla_payload().as_ref().to_vec());
                if let (Some((dk, d)), Some(entry)) =
                    (attrs::dest_from(&get, key.is_v6()), table.services.get_mut(&key))
                {
                    entry.1.insert(dk, d);
                }
            }
        }
        Ok(table)
    }

    /// Applies one change. As keepalived (check/ipvswrapper.c), "already there" on an add
    /// and "not there" on a delete count as done.
    pub fn apply(&self, change: &Change) -> Result<(), IpvsError> {
        let (op, command, attrs, tolerated) = match change {
            Change::AddService(k, s) => (
                format!("add service {k}"),
                cmd::NEW_SERVICE,
                vec![nested(top::SERVICE, &attrs::service_full(k, s), "")?],
                Some(EEXIST),
            ),
            Change::EditService(k, s) => (
                format!("edit service {k}"),
                cmd::SET_SERVICE,
                vec![nested(top::SERVICE, &attrs::service_full(k, s), "")?],
                None,
            ),
            Change::DelService(k) => (
                format!("delete service {k}"),
                cmd::DEL_SERVICE,
                vec![nested(top::SERVICE, &attrs::service_identity(k), "")?],
                Some(ESRCH),
            ),
            Change::AddDest(k, dk, d) => (
                format!("add destination {dk} to {k}"),
                cmd::NEW_DEST,
                self.dest_request(k, dk, Some(d))?,
                Some(EEXIST),
            ),
            Change::EditDest(k, dk, d) => {
                (format!("edit destination {dk} of {k}"), cmd::SET_DEST, self.dest_request(k, dk, Some(d))?, None)
            }
            Change::DelDest(k, dk) => (
                format!("delete destination {dk} of {k}"),
                cmd::DEL_DEST,
                self.dest_request(k, dk, None)?,
                Some(ENOENT),
            ),
        };
        match self.request(command, NlmF::ACK, attrs, &op) {
            Err(e) if e.errno.is_some() && e.errno == tolerated => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }

    fn dest_request(
        &self,
        k: &ServiceKey,
        dk: &DestKey,
        d: Option<&crate::model::Dest>,
    ) -> Result<Vec<Nlattr<u16, Buffer>>, IpvsError> {
        Ok(vec![
            nested(top::SERVICE, &attrs::service_identity(k), "")?,
            nested(top::DEST, &attrs::dest_attrs(dk, d), "")?,
        ])
    }
}
