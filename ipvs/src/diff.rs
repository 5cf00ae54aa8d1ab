//! The minimal set of changes that turns the kernel's table into the desired one.
//!
//! Services are compared by key, then settings; destinations within a service likewise. A
//! changed setting is an edit in place (SET_SERVICE / SET_DEST), never a delete and re-add,
//! so established connections through other destinations are not disturbed; nothing is ever
//! flushed.

use crate::model::{Dest, DestKey, Service, ServiceKey, Table};
use std::collections::BTreeSet;

/// One kernel request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// NEW_SERVICE.
    AddService(ServiceKey, Service),
    /// SET_SERVICE.
    EditService(ServiceKey, Service),
    /// DEL_SERVICE (its destinations go with it).
    DelService(ServiceKey),
    /// NEW_DEST.
    AddDest(ServiceKey, DestKey, Dest),
    /// SET_DEST.
    EditDest(ServiceKey, DestKey, Dest),
    /// DEL_DEST.
    DelDest(ServiceKey, DestKey),
}

/// Which of the kernel's services tandem may change.
#[derive(Debug, Clone)]
pub enum Scope<'a> {
    /// The services the configuration declares now, plus these (declared before, removed
    /// since): others are left alone (keepalived's default).
    Declared(&'a BTreeSet<ServiceKey>),
    /// The whole table (keepalived's `lvs_flush`): services nobody declared are removed.
    Whole,
}

/// The changes that make `current` into `desired`, in an order the kernel accepts: services
/// added or edited, then each service's destinations removed, edited and added, then
/// services removed.
pub fn diff(current: &Table, desired: &Table, scope: Scope<'_>) -> Vec<Change> {
    let mut out = Vec::new();
    let mut deletions = Vec::new();
    for (key, (want, want_dests)) in &desired.services {
        match current.services.get(key) {
            None => {
                out.push(Change::AddService(*key, want.clone()));
                for (dk, d) in want_dests {
                    out.push(Change::AddDest(*key, *dk, *d));
                }
            }
            Some((have, have_dests)) => {
                if have.differs(want) {
                    out.push(Change::EditService(*key, want.clone()));
                }
                for dk in have_dests.keys() {
                    if !want_dests.contains_key(dk) {
                        out.push(Change::DelDest(*key, *dk));
                    }
                }
                for (dk, d) in want_dests {
                    match have_dests.get(dk) {
                        None => out.push(Change::AddDest(*key, *dk, *d)),
                        Some(h) if h != d => out.push(Change::EditDest(*key, *dk, *d)),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    for key in current.services.keys() {
        if desired.services.contains_key(key) {
            continue;
        }
        let ours = match &scope {
            Scope::Whole => true,
            Scope::Declared(previously) => previously.contains(key),
        };
        if ours {
            deletions.push(Change::DelService(*key));
        }
    }
    out.extend(deletions);
    out
}

/// Applies a change to a model of the kernel's table (after the kernel accepted it).
pub fn apply(table: &mut Table, change: &Change) {
    match change {
        Change::AddService(k, s) => {
            table.services.entry(*k).or_insert_with(|| (s.clone(), Default::default())).0 = s.clone();
        }
        Change::EditService(k, s) => {
            if let Some(e) = table.services.get_mut(k) {
                e.0 = s.clone();
            }
        }
        Change::DelService(k) => {
            table.services.remove(k);
        }
        Change::AddDest(k, dk, d) | Change::EditDest(k, dk, d) => {
            if let Some(e) = table.services.get_mut(k) {
                e.1.insert(*dk, *d);
            }
        }
        Change::DelDest(k, dk) => {
            if let Some(e) = table.services.get_mut(k) {
                e.1.remove(dk);
            }
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::AddService(k, s) => write!(f, "add service {k} ({})", s.scheduler),
            Change::EditService(k, s) => write!(f, "edit service {k} ({})", s.scheduler),
            Change::DelService(k) => write!(f, "delete service {k}"),
            Change::AddDest(k, d, x) => write!(f, "add {d} to {k} (weight {})", x.weight),
            Change::EditDest(k, d, x) => write!(f, "edit {d} of {k} (weight {})", x.weight),
            Change::DelDest(k, d) => write!(f, "delete {d} from {k}"),
        }
    }
}
