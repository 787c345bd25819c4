//! Server-reflexive candidates from STUN servers (the `ice_servers` option's `stun:` URLs):
//! one Binding request (RFC 5389) from the call's own socket, answered with the address the
//! server saw. Twilio's gateway is ICE-lite on a public address and learns our address from
//! our checks anyway, so this only matters on networks that rewrite ports oddly; it is best
//! effort and never holds a call up for long.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const MAGIC_COOKIE: u32 = 0x2112_A442;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const MAPPED_ADDRESS: u16 = 0x0001;

/// The host and port of a `stun:host[:port]` URL (default port 3478). Anything else —
/// `turn:`, `turns:`, `stuns:` (STUN over TLS, which this does not speak) — is `None`.
pub fn stun_server(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("stun:")?;
    let rest = rest.split('?').next().unwrap_or(rest);
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, tail) = v6.split_once(']')?;
        let port = tail
            .strip_prefix(':')
            .map_or(Some(3478), |p| p.parse().ok())?;
        return Some((host.to_string(), port));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((rest.to_string(), 3478)),
    }
}

/// A Binding request with this transaction id.
pub fn binding_request(transaction: [u8; 12]) -> Vec<u8> {
    let mut m = Vec::with_capacity(20);
    m.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(&transaction);
    m
}

/// The mapped address in a Binding success response to `transaction`, if `data` is one.
pub fn parse_binding_response(data: &[u8], transaction: [u8; 12]) -> Option<SocketAddr> {
    if data.len() < 20 {
        return None;
    }
    let kind = u16::from_be_bytes([data[0], data[1]]);
    let len = u16::from_be_bytes([data[2], data[3]]) as usize;
    if kind != BINDING_SUCCESS
        || data[4..8] != MAGIC_COOKIE.to_be_bytes()
        || data[8..20] != transaction
    {
        return None;
    }
    let attrs = data.get(20..20 + len)?;
    let mut pos = 0;
    let mut plain = None;
    while pos + 4 <= attrs.len() {
        let t = u16::from_be_bytes([attrs[pos], attrs[pos + 1]]);
        let l = u16::from_be_bytes([attrs[pos + 2], attrs[pos + 3]]) as usize;
        let value = attrs.get(pos + 4..pos + 4 + l)?;
        match t {
            XOR_MAPPED_ADDRESS => return decode_address(value, Some(&data[4..20])),
            MAPPED_ADDRESS => plain = decode_address(value, None),
            _ => {}
        }
        pos += 4 + l.div_ceil(4) * 4;
    }
    plain
}

fn decode_address(v: &[u8], xor: Option<&[u8]>) -> Option<SocketAddr> {
    if v.len() < 8 {
        return None;
    }
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match v[1] {
        0x01 => {
            let mut b = [v[4], v[5], v[6], v[7]];
            if let Some(x) = xor {
                for (i, byte) in b.iter_mut().enumerate() {
                    *byte ^= x[i];
                }
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        0x02 if v.len() >= 20 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&v[4..20]);
            if let Some(x) = xor {
                for (i, byte) in b.iter_mut().enumerate() {
                    *byte ^= x[i];
                }
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Asks each STUN server in turn (from the call's socket) for our public address; the first
/// answer wins. Gives up on a server after `timeout`.
pub async fn reflexive_address(
    socket: &UdpSocket,
    urls: &[String],
    timeout: Duration,
) -> Option<SocketAddr> {
    for url in urls {
        let Some((host, port)) = stun_server(url) else {
            continue;
        };
        let Ok(mut addrs) = tokio::net::lookup_host((host.as_str(), port)).await else {
            tracing::warn!(%url, "cannot resolve the STUN server");
            continue;
        };
        let want_v4 = socket.local_addr().map(|a| a.is_ipv4()).unwrap_or(true);
        let Some(server) = addrs.find(|a| a.is_ipv4() == want_v4) else {
            continue;
        };
        let transaction: [u8; 12] = rand::random();
        if socket
            .send_to(&binding_request(transaction), server)
            .await
            .is_err()
        {
            continue;
        }
        let mut buf = [0u8; 512];
        let answer = tokio::time::timeout(timeout, async {
            loop {
                let (n, from) = socket.recv_from(&mut buf).await.ok()?;
                if from == server
                    && let Some(mapped) = parse_binding_response(&buf[..n], transaction)
                {
                    return Some(mapped);
                }
            }
        })
        .await;
        if let Ok(Some(mapped)) = answer {
            return Some(mapped);
        }
        tracing::warn!(%url, "no answer from the STUN server");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            stun_server("stun:stun.example.com"),
            Some(("stun.example.com".into(), 3478))
        );
        assert_eq!(
            stun_server("stun:1.2.3.4:19302"),
            Some(("1.2.3.4".into(), 19302))
        );
        assert_eq!(stun_server("stun:[::1]:5000"), Some(("::1".into(), 5000)));
        assert_eq!(stun_server("turn:turn.example.com"), None);
        assert_eq!(stun_server("stun:host:notaport"), None);
    }

    /// A response as a STUN server builds it (RFC 5389 §15.2, XOR-MAPPED-ADDRESS).
    fn response(transaction: [u8; 12], addr: SocketAddr) -> Vec<u8> {
        let SocketAddr::V4(v4) = addr else { panic!() };
        let mut attr = vec![0u8, 0x01];
        attr.extend_from_slice(&(v4.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes());
        let ip = u32::from(*v4.ip()) ^ MAGIC_COOKIE;
        attr.extend_from_slice(&ip.to_be_bytes());
        let mut m = Vec::new();
        m.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
        m.extend_from_slice(&((attr.len() + 4) as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&transaction);
        m.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
        m.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        m.extend_from_slice(&attr);
        m
    }

    #[test]
    fn parses_what_servers_answer_and_refuses_the_rest() {
        let t = [7u8; 12];
        let addr: SocketAddr = "203.0.113.9:61000".parse().unwrap();
        assert_eq!(parse_binding_response(&response(t, addr), t), Some(addr));
        assert_eq!(
            parse_binding_response(&response(t, addr), [8u8; 12]),
            None,
            "other transaction"
        );
        assert_eq!(
            parse_binding_response(&binding_request(t), t),
            None,
            "a request is no answer"
        );
        assert_eq!(parse_binding_response(&[0u8; 3], t), None);
        let mut truncated = response(t, addr);
        truncated.truncate(26);
        assert_eq!(parse_binding_response(&truncated, t), None);
    }

    #[tokio::test]
    async fn asks_a_local_stun_server() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = server.recv_from(&mut buf).await {
                if n >= 20 {
                    let mut t = [0u8; 12];
                    t.copy_from_slice(&buf[8..20]);
                    let _ = server.send_to(&response(t, from), from).await;
                }
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let urls = vec![
            "stun:127.0.0.1:1".to_string(),
            format!("stun:{server_addr}"),
        ];
        let mapped = reflexive_address(&client, &urls, Duration::from_millis(300)).await;
        assert_eq!(mapped, Some(client.local_addr().unwrap()));
    }
}
