//! The server's limits on real loopback sockets: slow clients are cut off, the connection
//! cap holds, a flood of logins does not starve Twilio's webhooks, and `X-Forwarded-For`
//! counts only from a trusted proxy.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use offhook_server::{AppState, RunningServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Longest any condition below is waited for before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// An in-process server, asked to stop when the test ends, pass or fail.
struct Server {
    running: Option<RunningServer>,
    addr: SocketAddr,
    state: Arc<AppState>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown_handle().shutdown();
        }
    }
}

async fn server(extra: &[(&str, &str)]) -> Server {
    let state = AppState::new(config(extra), handsets());
    let running = offhook_server::start_at(Arc::clone(&state), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Server {
        addr: running.local_addr(),
        running: Some(running),
        state,
    }
}

/// Everything the server sends until it closes the connection, or `None` if it is still
/// open after `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()?;
    Some(String::from_utf8_lossy(&received).into_owned())
}

/// One request on a new connection (`Connection: close`); the whole response.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    until_closed(&mut stream, PATIENCE)
        .await
        .expect("the server answers and closes")
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

fn token_post(auth: &str, extra_headers: &str) -> String {
    format!(
        "POST /api/token/generate HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n{extra_headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

async fn in_flight_tokens(addr: SocketAddr) -> u64 {
    let response = exchange(
        addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let health: serde_json::Value = serde_json::from_str(body).expect("health is JSON");
    health["in_flight"]["token"].as_u64().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_mid_request_is_cut_off_within_the_header_timeout() {
    let s = server(&[("OFFHOOK_HEADER_TIMEOUT", "1")]).await;
    // Half a request line, then nothing.
    let mut stalled = TcpStream::connect(s.addr).await.unwrap();
    stalled.write_all(b"POST /api/tok").await.unwrap();
    // A connection that never says anything.
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    // A keep-alive connection gone idle after one request.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    for (what, stream) in [
        ("half a request line", &mut stalled),
        ("a silent connection", &mut silent),
        ("an idle keep-alive connection", &mut idle),
    ] {
        let closed = until_closed(stream, Duration::from_secs(10)).await;
        assert!(closed.is_some(), "{what} is still open after 10 s");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // The server still serves.
    let r = exchange(
        s.addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_line(&r), "HTTP/1.1 200 OK", "{r}");
}

/// A handset's token request whose body stops after a few bytes of the 100 announced.
async fn stalled_token_request(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let auth = basic("desk", DESK_SECRET);
    stream
        .write_all(
            format!(
                "POST /api/token/generate HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"ttl\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    let s = server(&[("OFFHOOK_BODY_TIMEOUT", "1")]).await;
    let mut stream = stalled_token_request(s.addr).await;
    let response = until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("answered and closed within 10 s");
    assert_eq!(
        status_line(&response),
        "HTTP/1.1 408 Request Timeout",
        "{response}"
    );
    assert!(response.contains("request_timeout"), "{response}");
}

/// The whole request has a deadline too: a handler still waiting when it passes (here for a
/// body that the body deadline would wait a minute for) is answered 408 by the router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_request_deadline_gets_408() {
    let s = server(&[
        ("OFFHOOK_BODY_TIMEOUT", "60"),
        ("OFFHOOK_REQUEST_TIMEOUT", "1"),
    ])
    .await;
    let sent = Instant::now();
    let mut stream = stalled_token_request(s.addr).await;
    let response = until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("answered and closed within 10 s, long before the body deadline");
    assert_eq!(
        status_line(&response),
        "HTTP/1.1 408 Request Timeout",
        "{response}"
    );
    // The router's deadline, not the body deadline's own answer.
    assert!(!response.contains("request_timeout"), "{response}");
    assert!(
        sent.elapsed() >= Duration::from_millis(900),
        "{:?}",
        sent.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_answered_while_the_token_route_is_saturated() {
    let s = server(&[
        ("OFFHOOK_MAX_TOKEN_REQUESTS", "2"),
        ("OFFHOOK_BODY_TIMEOUT", "60"),
        ("OFFHOOK_REQUEST_TIMEOUT", "60"),
    ])
    .await;
    // Two token requests whose bodies never come hold both token slots.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        stream
            .write_all(b"POST /api/token/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n")
            .await
            .unwrap();
        stalled.push(stream);
    }
    let deadline = Instant::now() + PATIENCE;
    while in_flight_tokens(s.addr).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the stalled requests never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A real handset's login now waits for a slot…
    let addr = s.addr;
    let auth = basic("desk", DESK_SECRET);
    let login = tokio::spawn(async move { exchange(addr, &token_post(&auth, "")).await });

    // …while Twilio's webhook is answered.
    let params = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CA0b33a4462bd42d3eeaa07f07653796e3"),
        ("From", "+12031234567"),
        ("To", PHONE_NUMBER),
    ];
    let signature = offhook_server::signature::expected_signature(
        AUTH_TOKEN,
        "https://h.example/hooks/voice",
        &owned(&params),
    );
    let body = form(&params);
    let hook = tokio::time::timeout(
        PATIENCE,
        exchange(
            s.addr,
            &format!(
                "POST /hooks/voice HTTP/1.1\r\nHost: h.example\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        ),
    )
    .await
    .expect("the webhook is answered while the token slots are full");
    assert_eq!(status_line(&hook), "HTTP/1.1 200 OK", "{hook}");
    assert!(hook.contains("<Dial"), "{hook}");
    assert!(!login.is_finished(), "the token limit held");
    assert_eq!(s.state.token_requests_in_flight(), 2);

    // A stalled client goes away: its slot frees, and the login gets its token.
    drop(stalled.pop());
    let login = tokio::time::timeout(PATIENCE, login)
        .await
        .expect("the login is served once a slot frees")
        .unwrap();
    assert_eq!(status_line(&login), "HTTP/1.1 200 OK", "{login}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let s = server(&[
        ("OFFHOOK_MAX_CONNECTIONS", "2"),
        ("OFFHOOK_HEADER_TIMEOUT", "60"),
    ])
    .await;
    // Two keep-alive connections, each served once (so both are accepted), then idle.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
        held.push(stream);
    }
    // A third connects (the kernel queues it) but is not served while both are held.
    let mut third = TcpStream::connect(s.addr).await.unwrap();
    third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let early = until_closed(&mut third, Duration::from_millis(500)).await;
    assert_eq!(early, None, "served past the cap");
    // One held connection closes: the third is served.
    drop(held.pop());
    let response = until_closed(&mut third, PATIENCE)
        .await
        .expect("served once a connection slot frees");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peers_forwarded_for_is_ignored() {
    let guesses = |s: &Server| {
        let addr = s.addr;
        async move {
            let mut statuses = Vec::new();
            for i in 0..6 {
                let request = token_post(
                    &basic("nobody", "guess"),
                    &format!("X-Forwarded-For: 192.0.2.{i}\r\n"),
                );
                statuses.push(status_line(&exchange(addr, &request).await).to_string());
            }
            statuses
        }
    };
    // The peer (127.0.0.1) is not in the list: every guess counts against it.
    let s = server(&[("OFFHOOK_TRUST_PROXY", "192.0.2.200")]).await;
    let statuses = guesses(&s).await;
    assert_eq!(statuses[4], "HTTP/1.1 401 Unauthorized");
    assert_eq!(
        statuses[5], "HTTP/1.1 429 Too Many Requests",
        "{statuses:?}"
    );
    // The peer is a trusted proxy: each forwarded client is counted apart.
    let s = server(&[("OFFHOOK_TRUST_PROXY", "127.0.0.1")]).await;
    let statuses = guesses(&s).await;
    assert!(
        statuses.iter().all(|s| s == "HTTP/1.1 401 Unauthorized"),
        "{statuses:?}"
    );
}
