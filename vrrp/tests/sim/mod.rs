//! A simulated link for virtual-time tests of the VRRP state machines.
//!
//! N routers share one link: an advert sent by one is delivered to every other router after a
//! fixed delay, unless a seeded PRNG drops it (loss) or a partition separates the two. Routers
//! can be killed (they fall silent: no priority 0), stopped gracefully, restarted with a new
//! node, and have faults or priority adjustments set. Time only moves in `run_until`.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use tandem_vrrp::Advert;
use tandem_vrrp::instance::{Action, GroupAction, Instance, Reason, State, SyncGroup};

/// A tiny xorshift64 PRNG (deterministic; no dependencies).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// True with probability `permille / 1000`.
    pub fn chance(&mut self, permille: u32) -> bool {
        self.next_u64() % 1000 < u64::from(permille)
    }
}

/// What the sim needs from a node: an [`Instance`] (one member) or a [`SyncGroup`].
pub trait Node {
    fn start(&mut self, now: Instant);
    fn handle_advert(&mut self, now: Instant, src: IpAddr, advert: &Advert);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_action(&mut self) -> Option<(usize, Action)>;
    fn stop(&mut self, now: Instant);
    fn set_fault(&mut self, member: usize, now: Instant, fault: bool);
    fn set_priority_adjustment(&mut self, member: usize, now: Instant, delta: i32);
    fn state(&self, member: usize) -> State;
    fn members(&self) -> usize;
}

impl Node for Instance {
    fn start(&mut self, now: Instant) {
        Instance::start(self, now);
    }
    fn handle_advert(&mut self, now: Instant, src: IpAddr, advert: &Advert) {
        Instance::handle_advert(self, now, src, advert);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Instance::handle_timeout(self, now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Instance::poll_timeout(self)
    }
    fn poll_action(&mut self) -> Option<(usize, Action)> {
        Instance::poll_action(self).map(|a| (0, a))
    }
    fn stop(&mut self, now: Instant) {
        Instance::stop(self, now);
    }
    fn set_fault(&mut self, _member: usize, now: Instant, fault: bool) {
        Instance::set_fault(self, now, fault);
    }
    fn set_priority_adjustment(&mut self, _member: usize, now: Instant, delta: i32) {
        Instance::set_priority_adjustment(self, now, delta);
    }
    fn state(&self, _member: usize) -> State {
        Instance::state(self)
    }
    fn members(&self) -> usize {
        1
    }
}

impl Node for SyncGroup {
    fn start(&mut self, now: Instant) {
        SyncGroup::start(self, now);
    }
    fn handle_advert(&mut self, now: Instant, src: IpAddr, advert: &Advert) {
        SyncGroup::handle_advert(self, now, src, advert);
    }
    fn handle_timeout(&mut self, now: Instant) {
        SyncGroup::handle_timeout(self, now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        SyncGroup::poll_timeout(self)
    }
    fn poll_action(&mut self) -> Option<(usize, Action)> {
        SyncGroup::poll_action(self).map(|GroupAction { member, action }| (member, action))
    }
    fn stop(&mut self, now: Instant) {
        SyncGroup::stop(self, now);
    }
    fn set_fault(&mut self, member: usize, now: Instant, fault: bool) {
        SyncGroup::set_fault(self, member, now, fault);
    }
    fn set_priority_adjustment(&mut self, member: usize, now: Instant, delta: i32) {
        SyncGroup::set_priority_adjustment(self, member, now, delta);
    }
    fn state(&self, member: usize) -> State {
        self.member(member).map_or(State::Init, Instance::state)
    }
    fn members(&self) -> usize {
        SyncGroup::members(self).len()
    }
}

/// Something a router did, with the virtual time (seconds since the sim's base).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Sent { member: usize, advert: Advert },
    Added { member: usize, addresses: Vec<IpAddr> },
    Removed { member: usize, addresses: Vec<IpAddr> },
    Garp { member: usize, addresses: Vec<IpAddr>, repeat: u32 },
    ExtraGarp { member: usize },
    State { member: usize, from: State, to: State, reason: Reason },
    LowerPriority { member: usize, from: IpAddr, priority: u8 },
}

pub struct Router<N> {
    pub node: N,
    pub addr: IpAddr,
    pub alive: bool,
    pub side: u8,
    /// (time, event), in order.
    pub log: Vec<(Instant, Event)>,
}

struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    from: IpAddr,
    advert: Advert,
}

pub struct Sim<N> {
    pub base: Instant,
    pub now: Instant,
    pub delay: Duration,
    pub loss_permille: u32,
    rng: XorShift,
    pub routers: Vec<Router<N>>,
    in_flight: Vec<InFlight>,
    seq: u64,
    /// Per member slot: since when two or more live routers are master, and the longest
    /// such stretch seen since the last `reset_dual_master`.
    dual_since: Vec<Option<Instant>>,
    max_dual: Vec<Duration>,
    /// Time with exactly one live master, per member slot, since `reset_dual_master`.
    single_time: Vec<Duration>,
    last_counts: Vec<usize>,
    observed_at: Instant,
    pub delivered: u64,
    pub lost: u64,
}

/// The router address of index `i`: 192.0.2.(i+1).
pub fn router_addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, u8::try_from(i + 1).unwrap()))
}

/// Seconds as a duration (f64 for readability in tests).
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

impl<N: Node> Sim<N> {
    /// A sim over `nodes` (router i gets address 192.0.2.(i+1)), nothing started yet.
    pub fn new(nodes: Vec<N>, delay: Duration, loss_permille: u32, seed: u64) -> Self {
        let base = Instant::now();
        let slots = nodes.first().map_or(1, Node::members);
        let routers = nodes
            .into_iter()
            .enumerate()
            .map(|(i, node)| Router { node, addr: router_addr(i), alive: true, side: 0, log: Vec::new() })
            .collect();
        Self {
            base,
            now: base,
            delay,
            loss_permille,
            rng: XorShift::new(seed),
            routers,
            in_flight: Vec::new(),
            seq: 0,
            dual_since: vec![None; slots],
            max_dual: vec![Duration::ZERO; slots],
            single_time: vec![Duration::ZERO; slots],
            last_counts: vec![0; slots],
            observed_at: base,
            delivered: 0,
            lost: 0,
        }
    }

    pub fn at(&self, s: f64) -> Instant {
        self.base + secs(s)
    }

    /// Virtual seconds since base.
    pub fn t(&self, at: Instant) -> f64 {
        at.duration_since(self.base).as_secs_f64()
    }

    pub fn start_all(&mut self) {
        for i in 0..self.routers.len() {
            self.start(i);
        }
    }

    pub fn start(&mut self, i: usize) {
        let now = self.now;
        self.routers[i].alive = true;
        self.routers[i].node.start(now);
        self.drain(i);
        self.observe();
    }

    /// The router falls silent: no priority 0, no more input or output.
    pub fn kill(&mut self, i: usize) {
        self.routers[i].alive = false;
        self.observe();
    }

    /// Graceful stop: the node's stop actions (priority 0) go out, then it is silent.
    pub fn stop(&mut self, i: usize) {
        let now = self.now;
        self.routers[i].node.stop(now);
        self.drain(i);
        self.routers[i].alive = false;
        self.observe();
    }

    /// Replaces router i's node (a restart after a kill/stop) and starts it.
    pub fn restart(&mut self, i: usize, node: N) {
        self.routers[i].node = node;
        self.start(i);
    }

    pub fn set_fault(&mut self, i: usize, member: usize, fault: bool) {
        let now = self.now;
        self.routers[i].node.set_fault(member, now, fault);
        self.drain(i);
        self.observe();
    }

    pub fn set_priority_adjustment(&mut self, i: usize, member: usize, delta: i32) {
        let now = self.now;
        self.routers[i].node.set_priority_adjustment(member, now, delta);
        self.drain(i);
        self.observe();
    }

    /// Does `f` to router i's node at the current virtual time (a reconfiguration), then
    /// performs what it asked for.
    pub fn with_node<T>(&mut self, i: usize, f: impl FnOnce(&mut N, Instant) -> T) -> T {
        let now = self.now;
        let out = f(&mut self.routers[i].node, now);
        self.drain(i);
        self.observe();
        out
    }

    /// Splits the link: routers in different groups no longer hear each other (adverts
    /// already in flight still arrive).
    pub fn partition(&mut self, groups: &[&[usize]]) {
        for (side, members) in groups.iter().enumerate() {
            for &i in *members {
                self.routers[i].side = u8::try_from(side).unwrap();
            }
        }
    }

    pub fn heal(&mut self) {
        for r in &mut self.routers {
            r.side = 0;
        }
    }

    /// Runs the link until virtual time `s` (seconds since base).
    pub fn run_until(&mut self, s: f64) {
        let end = self.at(s);
        let mut guard = 0u64;
        loop {
            let next = self.next_event();
            let Some(next) = next else { break };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            // Deliver everything due.
            while let Some(pos) = self.due_packet(now) {
                let p = self.in_flight.swap_remove(pos);
                if self.routers[p.to].alive {
                    self.delivered += 1;
                    self.routers[p.to].node.handle_advert(now, p.from, &p.advert);
                    self.drain(p.to);
                }
            }
            for i in 0..self.routers.len() {
                if self.routers[i].alive && self.routers[i].node.poll_timeout().is_some_and(|t| t <= now) {
                    self.routers[i].node.handle_timeout(now);
                    self.drain(i);
                }
            }
            self.observe();
            guard += 1;
            assert!(guard < 10_000_000, "sim does not make progress at {}", self.t(now));
        }
        self.now = end;
        self.observe();
    }

    fn next_event(&self) -> Option<Instant> {
        let packets = self.in_flight.iter().map(|p| p.at);
        let timers = self.routers.iter().filter(|r| r.alive).filter_map(|r| r.node.poll_timeout());
        packets.chain(timers).min()
    }

    fn due_packet(&self, now: Instant) -> Option<usize> {
        self.in_flight
            .iter()
            .enumerate()
            .filter(|(_, p)| p.at <= now)
            .min_by_key(|(_, p)| (p.at, p.seq))
            .map(|(i, _)| i)
    }

    fn drain(&mut self, i: usize) {
        let now = self.now;
        while let Some((member, action)) = self.routers[i].node.poll_action() {
            let event = match action {
                Action::SendAdvert(advert) => {
                    if self.routers[i].alive {
                        self.send(i, &advert);
                    }
                    Event::Sent { member, advert }
                }
                Action::AddAddresses(addresses) => Event::Added { member, addresses },
                Action::RemoveAddresses(addresses) => Event::Removed { member, addresses },
                Action::SendGarp { addresses, repeat } => Event::Garp { member, addresses, repeat },
                Action::SendExtraGarp => Event::ExtraGarp { member },
                Action::StateChanged { from, to, reason } => Event::State { member, from, to, reason },
                Action::LowerPriorityAdvert { from, priority } => Event::LowerPriority { member, from, priority },
            };
            self.routers[i].log.push((now, event));
        }
    }

    fn send(&mut self, from: usize, advert: &Advert) {
        let src = self.routers[from].addr;
        let side = self.routers[from].side;
        for to in 0..self.routers.len() {
            if to == from || self.routers[to].side != side {
                continue;
            }
            if self.rng.chance(self.loss_permille) {
                self.lost += 1;
                continue;
            }
            self.seq += 1;
            self.in_flight.push(InFlight {
                at: self.now + self.delay,
                seq: self.seq,
                to,
                from: src,
                advert: advert.clone(),
            });
        }
    }

    /// Live routers that are master for member slot `member`.
    pub fn masters(&self, member: usize) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].alive && self.routers[i].node.state(member) == State::Master)
            .collect()
    }

    pub fn state(&self, i: usize, member: usize) -> State {
        self.routers[i].node.state(member)
    }

    fn observe(&mut self) {
        let now = self.now;
        let elapsed = now.saturating_duration_since(self.observed_at);
        for m in 0..self.dual_since.len() {
            let n = self.masters(m).len();
            // States only change at observed instants, so the count seen at the previous
            // observation held until now.
            if self.last_counts[m] == 1 {
                self.single_time[m] += elapsed;
            }
            self.last_counts[m] = n;
            if n >= 2 {
                let since = *self.dual_since[m].get_or_insert(now);
                let d = now.duration_since(since);
                if d > self.max_dual[m] {
                    self.max_dual[m] = d;
                }
            } else if let Some(since) = self.dual_since[m].take() {
                let d = now.duration_since(since);
                if d > self.max_dual[m] {
                    self.max_dual[m] = d;
                }
            }
        }
        self.observed_at = now;
    }

    /// Forget dual-master history (e.g. after a deliberate partition).
    pub fn reset_dual_master(&mut self) {
        for m in 0..self.dual_since.len() {
            self.dual_since[m] = None;
            self.max_dual[m] = Duration::ZERO;
            self.single_time[m] = Duration::ZERO;
        }
        self.observed_at = self.now;
        self.observe();
    }

    /// The longest stretch with two or more live masters for slot `member`.
    pub fn max_dual_master(&self, member: usize) -> Duration {
        self.max_dual[member]
    }

    /// Time with exactly one live master since the last reset.
    pub fn single_master_time(&self, member: usize) -> Duration {
        self.single_time[member]
    }

    /// When router i (member slot `member`) last entered `to`, if ever.
    pub fn last_transition_to(&self, i: usize, member: usize, to: State) -> Option<Instant> {
        self.routers[i].log.iter().rev().find_map(|(at, e)| match e {
            Event::State { member: m, to: t, .. } if *m == member && *t == to => Some(*at),
            _ => None,
        })
    }

    /// Router i's events in [from, to) seconds.
    pub fn events_between(&self, i: usize, from: f64, to: f64) -> Vec<(f64, Event)> {
        let (a, b) = (self.at(from), self.at(to));
        self.routers[i]
            .log
            .iter()
            .filter(|(at, _)| *at >= a && *at < b)
            .map(|(at, e)| (self.t(*at), e.clone()))
            .collect()
    }
}
