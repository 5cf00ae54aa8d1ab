//! The Linux IPVS connection-sync protocol, version 1, as plain data (sans-I/O), and a parser
//! for the kernel's connection tables in /proc.
//!
//! The kernel's sync daemon (net/netfilter/ipvs/ip_vs_sync.c) multicasts connection records
//! from the master director to backups, by default to 224.0.0.81:8848 ([`header::GROUP`],
//! [`header::PORT`]). This crate holds:
//!
//! - the codec: [`Message`] and [`Record`] with [`Message::parse`] and [`Message::emit`],
//!   over checked views of the bytes ([`Header`], [`RecordView`], [`Records`]). Parsing
//!   accepts exactly the datagrams a kernel backup processes and names, with a [`ParseError`],
//!   the reason it would drop the others; [`Record::backup_skips`] tells the records a backup
//!   ignores inside a datagram it takes. Emitting lays bytes out as a kernel master does, so
//!   `emit(parse(d)) == d` for the kernel's own datagrams;
//! - [`pack()`](pack::pack): records into datagrams of at most `maxlen` bytes and 255 records each;
//! - the numbers that travel in records: connection flags ([`flags`]), protocols and states
//!   with their /proc names ([`state`]);
//! - [`parse_conn_table`]: the lines of /proc/net/ip_vs_conn and ip_vs_conn_sync as
//!   [`ConnEntry`]s, skipping and counting malformed lines.
//!
//! - [`table`]: the master's /proc table as the records a bulk resync sends, with the flags and
//!   fwmark tandem's model of the services gives;
//! - [`resync`]: the bulk resync exchange (a backup whose daemon starts asks, the master sends
//!   its table and says when it is done), as two sans-I/O state machines.
//!
//! Nothing here opens a socket or reads a file; the daemon does, and drives the kernel's sync
//! daemons from the VRRP role.

pub mod error;
pub mod flags;
pub mod header;
pub mod message;
pub mod pack;
pub mod proc_conn;
pub mod record;
pub mod resync;
pub mod state;
pub mod table;

mod bytes;

pub use error::{EmitError, PackError, ParseError};
pub use header::Header;
pub use message::{Message, Records};
pub use pack::pack;
pub use proc_conn::{ConnEntry, ConnTable, Origin, parse_conn_line, parse_conn_table};
pub use record::{BackupSkip, RawOption, Record, RecordView, Seq, SeqData};
