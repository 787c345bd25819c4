//! Network changes during a call, sans-IO: has the network the candidates were gathered on
//! changed enough to gather again and restart ICE, and is the path the media takes gone?
//!
//! The shell ([`super::task`]) takes a [`Snapshot`] every [`POLL_INTERVAL`] (the usable
//! interface addresses, as [`super::interfaces::select`] picks them, and the address the
//! kernel would send from toward the signaling server: the default route's) and tells the
//! watch which local address the media's selected pair uses. The watch compares each
//! snapshot with the one the candidates were gathered on:
//!
//! - the same: nothing to do;
//! - no usable address, or no route: the network is down; nothing to do until one is up
//!   (a restart now could offer nothing that works);
//! - different (an address appeared or went, the default route moved to another source
//!   address, DHCP renewed with a new address): once the difference has held for
//!   [`SETTLE`] (a DHCP renewal or an `ip` script changes several things in a row), a
//!   [`NetworkChange`] is reported, and the new snapshot becomes the reference. It says
//!   whether the media's path is lost: its local address is gone, or the default route no
//!   longer leaves from it.
//!
//! A restart gathers on the network as it is then; [`NetWatch::rebase`] takes that as the
//! new reference.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How often the shell looks at the interfaces.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a difference must hold before it is reported (the next look comes this soon).
pub const SETTLE: Duration = Duration::from_millis(250);

/// The network as the call sees it at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The usable interface addresses (host candidates are made on them).
    pub addresses: Vec<IpAddr>,
    /// The source address of the route toward the signaling server (`None`: no route).
    pub route: Option<IpAddr>,
}

impl Snapshot {
    pub fn new(mut addresses: Vec<IpAddr>, route: Option<IpAddr>) -> Snapshot {
        addresses.sort();
        addresses.dedup();
        Snapshot { addresses, route }
    }

    /// Whether the call could reach anything from here.
    fn is_up(&self) -> bool {
        self.route.is_some() && !self.addresses.is_empty()
    }
}

/// A change worth an ICE restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkChange {
    /// The selected pair's local address is gone, or the default route left it: the media
    /// has no path until the restart gives it one.
    pub path_lost: bool,
}

#[derive(Debug)]
pub struct NetWatch {
    /// What the candidates were gathered on (or the last change reported).
    reference: Snapshot,
    /// The local address of the media's selected pair (a host socket's, or the connection
    /// to the TURN server of a relayed one), once media flows.
    path: Option<IpAddr>,
    /// A difference seen, and since when, waiting to hold for [`SETTLE`].
    pending: Option<(Snapshot, Instant)>,
    next: Instant,
}

impl NetWatch {
    /// Watching from `gathered_on`, the network the candidates were gathered on.
    pub fn new(gathered_on: Snapshot, now: Instant) -> NetWatch {
        NetWatch {
            reference: Snapshot::new(gathered_on.addresses, gathered_on.route),
            path: None,
            pending: None,
            next: now + POLL_INTERVAL,
        }
    }

    /// When the shell must take the next snapshot.
    pub fn poll_timeout(&self) -> Instant {
        self.next
    }

    /// The local address the media now leaves from.
    pub fn set_path(&mut self, local: Option<IpAddr>) {
        self.path = local;
    }

    pub fn path(&self) -> Option<IpAddr> {
        self.path
    }

    /// The candidates were gathered again, on `snapshot`.
    pub fn rebase(&mut self, snapshot: Snapshot, now: Instant) {
        self.reference = Snapshot::new(snapshot.addresses, snapshot.route);
        self.pending = None;
        self.next = now + POLL_INTERVAL;
    }

    /// A snapshot taken at `now`: a change once it has held for [`SETTLE`].
    pub fn observe(&mut self, snapshot: Snapshot, now: Instant) -> Option<NetworkChange> {
        let snapshot = Snapshot::new(snapshot.addresses, snapshot.route);
        self.next = now + POLL_INTERVAL;
        if snapshot == self.reference || !snapshot.is_up() {
            self.pending = None;
            return None;
        }
        match &self.pending {
            Some((seen, since)) if *seen == snapshot => {
                if now.saturating_duration_since(*since) < SETTLE {
                    self.next = *since + SETTLE;
                    return None;
                }
            }
            _ => {
                self.pending = Some((snapshot, now));
                self.next = now + SETTLE;
                return None;
            }
        }
        let path_lost = self.path.is_some_and(|local| {
            let gone = !snapshot.addresses.contains(&local);
            // The default route now leaves from another address of the same family: what
            // the path sends would go out with a source the new way does not expect.
            let rerouted = snapshot.route != self.reference.route
                && snapshot
                    .route
                    .is_some_and(|r| r != local && r.is_ipv4() == local.is_ipv4());
            gone || rerouted
        });
        self.reference = snapshot;
        self.pending = None;
        Some(NetworkChange { path_lost })
    }
}

/// Whether a connection's local address `local` is still one of this host's (`all`: every
/// interface address, loopback and link-local included). A connection whose address is
/// gone is dead, though the kernel will not say so until its timeouts run out.
pub fn address_gone(local: IpAddr, all: &[IpAddr]) -> bool {
    let local = canonical(local);
    if local.is_unspecified() {
        return false;
    }
    !all.iter().any(|a| canonical(*a) == local)
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket's view of IPv4) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn snap(addrs: &[&str], route: Option<&str>) -> Snapshot {
        Snapshot::new(addrs.iter().map(|a| ip(a)).collect(), route.map(ip))
    }

    /// Feeds snapshots at the watch's own deadlines until it reports or `limit` passes.
    fn run(
        w: &mut NetWatch,
        s: &Snapshot,
        now: &mut Instant,
        limit: Duration,
    ) -> Option<NetworkChange> {
        let end = *now + limit;
        while *now < end {
            *now = w.poll_timeout();
            if let Some(c) = w.observe(s.clone(), *now) {
                return Some(c);
            }
        }
        None
    }

    #[test]
    fn the_same_network_in_any_order_is_no_change() {
        let t0 = Instant::now();
        let base = snap(&["192.0.2.2", "2001:db8::2"], Some("192.0.2.2"));
        let mut w = NetWatch::new(base, t0);
        w.set_path(Some(ip("192.0.2.2")));
        assert_eq!(w.poll_timeout(), t0 + POLL_INTERVAL);
        let mut now = t0;
        let same = snap(
            &["2001:db8::2", "192.0.2.2", "192.0.2.2"],
            Some("192.0.2.2"),
        );
        assert_eq!(run(&mut w, &same, &mut now, Duration::from_secs(10)), None);
        assert_eq!(
            w.poll_timeout(),
            now + POLL_INTERVAL,
            "polled once a second"
        );
    }

    #[test]
    fn a_new_address_after_the_old_went_is_a_lost_path_once_settled() {
        let t0 = Instant::now();
        let mut w = NetWatch::new(snap(&["10.1.0.2"], Some("10.1.0.2")), t0);
        w.set_path(Some(ip("10.1.0.2")));
        // DHCP: the old address goes, the new one comes.
        let renewed = snap(&["10.2.0.2"], Some("10.2.0.2"));
        let first = w.poll_timeout();
        assert_eq!(
            w.observe(renewed.clone(), first),
            None,
            "not before it settles"
        );
        assert_eq!(w.poll_timeout(), first + SETTLE, "looked at again soon");
        assert_eq!(
            w.observe(renewed.clone(), first + SETTLE),
            Some(NetworkChange { path_lost: true })
        );
        // Reported once: the new network is the reference now.
        let mut now = first + SETTLE;
        assert_eq!(
            run(&mut w, &renewed, &mut now, Duration::from_secs(5)),
            None
        );
    }

    #[test]
    fn a_network_still_changing_is_reported_once_it_holds() {
        let t0 = Instant::now();
        let mut w = NetWatch::new(snap(&["10.1.0.2"], Some("10.1.0.2")), t0);
        w.set_path(Some(ip("10.1.0.2")));
        let mut now = w.poll_timeout();
        // Both addresses for a moment, then only the new one.
        assert_eq!(
            w.observe(snap(&["10.1.0.2", "10.2.0.2"], Some("10.1.0.2")), now),
            None
        );
        now += SETTLE;
        assert_eq!(w.observe(snap(&["10.2.0.2"], Some("10.2.0.2")), now), None);
        now += SETTLE;
        assert_eq!(
            w.observe(snap(&["10.2.0.2"], Some("10.2.0.2")), now),
            Some(NetworkChange { path_lost: true })
        );
    }

    #[test]
    fn no_address_or_no_route_waits_for_the_new_network() {
        let t0 = Instant::now();
        let mut w = NetWatch::new(snap(&["10.1.0.2"], Some("10.1.0.2")), t0);
        w.set_path(Some(ip("10.1.0.2")));
        let mut now = t0;
        // The old address deleted, nothing yet in its place.
        assert_eq!(
            run(&mut w, &snap(&[], None), &mut now, Duration::from_secs(5)),
            None
        );
        // The new address, but the route is not fixed yet.
        let no_route = snap(&["10.2.0.2"], None);
        assert_eq!(
            run(&mut w, &no_route, &mut now, Duration::from_secs(5)),
            None
        );
        // The route: the network is up, and the change is reported within a poll and a settle.
        let up_at = now;
        let up = snap(&["10.2.0.2"], Some("10.2.0.2"));
        assert_eq!(
            run(&mut w, &up, &mut now, Duration::from_secs(5)),
            Some(NetworkChange { path_lost: true })
        );
        assert!(now - up_at <= POLL_INTERVAL + SETTLE, "{:?}", now - up_at);
    }

    #[test]
    fn a_back_and_forth_that_ends_where_it_began_is_no_change() {
        let t0 = Instant::now();
        let base = snap(&["10.1.0.2"], Some("10.1.0.2"));
        let mut w = NetWatch::new(base.clone(), t0);
        let now = w.poll_timeout();
        assert_eq!(
            w.observe(snap(&["10.1.0.2", "10.9.0.2"], Some("10.1.0.2")), now),
            None
        );
        assert_eq!(w.observe(base, now + SETTLE), None);
        assert_eq!(w.poll_timeout(), now + SETTLE + POLL_INTERVAL);
    }

    #[test]
    fn a_new_address_beside_the_path_keeps_the_path() {
        let t0 = Instant::now();
        let mut w = NetWatch::new(snap(&["10.1.0.2"], Some("10.1.0.2")), t0);
        w.set_path(Some(ip("10.1.0.2")));
        let mut now = t0;
        let plus = snap(&["10.1.0.2", "2001:db8::7"], Some("10.1.0.2"));
        assert_eq!(
            run(&mut w, &plus, &mut now, Duration::from_secs(5)),
            Some(NetworkChange { path_lost: false })
        );
    }

    #[test]
    fn the_default_route_moving_to_another_address_loses_the_path() {
        let t0 = Instant::now();
        let both = ["10.1.0.2", "10.3.0.2"];
        let mut w = NetWatch::new(snap(&both, Some("10.1.0.2")), t0);
        w.set_path(Some(ip("10.1.0.2")));
        let mut now = t0;
        let moved = snap(&both, Some("10.3.0.2"));
        assert_eq!(
            run(&mut w, &moved, &mut now, Duration::from_secs(5)),
            Some(NetworkChange { path_lost: true })
        );
        // Another change that leaves the path where the route is: kept.
        w.set_path(Some(ip("10.3.0.2")));
        let more = snap(&["10.1.0.2", "10.3.0.2", "10.4.0.2"], Some("10.3.0.2"));
        assert_eq!(
            run(&mut w, &more, &mut now, Duration::from_secs(5)),
            Some(NetworkChange { path_lost: false })
        );
    }

    #[test]
    fn an_ipv6_path_is_not_lost_to_an_ipv4_route_change() {
        let t0 = Instant::now();
        let mut w = NetWatch::new(snap(&["10.1.0.2", "2001:db8::2"], Some("10.1.0.2")), t0);
        w.set_path(Some(ip("2001:db8::2")));
        let mut now = t0;
        let moved = snap(&["10.5.0.2", "2001:db8::2"], Some("10.5.0.2"));
        assert_eq!(
            run(&mut w, &moved, &mut now, Duration::from_secs(5)),
            Some(NetworkChange { path_lost: false })
        );
    }

    #[test]
    fn before_media_flows_no_path_is_lost() {
        let t0 = Instant::now();
        let mut w = NetWatch::new(snap(&["10.1.0.2"], Some("10.1.0.2")), t0);
        let mut now = t0;
        assert_eq!(
            run(
                &mut w,
                &snap(&["10.2.0.2"], Some("10.2.0.2")),
                &mut now,
                Duration::from_secs(5)
            ),
            Some(NetworkChange { path_lost: false })
        );
    }

    #[test]
    fn a_rebase_takes_the_network_gathered_on() {
        let t0 = Instant::now();
        let mut w = NetWatch::new(snap(&["10.1.0.2"], Some("10.1.0.2")), t0);
        let now = w.poll_timeout();
        let new = snap(&["10.2.0.2"], Some("10.2.0.2"));
        assert_eq!(w.observe(new.clone(), now), None);
        w.rebase(new.clone(), now);
        let mut at = now;
        assert_eq!(run(&mut w, &new, &mut at, Duration::from_secs(5)), None);
    }

    #[test]
    fn a_connection_whose_address_is_gone() {
        let all = [ip("127.0.0.1"), ip("10.2.0.2"), ip("fe80::1")];
        assert!(!address_gone(ip("10.2.0.2"), &all));
        assert!(!address_gone(ip("::ffff:10.2.0.2"), &all));
        assert!(!address_gone(ip("127.0.0.1"), &all));
        assert!(address_gone(ip("10.1.0.2"), &all));
        assert!(address_gone(ip("2001:db8::2"), &all));
        assert!(!address_gone(ip("0.0.0.0"), &all), "unknown: not gone");
    }
}
