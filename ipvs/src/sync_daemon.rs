//! The kernel's connection-synchronisation daemons (`ipvsadm --start-daemon`): NEW_DAEMON,
//! DEL_DAEMON and GET_DAEMON (ip_vs_ctl.c, ip_vs_genl_new_daemon / ip_vs_genl_dump_daemons).
//! At most one master and one backup daemon run per network namespace.

use crate::attrs::{self, daemon};
use std::net::IpAddr;

/// Which side of the synchronisation a daemon is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncState {
    /// Sends connection updates (IP_VS_STATE_MASTER, 1).
    Master,
    /// Receives them (IP_VS_STATE_BACKUP, 2).
    Backup,
}

impl SyncState {
    /// The kernel's number.
    pub fn code(self) -> u32 {
        match self {
            SyncState::Master => 1,
            SyncState::Backup => 2,
        }
    }
}

/// A sync daemon's settings. Left `None`, a setting takes the kernel's default (group
/// 224.0.0.81, port 8848, TTL 1, message size from the interface MTU); GET_DAEMON reports
/// all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    /// Master or backup.
    pub state: SyncState,
    /// Interface the sync traffic uses.
    pub interface: String,
    /// Sync id (keepalived: the VRID of the instance named in lvs_sync_daemon); 0..255.
    pub sync_id: u32,
    /// Largest sync message.
    pub maxlen: Option<u16>,
    /// Multicast group (IPv4 or IPv6).
    pub group: Option<IpAddr>,
    /// UDP port.
    pub port: Option<u16>,
    /// Multicast TTL.
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    /// The nested DAEMON attributes NEW_DAEMON takes.
    pub fn attrs(&self) -> Vec<(u16, Vec<u8>)> {
        let mut a = vec![
            (daemon::STATE, self.state.code().to_ne_bytes().to_vec()),
            (daemon::MCAST_IFN, attrs::cstring(&self.interface)),
            (daemon::SYNC_ID, self.sync_id.to_ne_bytes().to_vec()),
        ];
        if let Some(m) = self.maxlen {
            a.push((daemon::SYNC_MAXLEN, m.to_ne_bytes().to_vec()));
        }
        match self.group {
            Some(IpAddr::V4(g)) => a.push((daemon::MCAST_GROUP, g.octets().to_vec())),
            Some(IpAddr::V6(g)) => a.push((daemon::MCAST_GROUP6, g.octets().to_vec())),
            None => {}
        }
        if let Some(p) = self.port {
            a.push((daemon::MCAST_PORT, p.to_ne_bytes().to_vec()));
        }
        if let Some(t) = self.ttl {
            a.push((daemon::MCAST_TTL, vec![t]));
        }
        a
    }

    /// Reads a GET_DAEMON reply's nested attributes.
    pub fn from_attrs(get: &dyn Fn(u16) -> Option<Vec<u8>>) -> Option<SyncDaemon> {
        let state = match attrs::u32_from(&get(daemon::STATE)?)? {
            1 => SyncState::Master,
            2 => SyncState::Backup,
            _ => return None,
        };
        let group = get(daemon::MCAST_GROUP6)
            .and_then(|b| attrs::addr_from(&b, attrs::AF_INET6))
            .filter(|a| !a.is_unspecified())
            .or_else(|| get(daemon::MCAST_GROUP).and_then(|b| attrs::addr_from(&b, attrs::AF_INET)));
        Some(SyncDaemon {
            state,
            interface: attrs::string_from(&get(daemon::MCAST_IFN)?),
            sync_id: attrs::u32_from(&get(daemon::SYNC_ID)?)?,
            maxlen: get(daemon::SYNC_MAXLEN).and_then(|b| attrs::u16_from(&b)),
            group,
            port: get(daemon::MCAST_PORT).and_then(|b| attrs::u16_from(&b)),
            ttl: get(daemon::MCAST_TTL).and_then(|b| b.first().copied()),
        })
    }
}
