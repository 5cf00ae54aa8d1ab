//! The reconciliation diff: minimal, ordered, scoped.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use tandem_ipvs::model::proto;
use tandem_ipvs::*;

fn svc(sched: &str) -> Service {
    Service { scheduler: sched.into(), flags: ServiceFlags(0), timeout: 0, netmask: 0xffff_ffff, pe_name: None }
}

fn nat(weight: u32) -> Dest {
    Dest { forward: Forward::Masq, weight, u_threshold: 0, l_threshold: 0 }
}

fn key(last: u8, port: u16) -> ServiceKey {
    ServiceKey::Addr { protocol: proto::TCP, addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), port }
}

fn dk(last: u8, port: u16) -> DestKey {
    DestKey { addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port }
}

/// A service with its destinations, for building tables by hand.
type Entry<'a> = (ServiceKey, Service, &'a [(DestKey, Dest)]);

fn table(entries: &[Entry<'_>]) -> Table {
    let mut t = Table::default();
    for (k, s, ds) in entries {
        t.services.insert(*k, (s.clone(), ds.iter().copied().collect()));
    }
    t
}

#[test]
fn a_new_service_comes_before_its_destinations() {
    let want = table(&[(key(1, 80), svc("rr"), &[(dk(2, 8080), nat(1)), (dk(3, 8080), nat(2))])]);
    let c = diff(&Table::default(), &want, Scope::Whole);
    assert_eq!(
        c,
        vec![
            Change::AddService(key(1, 80), svc("rr")),
            Change::AddDest(key(1, 80), dk(2, 8080), nat(1)),
            Change::AddDest(key(1, 80), dk(3, 8080), nat(2)),
        ]
    );
}

#[test]
fn one_weight_change_is_one_edit_in_place() {
    let have = table(&[(key(1, 80), svc("wrr"), &[(dk(2, 80), nat(1)), (dk(3, 80), nat(2))])]);
    let want = table(&[(key(1, 80), svc("wrr"), &[(dk(2, 80), nat(1)), (dk(3, 80), nat(5))])]);
    assert_eq!(diff(&have, &want, Scope::Whole), vec![Change::EditDest(key(1, 80), dk(3, 80), nat(5))]);
    assert!(diff(&want, &want, Scope::Whole).is_empty());
}

#[test]
fn a_scheduler_change_is_a_service_edit_not_a_re_add() {
    let have = table(&[(key(1, 80), svc("rr"), &[(dk(2, 80), nat(1))])]);
    let want = table(&[(key(1, 80), svc("wlc"), &[(dk(2, 80), nat(1))])]);
    assert_eq!(diff(&have, &want, Scope::Whole), vec![Change::EditService(key(1, 80), svc("wlc"))]);
}

#[test]
fn the_kernel_only_hashed_flag_is_ignored() {
    let mut hashed = svc("rr");
    hashed.flags = ServiceFlags(ServiceFlags::HASHED);
    let have = table(&[(key(1, 80), hashed, &[])]);
    let want = table(&[(key(1, 80), svc("rr"), &[])]);
    assert!(diff(&have, &want, Scope::Whole).is_empty());
}

#[test]
fn scope_declared_leaves_other_services_alone_but_removes_ones_it_declared_before() {
    let foreign = key(9, 443);
    let retired = key(5, 80);
    let have = table(&[(foreign, svc("rr"), &[]), (retired, svc("rr"), &[]), (key(1, 80), svc("rr"), &[])]);
    let want = table(&[(key(1, 80), svc("rr"), &[])]);
    let before: BTreeSet<ServiceKey> = [retired, key(1, 80)].into();
    assert_eq!(diff(&have, &want, Scope::Declared(&before)), vec![Change::DelService(retired)]);
    // Owning the whole table (lvs_flush), the foreign service goes too.
    let whole = diff(&have, &want, Scope::Whole);
    assert!(whole.contains(&Change::DelService(foreign)) && whole.contains(&Change::DelService(retired)));
}

#[test]
fn a_hand_deleted_destination_is_added_back_and_a_hand_added_one_removed() {
    let want = table(&[(key(1, 80), svc("rr"), &[(dk(2, 80), nat(1)), (dk(3, 80), nat(1))])]);
    let hand_edited = table(&[(key(1, 80), svc("rr"), &[(dk(2, 80), nat(1)), (dk(7, 80), nat(1))])]);
    assert_eq!(
        diff(&hand_edited, &want, Scope::Whole),
        vec![Change::DelDest(key(1, 80), dk(7, 80)), Change::AddDest(key(1, 80), dk(3, 80), nat(1))]
    );
}

fn arb_table() -> impl Strategy<Value = Table> {
    let dest =
        (0u8..6, prop_oneof![Just(80u16), Just(8080)], 0u32..4).prop_map(|(last, port, w)| (dk(last, port), nat(w)));
    let service = (0u8..8, prop_oneof![Just("rr"), Just("wrr"), Just("lc")], proptest::collection::vec(dest, 0..5))
        .prop_map(|(last, sched, dests)| (key(last, 80), svc(sched), dests.into_iter().collect::<BTreeMap<_, _>>()));
    proptest::collection::vec(service, 0..8).prop_map(|v| {
        let mut t = Table::default();
        for (k, s, d) in v {
            t.services.insert(k, (s, d));
        }
        t
    })
}

proptest! {
    #[test]
    fn applying_the_diff_reaches_the_desired_table(have in arb_table(), want in arb_table()) {
        let mut t = have.clone();
        for c in diff(&have, &want, Scope::Whole) {
            apply(&mut t, &c);
        }
        prop_assert_eq!(&t, &want);
        prop_assert!(diff(&want, &want, Scope::Whole).is_empty());
    }

    #[test]
    fn declared_scope_never_touches_undeclared_services(have in arb_table(), want in arb_table()) {
        let none = BTreeSet::new();
        let changes = diff(&have, &want, Scope::Declared(&none));
        for c in &changes {
            let k = match c {
                Change::AddService(k, _) | Change::EditService(k, _) | Change::DelService(k)
                | Change::AddDest(k, _, _) | Change::EditDest(k, _, _) | Change::DelDest(k, _) => k,
            };
            prop_assert!(want.services.contains_key(k), "{c:?} touches a service the config does not declare");
        }
        let mut t = have.clone();
        for c in &changes {
            apply(&mut t, c);
        }
        for (k, v) in &have.services {
            if !want.services.contains_key(k) {
                prop_assert_eq!(t.services.get(k), Some(v));
            }
        }
    }
}
