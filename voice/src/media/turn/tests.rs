//! The relay glue against `turn-server-proto` (a sans-IO TURN server) in virtual time: no
//! socket, no sleep. The harness is the network between the client, the server and one peer.

use std::collections::VecDeque;

use turn_server_proto::api::{TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer;

use super::*;

const REALM: &str = "offhook";

struct Net {
    base: Instant,
    now: Instant,
    relay: Relay,
    server: TurnServer,
    transport: TurnTransport,
    client: SocketAddr,
    listen: SocketAddr,
    /// The relayed address the harness gives the server for the allocation.
    relayed: SocketAddr,
    peer: SocketAddr,
    /// What reached the peer (from the relayed address).
    at_peer: VecDeque<Vec<u8>>,
    /// Every chunk the client wrote, as the server saw it.
    from_client: Vec<Vec<u8>>,
    /// The client's stream, framed as the server reads it (padding dropped).
    server_framer: StreamFramer,
    /// Pieces the server's stream is cut into on the way to the client (TCP), cycling.
    chunking: Vec<usize>,
    chunk_at: usize,
    /// Whether the server answers at all.
    silent: bool,
}

impl Net {
    fn new(transport: TurnTransport, password: &str) -> Net {
        let base = Instant::now();
        let client: SocketAddr = "192.0.2.10:40000".parse().unwrap();
        let listen: SocketAddr = "198.51.100.1:3478".parse().unwrap();
        let ttype = if transport.is_stream() {
            TransportType::Tcp
        } else {
            TransportType::Udp
        };
        let mut server = TurnServer::new(ttype, listen, REALM.into());
        server.add_user("u".into(), "p".into());
        Net {
            base,
            now: base,
            relay: Relay::new(transport, client, listen, "u", password, base),
            server,
            transport,
            client,
            listen,
            relayed: "198.51.100.1:50000".parse().unwrap(),
            peer: "203.0.113.7:16000".parse().unwrap(),
            at_peer: VecDeque::new(),
            from_client: Vec::new(),
            server_framer: StreamFramer::default(),
            chunking: vec![usize::MAX],
            chunk_at: 0,
            silent: false,
        }
    }

    fn at(&self) -> TurnInstant {
        TurnInstant::from_nanos(self.now.duration_since(self.base).as_nanos() as i64)
    }

    fn ttype(&self) -> TransportType {
        if self.transport.is_stream() {
            TransportType::Tcp
        } else {
            TransportType::Udp
        }
    }

    /// Moves bytes until nobody has anything more to say at this instant.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(bytes) = self.relay.poll_transmit() {
                moved = true;
                self.from_client.push(bytes.clone());
                if !self.silent {
                    self.send_to_server(bytes);
                }
            }
            moved |= self.drive_server();
            if !moved {
                return;
            }
        }
        panic!("the exchange never settles");
    }

    fn send_to_server(&mut self, bytes: Vec<u8>) {
        let frames = if self.transport.is_stream() {
            // turn-server-proto reads unpadded frames: the harness drops the padding RFC 8656
            // asks the client for (and which coturn expects).
            self.server_framer.push(&bytes);
            let mut frames = Vec::new();
            while let Some(f) = self.server_framer.next_frame().expect("the client frames") {
                frames.push(f);
            }
            frames
        } else {
            vec![bytes]
        };
        let at = self.at();
        for frame in frames {
            let t = Transmit::new(frame.as_slice(), self.ttype(), self.client, self.listen);
            if let Some(reply) = self.server.recv(t, at) {
                let reply = reply.build();
                self.deliver(reply.data, reply.to);
            }
        }
    }

    fn drive_server(&mut self) -> bool {
        let at = self.at();
        let mut moved = false;
        while let TurnServerPollRet::AllocateSocket {
            transport,
            listen_addr,
            client_addr,
            allocation_transport,
            family,
        } = self.server.poll(at)
        {
            moved = true;
            self.server.allocated_socket(
                transport,
                listen_addr,
                client_addr,
                allocation_transport,
                family,
                Ok(self.relayed),
                at,
            );
        }
        while let Some(t) = self.server.poll_transmit(at) {
            moved = true;
            self.deliver(t.data, t.to);
        }
        moved
    }

    /// Something the server sends: to the client (over its transport) or to the peer.
    fn deliver(&mut self, data: Vec<u8>, to: SocketAddr) {
        if to == self.peer {
            self.at_peer.push_back(data);
            return;
        }
        assert_eq!(
            to, self.client,
            "the server only talks to the client and the peer"
        );
        let now = self.now;
        if !self.transport.is_stream() {
            self.relay.handle_input(&data, now);
            return;
        }
        // coturn pads ChannelData on streams (RFC 8656 §12.5); turn-server-proto does not.
        let data = pad_for_stream(data);
        let mut rest = data.as_slice();
        while !rest.is_empty() {
            let n = self.chunking[self.chunk_at % self.chunking.len()].min(rest.len());
            self.chunk_at += 1;
            self.relay.handle_input(&rest[..n], now);
            rest = &rest[n..];
        }
    }

    /// A datagram from the peer to the relayed address.
    fn peer_sends(&mut self, data: &[u8]) {
        let t = Transmit::new(data, TransportType::Udp, self.peer, self.relayed);
        let at = self.at();
        if let Some(out) = self.server.recv(t, at) {
            let out = out.build();
            self.deliver(out.data, out.to);
        }
        self.pump();
    }

    /// Advances virtual time to the relay's next deadline (at most to `limit`), running it.
    fn advance(&mut self, limit: Instant) -> bool {
        let Some(next) = self.relay.poll_timeout() else {
            return false;
        };
        if next > limit {
            self.now = limit;
            return false;
        }
        self.now = next.max(self.now);
        self.relay.handle_timeout(self.now);
        self.pump();
        true
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.advance(end) {}
        self.now = end;
        self.relay.handle_timeout(self.now);
        self.pump();
    }

    /// Lets the requests that are spaced out go (the client keeps 50 ms between requests).
    fn settle(&mut self) {
        self.run_for(Duration::from_millis(300));
    }

    fn events(&mut self) -> Vec<RelayEvent> {
        std::iter::from_fn(|| self.relay.poll_event()).collect()
    }

    /// Runs until the allocation is made (the client spaces its requests 50 ms apart).
    fn allocate(&mut self) -> SocketAddr {
        self.pump();
        let end = self.now + Duration::from_secs(1);
        while self.relay.is_allocating() && self.advance(end) {}
        let events = self.events();
        assert_eq!(events, vec![RelayEvent::Allocated(self.relayed)]);
        self.relay.relayed().expect("allocated")
    }
}

/// An SRTP-sized datagram whose length is not a multiple of four.
fn datagram(tag: u8) -> Vec<u8> {
    let mut d = vec![0x80u8, 0x00];
    d.extend(std::iter::repeat_n(tag, 180));
    d
}

fn relay_round_trip(transport: TurnTransport, chunking: Vec<usize>) {
    let mut net = Net::new(transport, "p");
    net.chunking = chunking;
    assert_eq!(net.allocate(), net.relayed);
    assert_eq!(net.relay.local(), net.client);
    assert_eq!(net.relay.server(), net.listen);

    // The first datagrams wait for the channel (and its permission), then go.
    let peer = net.peer;
    net.relay.send(peer, &datagram(1), net.now);
    net.relay.send(peer, &datagram(2), net.now);
    net.settle();
    assert_eq!(
        net.at_peer.drain(..).collect::<Vec<_>>(),
        vec![datagram(1), datagram(2)]
    );
    // Later ones go at once, in ChannelData (a 4-byte header, padded on streams).
    let sent_before = net.from_client.len();
    net.relay.send(peer, &datagram(3), net.now);
    net.pump();
    assert_eq!(net.at_peer.pop_front(), Some(datagram(3)));
    let last = &net.from_client[sent_before];
    assert_eq!(last[0] >> 6, 1, "ChannelData");
    assert_eq!(u16::from_be_bytes([last[2], last[3]]) as usize, 182);
    let wire_len = if transport.is_stream() { 188 } else { 186 };
    assert_eq!(last.len(), wire_len);

    // And the peer's answers come out as the peer's.
    net.peer_sends(&datagram(9));
    assert_eq!(net.relay.poll_received(), Some((peer, datagram(9))));
    assert_eq!(net.relay.poll_received(), None);

    // The end of the call releases the allocation: a Refresh with a lifetime of 0.
    net.relay.release(net.now);
    net.pump();
    assert_eq!(net.events(), vec![RelayEvent::Released]);
    assert!(net.relay.is_done());
    let late = datagram(10);
    let t = Transmit::new(late.as_slice(), TransportType::Udp, net.peer, net.relayed);
    assert!(
        net.server.recv(t, net.at()).is_none(),
        "the server forwards nothing once the allocation is gone"
    );
}

#[test]
fn udp_relay_allocates_binds_relays_and_releases() {
    relay_round_trip(TurnTransport::Udp, vec![usize::MAX]);
}

#[test]
fn tcp_relay_frames_and_pads_the_stream_in_any_pieces() {
    relay_round_trip(TurnTransport::Tcp, vec![usize::MAX]);
    relay_round_trip(TurnTransport::Tcp, vec![1, 3, 7, 2, 64]);
    // TLS is TCP to the relay: the shell does the TLS.
    relay_round_trip(TurnTransport::Tls, vec![5, 1, 200]);
}

#[test]
fn a_long_call_keeps_its_allocation_permission_and_channel() {
    for transport in [TurnTransport::Udp, TurnTransport::Tcp] {
        let mut net = Net::new(transport, "p");
        net.allocate();
        let peer = net.peer;
        net.relay.send(peer, &datagram(1), net.now);
        net.settle();
        assert_eq!(net.at_peer.pop_front(), Some(datagram(1)));
        // Two hours: the server grants 30 minutes to the allocation, 10 to channels and 5 to
        // permissions; the relay refreshes them all.
        for minute in 0..120 {
            net.run_for(Duration::from_secs(60));
            net.relay.send(peer, &datagram(minute as u8), net.now);
            net.settle();
            assert_eq!(
                net.at_peer.pop_front(),
                Some(datagram(minute as u8)),
                "{transport:?}, minute {minute}"
            );
            net.peer_sends(&datagram(0xEE));
            assert_eq!(net.relay.poll_received(), Some((peer, datagram(0xEE))));
        }
        assert_eq!(net.events(), vec![], "no failure in two hours");
        // The requests that kept them: STUN request types are the methods themselves.
        let requests = |method: u16| {
            net.from_client
                .iter()
                .filter(|b| b.len() >= 20 && u16::from_be_bytes([b[0], b[1]]) == method)
                .count()
        };
        // The client asks for 30 minutes, which the server grants.
        assert!(requests(0x0004) >= 3, "Refresh: {}", requests(0x0004));
        assert!(
            requests(0x0008) + requests(0x0009) >= 24,
            "CreatePermission {} + ChannelBind {}",
            requests(0x0008),
            requests(0x0009)
        );
        assert!(net.relay.relayed().is_some());
    }
}

#[test]
fn refused_credentials_are_named_with_the_servers_code_at_once() {
    for transport in [TurnTransport::Udp, TurnTransport::Tcp] {
        let mut net = Net::new(transport, "wrong");
        net.pump();
        // The challenge, then the request with the credentials 50 ms later, refused.
        net.run_for(Duration::from_millis(100));
        let events = net.events();
        let [RelayEvent::Failed(why)] = events.as_slice() else {
            panic!("{transport:?}: {events:?}");
        };
        assert!(
            why.contains("refused the credentials") && why.contains("401"),
            "{transport:?}: {why}"
        );
        assert!(net.relay.is_done() && net.relay.relayed().is_none());
        assert_eq!(net.relay.poll_timeout(), None, "nothing more to wait for");
    }
}

#[test]
fn a_silent_server_is_given_up_within_four_seconds() {
    for transport in [TurnTransport::Udp, TurnTransport::Tcp] {
        let mut net = Net::new(transport, "p");
        net.silent = true;
        net.pump();
        let mut failed_at = None;
        while failed_at.is_none() && net.now < net.base + Duration::from_secs(60) {
            let next = net
                .relay
                .poll_timeout()
                .expect("a deadline while allocating");
            net.now = next;
            net.relay.handle_timeout(net.now);
            net.pump();
            if net.events().iter().any(
                |e| matches!(e, RelayEvent::Failed(why) if why == "no answer from the TURN server"),
            ) {
                failed_at = Some(net.now - net.base);
            }
        }
        let failed_at = failed_at.expect("the allocation fails");
        assert!(
            failed_at <= Duration::from_secs(4),
            "{transport:?}: {failed_at:?}"
        );
        // UDP retransmits the request; TCP sends it once.
        let requests = net.from_client.len();
        match transport {
            TurnTransport::Udp => assert_eq!(requests, RTO_TRANSMITS as usize),
            _ => assert_eq!(requests, 1),
        }
    }
}

#[test]
fn a_lost_connection_or_garbage_fails_the_relay_with_its_reason() {
    let mut net = Net::new(TurnTransport::Tcp, "p");
    net.allocate();
    net.relay
        .connection_lost("the TURN server closed the connection", net.now);
    assert_eq!(
        net.events(),
        vec![RelayEvent::Failed(
            "the TURN server closed the connection".into()
        )]
    );
    let mut net = Net::new(TurnTransport::Tls, "p");
    net.allocate();
    // An RTP packet is no TURN frame.
    net.relay.handle_input(&datagram(1), net.now);
    let events = net.events();
    assert!(
        matches!(events.as_slice(), [RelayEvent::Failed(why)] if why.contains("neither STUN nor ChannelData")),
        "{events:?}"
    );
    // Nothing is sent through a failed relay, and releasing it is harmless.
    net.relay.send(net.peer, &datagram(2), net.now);
    net.relay.release(net.now);
    assert_eq!(net.relay.poll_transmit(), None);
    // A relay whose connection closes while it releases is released.
    let mut net = Net::new(TurnTransport::Tcp, "p");
    net.allocate();
    net.relay.release(net.now);
    net.relay.connection_lost("closed", net.now);
    assert_eq!(net.events(), vec![RelayEvent::Released]);
}

#[test]
fn nothing_is_relayed_before_the_allocation_and_the_waiting_queue_is_bounded() {
    let mut net = Net::new(TurnTransport::Udp, "p");
    net.relay.send(net.peer, &datagram(1), net.now);
    net.pump();
    assert!(net.at_peer.is_empty());
    net.allocate();
    net.silent = true;
    for i in 0..40 {
        net.relay.send(net.peer, &datagram(i), net.now);
    }
    net.silent = false;
    // The channel request was lost: its retransmit installs it, and the newest datagrams go.
    net.run_for(Duration::from_secs(2));
    let got: Vec<Vec<u8>> = net.at_peer.drain(..).collect();
    assert_eq!(got.len(), MAX_WAITING);
    assert_eq!(got.last(), Some(&datagram(39)));
}

#[test]
fn requests_and_their_credentials_are_told_apart() {
    let mut net = Net::new(TurnTransport::Udp, "p");
    let first = net.relay.poll_transmit().unwrap();
    assert_eq!(stun_request(&first).map(|(_, auth)| auth), Some(false));
    net.send_to_server(first);
    net.drive_server();
    net.settle();
    let with_credentials = net.from_client.last().unwrap().clone();
    let (tx, auth) = stun_request(&with_credentials).unwrap();
    assert!(auth);
    assert_eq!(stun_transaction(&with_credentials), Some(tx));
    assert_eq!(stun_request(&datagram(1)), None);
    assert_eq!(stun_request(&with_credentials[..10]), None);
}

#[test]
fn framer_splits_pads_and_refuses() {
    let mut stun = vec![0x01, 0x01, 0x00, 0x04];
    stun.extend_from_slice(&MAGIC_COOKIE);
    stun.extend_from_slice(&[7; 12]);
    stun.extend_from_slice(&[0, 0, 0, 0]);
    let channel = vec![0x40, 0x00, 0x00, 0x03, 1, 2, 3];
    let mut stream = stun.clone();
    stream.extend_from_slice(&pad_for_stream(channel.clone()));
    stream.extend_from_slice(&stun);
    assert_eq!(pad_for_stream(channel.clone()).len(), 8);
    assert_eq!(pad_for_stream(stun.clone()), stun, "STUN is never padded");

    for piece in [1, 2, 5, 100] {
        let mut f = StreamFramer::default();
        let mut frames = Vec::new();
        for chunk in stream.chunks(piece) {
            f.push(chunk);
            while let Some(frame) = f.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, vec![stun.clone(), channel.clone(), stun.clone()]);
        assert_eq!(f.buffered(), 0);
    }

    for garbage in [
        &[0x80u8, 0, 0, 12][..],
        &[0x16, 3, 1, 0, 5, 0, 0, 0],
        &[0xC0],
    ] {
        let mut f = StreamFramer::default();
        f.push(garbage);
        assert!(f.next_frame().is_err(), "{garbage:?}");
    }
    // A STUN header without the magic cookie, or with a length STUN never has.
    let mut f = StreamFramer::default();
    f.push(&[0x01, 0x01, 0x00, 0x04, 1, 2, 3, 4]);
    assert!(f.next_frame().is_err());
    let mut f = StreamFramer::default();
    f.push(&[0x01, 0x01, 0x00, 0x05]);
    assert!(f.next_frame().is_err());
}

#[test]
fn turn_urls_as_rfc_7065_and_twilio_write_them() {
    let url = |s: &str| parse_turn_url(s);
    assert_eq!(
        url("turn:global.turn.twilio.com:3478?transport=udp"),
        Ok(TurnUrl {
            host: "global.turn.twilio.com".into(),
            port: 3478,
            transport: TurnTransport::Udp
        })
    );
    assert_eq!(
        url("turn:global.turn.twilio.com:3478?transport=tcp").map(|u| u.transport),
        Ok(TurnTransport::Tcp)
    );
    assert_eq!(
        url("turns:global.turn.twilio.com:443?transport=tcp"),
        Ok(TurnUrl {
            host: "global.turn.twilio.com".into(),
            port: 443,
            transport: TurnTransport::Tls
        })
    );
    assert_eq!(url("turn:relay.example").map(|u| u.port), Ok(3478));
    assert_eq!(
        url("turns:relay.example").map(|u| (u.port, u.transport)),
        Ok((5349, TurnTransport::Tls))
    );
    assert_eq!(
        url("turn:[2001:db8::1]:3479?transport=TCP"),
        Ok(TurnUrl {
            host: "2001:db8::1".into(),
            port: 3479,
            transport: TurnTransport::Tcp
        })
    );
    assert_eq!(url("turn:[2001:db8::1]").map(|u| u.port), Ok(3478));
    assert_eq!(url("stun:relay.example"), Err(TurnUrlError::NotTurn));
    assert_eq!(url("turn:"), Err(TurnUrlError::NoHost));
    assert_eq!(url("turn::3478"), Err(TurnUrlError::NoHost));
    assert_eq!(url("turn:[::1"), Err(TurnUrlError::NoHost));
    assert_eq!(url("turn:user@host"), Err(TurnUrlError::NoHost));
    assert_eq!(url("turn:host:0"), Err(TurnUrlError::BadPort("0".into())));
    assert_eq!(
        url("turn:host:99999"),
        Err(TurnUrlError::BadPort("99999".into()))
    );
    assert_eq!(url("turn:[::1]x"), Err(TurnUrlError::BadPort("x".into())));
    assert_eq!(
        url("turn:host?transport=sctp"),
        Err(TurnUrlError::BadTransport("sctp".into()))
    );
    assert_eq!(
        url("turn:host?foo=bar"),
        Err(TurnUrlError::BadQuery("foo=bar".into()))
    );
    assert_eq!(url("turns:host:443?transport=udp"), Err(TurnUrlError::Dtls));
}
