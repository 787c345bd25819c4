//! Which address a request really came from: `OFFHOOK_TRUST_PROXY`'s list of trusted
//! proxies and the `X-Forwarded-For` walk.
//!
//! A client can write anything into `X-Forwarded-For`, so the header is believed only when
//! the peer is a trusted proxy, and then only as far as the chain of trusted proxies goes:
//! walking from the right (the entry the nearest proxy appended), trusted proxies are
//! skipped and the first other address is the client. An entry that is not an address
//! stops the walk, and the last trusted hop is used instead (never a panic, never a guess).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

/// An address block: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `192.0.2.0/24`, `2001:db8::/32`, or a bare address (a block of one).
    pub fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address = canonical(address.parse::<IpAddr>().ok()?);
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
        };
        Some(Cidr {
            network: mask(address, prefix),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Nobody: the headers are ignored.
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    /// A proxy or tunnel on this machine (`127.0.0.0/8`, `::1`): what `true` means.
    pub fn loopback() -> Self {
        TrustedProxies(vec![
            Cidr {
                network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                prefix: 8,
            },
            Cidr {
                network: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ])
    }

    /// `false`/`true` (none/loopback), or a comma-separated list of addresses and CIDR
    /// blocks. `Err` names the first entry that is neither.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "false" | "no" | "off" => return Ok(TrustedProxies::none()),
            "1" | "true" | "yes" | "on" => return Ok(TrustedProxies::loopback()),
            _ => {}
        }
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| Cidr::parse(entry).ok_or_else(|| format!("{entry:?} is not an address or CIDR block such as 127.0.0.1 or 10.0.0.0/8; or write true (a proxy on this machine) or false")))
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// Whether `peer` is a trusted proxy (a request with no known peer is not).
    pub fn trusts_peer(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|p| self.trusts(p.ip()))
    }

    /// The client's address: `peer`, or, when `peer` is a trusted proxy, the address
    /// `X-Forwarded-For` names before the chain of trusted proxies.
    pub fn client_ip(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        let peer_ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| canonical(p.ip()));
        if !self.trusts(peer_ip) {
            return peer_ip;
        }
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or("garbage"))
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = peer_ip;
        for entry in entries.iter().rev() {
            let Some(ip) = parse_forwarded_entry(entry) else {
                // Past a hop we cannot read, nothing further left can be believed.
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711` (IPv4-mapped IPv6 becomes IPv4).
pub fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok
            .then(|| inside.parse::<Ipv6Addr>().ok())
            .flatten()
            .map(|ip| canonical(IpAddr::V6(ip)));
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    let (host, port) = entry.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.parse::<u16>().is_ok()
}

/// IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a dual-stack socket reports) as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & kept))
        }
    }
}

/// The block failures are counted by: an IPv4 address alone, an IPv6 address's /64 (one
/// household or office gets a whole /64, and can pick any address in it).
pub fn throttle_group(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        v4 @ IpAddr::V4(_) => v4,
        v6 => mask(v6, 64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip(s), 40000))
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_entries_in_every_spelling() {
        for (entry, expected) in [
            ("192.0.2.1", Some("192.0.2.1")),
            (" 192.0.2.1 ", Some("192.0.2.1")),
            ("192.0.2.1:4711", Some("192.0.2.1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("[2001:db8::1]:4711", Some("2001:db8::1")),
            ("::ffff:192.0.2.7", Some("192.0.2.7")),
            ("[::ffff:192.0.2.7]:1", Some("192.0.2.7")),
            ("", None),
            ("unknown", None),
            ("_hidden", None),
            ("192.0.2.1:", None),
            ("192.0.2.1:99999", None),
            ("192.0.2.1:80:80", None),
            ("[2001:db8::1", None),
            ("[2001:db8::1]x", None),
            ("[192.0.2.1]:80", None),
            ("2001:db8::1:80x", None),
            ("300.1.1.1", None),
            ("\"[2001:db8::1]\"", None),
        ] {
            assert_eq!(parse_forwarded_entry(entry), expected.map(ip), "{entry:?}");
        }
    }

    #[test]
    fn trusted_proxy_lists() {
        assert_eq!(
            TrustedProxies::parse("false").unwrap(),
            TrustedProxies::none()
        );
        assert_eq!(TrustedProxies::parse("").unwrap(), TrustedProxies::none());
        assert_eq!(
            TrustedProxies::parse("TRUE").unwrap(),
            TrustedProxies::loopback()
        );
        let list =
            TrustedProxies::parse("10.0.0.0/8, 192.0.2.1 ,2001:db8::/32,::ffff:198.51.100.9")
                .unwrap();
        for yes in [
            "10.1.2.3",
            "192.0.2.1",
            "2001:db8:1::5",
            "198.51.100.9",
            "::ffff:10.9.9.9",
        ] {
            assert!(list.trusts(ip(yes)), "{yes}");
        }
        for no in ["11.0.0.1", "192.0.2.2", "2001:db9::1", "127.0.0.1", "::1"] {
            assert!(!list.trusts(ip(no)), "{no}");
        }
        let loopback = TrustedProxies::loopback();
        assert!(loopback.trusts(ip("127.0.0.53")) && loopback.trusts(ip("::1")));
        assert!(loopback.trusts(ip("::ffff:127.0.0.1")));
        assert!(!loopback.trusts(ip("192.0.2.1")));
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .trusts(ip("203.0.113.1"))
        );
        for bad in [
            "maybe",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "::/129",
            "10.0.0.0/8, x",
            "10.0.0.1:80",
        ] {
            let err = TrustedProxies::parse(bad).unwrap_err();
            assert!(
                err.contains("is not an address or CIDR block"),
                "{bad}: {err}"
            );
        }
        assert_eq!(Cidr::parse("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    }

    #[test]
    fn the_walk_from_the_right_skips_trusted_proxies_only() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        let from_proxy = peer("127.0.0.1");
        let walk = |values: &[&str]| proxies.client_ip(from_proxy, &xff(values));
        assert_eq!(walk(&["203.0.113.5"]), ip("203.0.113.5"));
        // The client wrote a fake entry first; the proxies appended the truth on the right.
        assert_eq!(walk(&["1.2.3.4, 203.0.113.5, 10.0.0.7"]), ip("203.0.113.5"));
        assert_eq!(
            walk(&["1.2.3.4", "203.0.113.5:5555, 10.0.0.7:80"]),
            ip("203.0.113.5")
        );
        assert_eq!(walk(&["[2001:db8::5]:443"]), ip("2001:db8::5"));
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(walk(&["203.0.113.5, garbage"]), ip("127.0.0.1"));
        assert_eq!(walk(&["203.0.113.5, unknown, 10.0.0.7"]), ip("10.0.0.7"));
        assert_eq!(walk(&[]), ip("127.0.0.1"));
        assert_eq!(walk(&[""]), ip("127.0.0.1"));
        // Every hop trusted: the leftmost is the client.
        assert_eq!(walk(&["10.0.0.1, 10.0.0.2"]), ip("10.0.0.1"));
        // A peer that is no trusted proxy: the header is ignored.
        assert_eq!(
            proxies.client_ip(peer("198.51.100.1"), &xff(&["203.0.113.5"])),
            ip("198.51.100.1")
        );
        assert_eq!(
            TrustedProxies::none().client_ip(from_proxy, &xff(&["203.0.113.5"])),
            ip("127.0.0.1")
        );
        assert_eq!(
            proxies.client_ip(None, &xff(&["203.0.113.5"])),
            ip("0.0.0.0")
        );
        // A dual-stack socket reports IPv4 peers mapped.
        assert_eq!(
            proxies.client_ip(peer("::ffff:127.0.0.1"), &xff(&["203.0.113.5"])),
            ip("203.0.113.5")
        );
        let mut not_text = HeaderMap::new();
        not_text.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"203.0.113.5\xff").unwrap(),
        );
        assert_eq!(proxies.client_ip(from_proxy, &not_text), ip("127.0.0.1"));
    }

    #[test]
    fn throttle_groups() {
        assert_eq!(throttle_group(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_ne!(
            throttle_group(ip("192.0.2.1")),
            throttle_group(ip("192.0.2.2"))
        );
        assert_eq!(throttle_group(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(
            throttle_group(ip("2001:db8:1:2:aaaa::1")),
            throttle_group(ip("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_eq!(
            throttle_group(ip("2001:db8:1:2:aaaa::1")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(
            throttle_group(ip("2001:db8:1:2::1")),
            throttle_group(ip("2001:db8:1:3::1"))
        );
    }
}
