//! Connection flags (`IP_VS_CONN_F_*`, include/uapi/linux/ip_vs.h) as they travel in a sync
//! record's 32-bit `flags` field.
//!
//! The master sends the connection's flags minus [`HASHED`] (`ip_vs_sync_conn`); flags from
//! bit 16 up (such as [`NFCT`]) may be present. The backup keeps only [`BACKUP_MASK`] and adds
//! [`SYNC`] (`ip_vs_proc_sync_conn`); on an entry it already has, it changes only
//! [`BACKUP_UPD_MASK`] (`ip_vs_proc_conn`).

/// Mask of the forwarding method (the low three bits).
pub const FWD_MASK: u32 = 0x0007;
/// Forwarding method: masquerading (NAT).
pub const MASQ: u32 = 0x0000;
/// Forwarding method: the director itself is the destination.
pub const LOCALNODE: u32 = 0x0001;
/// Forwarding method: IP tunnelling.
pub const TUNNEL: u32 = 0x0002;
/// Forwarding method: direct routing.
pub const DROUTE: u32 = 0x0003;
/// Forwarding method: cache bypass.
pub const BYPASS: u32 = 0x0004;
/// The entry was created by the sync daemon (set by the backup on every synced entry).
pub const SYNC: u32 = 0x0020;
/// The entry is in the kernel's hash table (never sent: the master clears it).
pub const HASHED: u32 = 0x0040;
/// No output packets.
pub const NOOUTPUT: u32 = 0x0080;
/// Not established: the connection counts as inactive on its destination.
pub const INACTIVE: u32 = 0x0100;
/// Output sequence numbers must be adjusted.
pub const OUT_SEQ: u32 = 0x0200;
/// Input sequence numbers must be adjusted.
pub const IN_SEQ: u32 = 0x0400;
/// Both sequence-adjustment flags: the master adds a sequence-data option to the record
/// when either is set (`ip_vs_sync_conn`).
pub const SEQ_MASK: u32 = OUT_SEQ | IN_SEQ;
/// The client port is not known yet.
pub const NO_CPORT: u32 = 0x0800;
/// A persistence template, not a connection.
pub const TEMPLATE: u32 = 0x1000;
/// One-packet scheduling: such connections are never synced (`ip_vs_sync_conn`).
pub const ONE_PACKET: u32 = 0x2000;
/// Netfilter conntrack is used for the connection (bit 16; the master may send it, the
/// backup drops it).
pub const NFCT: u32 = 1 << 16;

/// The flags a backup keeps from a record (`IP_VS_CONN_F_BACKUP_MASK`); it then adds [`SYNC`].
pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
/// The flags a backup updates on an entry it already has (`IP_VS_CONN_F_BACKUP_UPD_MASK`).
pub const BACKUP_UPD_MASK: u32 = INACTIVE | SEQ_MASK;

/// The forwarding method's name as `ipvsadm -L` prints it ("Masq", "Local", "Tunnel",
/// "Route", "Bypass"), from the low bits of `flags`; `None` for the unused values 5 to 7.
pub fn forward_name(flags: u32) -> Option<&'static str> {
    match flags & FWD_MASK {
        MASQ => Some("Masq"),
        LOCALNODE => Some("Local"),
        TUNNEL => Some("Tunnel"),
        DROUTE => Some("Route"),
        BYPASS => Some("Bypass"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_the_kernel_header() {
        assert_eq!(BACKUP_MASK, 0x1f87);
        assert_eq!(BACKUP_UPD_MASK, 0x0700);
        assert_eq!(forward_name(TEMPLATE | DROUTE), Some("Route"));
        assert_eq!(forward_name(7), None);
    }
}
