//! The sans-I/O instance and sync-group state machines (RFC 5798 section 6, RFC 3768
//! section 6, with keepalived's behaviour where it differs).
//!
//! Design after quinn-proto and smoltcp: plain data, no clock reads, no sockets. Every input
//! carries `now: Instant`; outputs are drained with `poll_action()` (things to do, in order)
//! and `poll_timeout()` (the next deadline, at which the caller calls `handle_timeout(now)`).
//!
//! ```text
//! loop {
//!     select! { advert = recv() => inst.handle_advert(now, src, &advert),
//!               _ = sleep_until(inst.poll_timeout()) => inst.handle_timeout(now) }
//!     while let Some(action) = inst.poll_action() { perform(action) }
//! }
//! ```
//!
//! - [`Settings`] / [`GarpSettings`]: the crate's own settings type (the daemon maps
//!   tandem-conf's model into it);
//! - [`Instance`]: one VRRP instance ([`State`], [`Action`], [`Reason`], [`Counters`]);
//! - [`SyncGroup`]: keepalived's `vrrp_sync_group`, which owns its members and is driven the
//!   same way.

mod garp;
mod machine;
mod settings;
mod sync_group;
pub mod timers;

pub use machine::{Action, Counters, Instance, Reason, State};
pub use settings::{GarpSettings, InitialState, Settings, SettingsError};
pub use sync_group::{GroupAction, SyncGroup};
