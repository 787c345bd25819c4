//! Host candidates: the addresses of every usable interface, IPv4 and IPv6 (from `if-addrs`),
//! not only the family that signaling happened to resolve to. Twilio's media gateways are
//! IPv4, so a handset on an IPv6-first network still needs its IPv4 address offered, and the
//! other way round for a peer on IPv6.
//!
//! Left out: interfaces that are down; loopback, unless the peer (the signaling server) is
//! itself on loopback (a lab on the same machine); link-local addresses (IPv6 `fe80::/10`,
//! IPv4 `169.254/16`), which reach no further than the link and need a scope; and what no
//! peer can send to (unspecified, multicast, broadcast).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// At most this many host candidates (each is a socket and a column of ICE checks).
pub const MAX_HOST_ADDRESSES: usize = 8;

/// Whether an interface address can be a host candidate, given whether loopback is wanted.
pub fn usable(ip: IpAddr, loopback_ok: bool) -> bool {
    if ip.is_loopback() {
        return loopback_ok;
    }
    match ip {
        IpAddr::V4(v4) => {
            !v4.is_unspecified() && !v4.is_link_local() && !v4.is_multicast() && !v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            !v6.is_unspecified()
                && !v6.is_multicast()
                && !is_v6_link_local(v6)
                && v6.to_ipv4_mapped().is_none()
        }
    }
}

fn is_v6_link_local(v6: Ipv6Addr) -> bool {
    (v6.segments()[0] & 0xffc0) == 0xfe80
}

/// The usable addresses among `addrs` (interface addresses, with whether the interface is
/// up), toward a peer at `peer`: each once, IPv4 first, at most [`MAX_HOST_ADDRESSES`].
pub fn select(addrs: impl IntoIterator<Item = (IpAddr, bool)>, peer: IpAddr) -> Vec<IpAddr> {
    let loopback_ok = peer.is_loopback();
    let mut out: Vec<IpAddr> = Vec::new();
    for (ip, up) in addrs {
        if up && usable(ip, loopback_ok) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    // Stable: each family keeps the system's order.
    out.sort_by_key(|ip| ip.is_ipv6());
    out.truncate(MAX_HOST_ADDRESSES);
    out
}

/// This host's usable addresses toward `peer`. If the interfaces cannot be listed, the one
/// address the kernel would use to reach `peer`.
pub fn host_addresses(peer: IpAddr) -> Vec<IpAddr> {
    match usable_addresses(peer) {
        Ok(addrs) => addrs,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the network interfaces; offering the route's address only");
            vec![local_ip_towards(peer)]
        }
    }
}

/// This host's usable addresses toward `peer` ([`select`] on the interface list).
pub fn usable_addresses(peer: IpAddr) -> std::io::Result<Vec<IpAddr>> {
    let list = if_addrs::get_if_addrs()?;
    let addrs = list.into_iter().map(|i| {
        // Loopback reports "unknown", as do some drivers: only a known "down" (or a lower
        // layer down, or absent) is down.
        let up = !matches!(
            i.oper_status,
            if_addrs::IfOperStatus::Down
                | if_addrs::IfOperStatus::LowerLayerDown
                | if_addrs::IfOperStatus::NotPresent
        );
        (i.ip(), up)
    });
    Ok(select(addrs, peer))
}

/// Every address of every interface, whatever its state or scope.
pub fn all_addresses() -> std::io::Result<Vec<IpAddr>> {
    Ok(if_addrs::get_if_addrs()?.iter().map(|i| i.ip()).collect())
}

/// Which of our addresses the kernel would use to reach `target` (no packet is sent);
/// loopback if there is no route.
pub fn local_ip_towards(target: IpAddr) -> IpAddr {
    route_source(target).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Which of our addresses the kernel would use to reach `target` (no packet is sent), or
/// `None` without a route.
pub fn route_source(target: IpAddr) -> Option<IpAddr> {
    let probe = || -> std::io::Result<IpAddr> {
        let bind: IpAddr = if target.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let s = std::net::UdpSocket::bind((bind, 0))?;
        s.connect((target, 9))?;
        Ok(s.local_addr()?.ip())
    };
    probe().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_usable_family_and_no_link_local() {
        let addrs = [
            (ip("127.0.0.1"), true),
            (ip("::1"), true),
            (ip("192.0.2.2"), true),
            (ip("fd00::2"), true),
            (ip("fe80::fc:ff:fe00:1"), true),
            (ip("169.254.3.4"), true),
            (ip("2001:db8::5"), true),
            (ip("198.51.100.9"), false),
            (ip("192.0.2.2"), true),
            (ip("::ffff:192.0.2.7"), true),
            (ip("0.0.0.0"), true),
        ];
        assert_eq!(
            select(addrs, ip("203.0.113.1")),
            vec![ip("192.0.2.2"), ip("fd00::2"), ip("2001:db8::5")],
            "IPv4 first, IPv6 too, no loopback toward a public peer, no down interface"
        );
        assert_eq!(
            select(addrs, ip("127.0.0.1")),
            vec![
                ip("127.0.0.1"),
                ip("192.0.2.2"),
                ip("::1"),
                ip("fd00::2"),
                ip("2001:db8::5")
            ],
            "loopback too toward a peer on loopback"
        );
        assert_eq!(
            select(addrs, ip("2001:db8::1")),
            select(addrs, ip("203.0.113.1")),
            "the peer's family does not narrow the families offered"
        );
    }

    #[test]
    fn at_most_a_few() {
        let many = (1..=20).map(|i| (IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)), true));
        assert_eq!(select(many, ip("203.0.113.1")).len(), MAX_HOST_ADDRESSES);
    }

    #[test]
    fn this_host_offers_loopback_only_toward_loopback() {
        let toward_lab = host_addresses(ip("127.0.0.1"));
        assert!(toward_lab.contains(&ip("127.0.0.1")), "{toward_lab:?}");
        let toward_public = host_addresses(ip("192.0.2.200"));
        assert!(
            toward_public.iter().all(|a| !a.is_loopback()),
            "{toward_public:?}"
        );
    }
}
