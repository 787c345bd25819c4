use std::time::{Duration, Instant};

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::http::{TokenEndpoint, fetch_token};
use super::*;
use crate::config::ServerConfig;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn token(ttl: u64) -> TokenResponse {
    TokenResponse {
        token: "eyJ.token".into(),
        identity: "desk".into(),
        ttl,
        ice: ServerIce::default(),
    }
}

#[test]
fn fetches_at_start_and_again_before_expiry() {
    let t0 = Instant::now();
    let mut s = TokenScheduler::new(Backoff::default(), 7, t0);
    assert_eq!(s.status(t0), TokenStatus::Fetching);
    assert!(s.poll_fetch(t0));
    assert!(!s.poll_fetch(t0), "one fetch at a time");
    assert_eq!(s.poll_timeout(), None);
    let got = s.on_result(Ok(token(3600)), t0);
    assert_eq!(got.map(|t| t.identity), Some("desk".into()));
    assert_eq!(s.token(t0), Some("eyJ.token"));
    assert_eq!(
        s.status(t0),
        TokenStatus::Valid {
            identity: "desk".into(),
            ttl: secs(3600)
        }
    );
    // Our own refresh 5 minutes before expiry.
    assert_eq!(s.poll_timeout(), Some(t0 + secs(3300)));
    assert!(!s.poll_fetch(t0 + secs(3299)));
    assert!(s.poll_fetch(t0 + secs(3300)));
    // A short token refreshes at 80 % of its life.
    s.on_result(Ok(token(60)), t0 + secs(3300));
    assert_eq!(s.poll_timeout(), Some(t0 + secs(3348)));
    assert_eq!(
        s.token(t0 + secs(3360)),
        None,
        "expired tokens are not handed out"
    );
}

#[test]
fn refresh_now_is_debounced_and_respects_backoff() {
    let t0 = Instant::now();
    let mut s = TokenScheduler::new(Backoff::default(), 7, t0);
    s.poll_fetch(t0);
    s.on_result(Ok(token(3600)), t0);
    s.refresh_now(t0 + secs(2));
    assert!(
        !s.poll_fetch(t0 + secs(2)),
        "a burst of token errors right after a fetch"
    );
    s.refresh_now(t0 + secs(600));
    assert!(s.poll_fetch(t0 + secs(600)));
    s.refresh_now(t0 + secs(600));
    assert_eq!(s.poll_timeout(), None, "in flight: nothing more");
    s.on_result(
        Err(TokenFetchError::Unreachable("refused".into())),
        t0 + secs(601),
    );
    let retry = s.poll_timeout().expect("a retry is planned");
    s.refresh_now(t0 + secs(601));
    assert_eq!(
        s.poll_timeout(),
        Some(retry),
        "refresh does not defeat the backoff"
    );
}

#[test]
fn failures_back_off_with_jitter_up_to_the_cap() {
    let t0 = Instant::now();
    let backoff = Backoff::default();
    let mut s = TokenScheduler::new(backoff, 12345, t0);
    let mut now = t0;
    let mut delays = Vec::new();
    for _ in 0..10 {
        assert!(s.poll_fetch(now));
        s.on_result(Err(TokenFetchError::Unreachable("refused".into())), now);
        let next = s.poll_timeout().expect("retry planned");
        delays.push(next - now);
        now = next;
    }
    for (i, d) in delays.iter().enumerate() {
        let base = secs(1u64 << i.min(6)).min(secs(60));
        assert!(*d >= base.mul_f64(0.6).max(ms(500)), "{i}: {d:?}");
        assert!(*d <= base.mul_f64(1.4).min(secs(60)), "{i}: {d:?}");
    }
    assert!(delays[9] > secs(35));
    // The phone learns what is wrong and when the next try is.
    let TokenStatus::Failing {
        problem,
        retry_in,
        current_valid_for,
    } = s.status(now - secs(1))
    else {
        panic!("expected failing");
    };
    assert_eq!(problem, TokenProblem::ServerUnreachable("refused".into()));
    assert_eq!(retry_in, secs(1));
    assert_eq!(current_valid_for, None);
    // Success resets everything.
    assert!(s.poll_fetch(now));
    s.on_result(Ok(token(3600)), now);
    assert!(matches!(s.status(now), TokenStatus::Valid { .. }));
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn rejected_credentials_retry_slowly_and_keep_the_old_token_visible() {
    let t0 = Instant::now();
    let mut s = TokenScheduler::new(Backoff::default(), 1, t0);
    s.poll_fetch(t0);
    s.on_result(Ok(token(3600)), t0);
    let later = t0 + secs(3300);
    assert!(s.poll_fetch(later));
    s.on_result(Err(TokenFetchError::Rejected), later);
    assert_eq!(s.poll_timeout(), Some(later + secs(60)));
    assert_eq!(
        s.status(later),
        TokenStatus::Failing {
            problem: TokenProblem::CredentialsRejected,
            retry_in: secs(60),
            current_valid_for: Some(secs(300)),
        }
    );
    assert_eq!(
        s.token(later),
        Some("eyJ.token"),
        "the current token still works"
    );
}

#[test]
fn throttling_honours_retry_after() {
    let t0 = Instant::now();
    let mut s = TokenScheduler::new(Backoff::default(), 1, t0);
    s.poll_fetch(t0);
    s.on_result(
        Err(TokenFetchError::Throttled {
            retry_after: Some(secs(42)),
        }),
        t0,
    );
    assert_eq!(s.poll_timeout(), Some(t0 + secs(42)));
}

/// Issue 15: a `ttl` or `Retry-After` of u64::MAX seconds overflowed `Instant + Duration`
/// (a panic); both are capped by the one helper in `twilio_voice::protocol::duration`.
#[test]
fn absurd_ttl_and_retry_after_are_capped() {
    use twilio_voice::protocol::duration::{MAX_RETRY_AFTER, MAX_TOKEN_TTL};
    let t0 = Instant::now();
    let mut s = TokenScheduler::new(Backoff::default(), 1, t0);
    s.poll_fetch(t0);
    s.on_result(Ok(token(u64::MAX)), t0);
    assert_eq!(
        s.status(t0),
        TokenStatus::Valid {
            identity: "desk".into(),
            ttl: MAX_TOKEN_TTL
        }
    );
    assert!(s.poll_timeout().unwrap() <= t0 + MAX_TOKEN_TTL);

    let mut s = TokenScheduler::new(Backoff::default(), 1, t0);
    s.poll_fetch(t0);
    s.on_result(
        Err(TokenFetchError::Throttled {
            retry_after: Some(Duration::MAX),
        }),
        t0,
    );
    assert_eq!(s.poll_timeout(), Some(t0 + MAX_RETRY_AFTER));

    // A configured minimum above the cap (the config allows hours) with a short
    // `Retry-After`: the cap wins, and nothing panics.
    let backoff = Backoff {
        min: secs(7200),
        max: secs(10800),
        jitter: 0.4,
    };
    let mut s = TokenScheduler::new(backoff, 1, t0);
    s.poll_fetch(t0);
    s.on_result(
        Err(TokenFetchError::Throttled {
            retry_after: Some(secs(1)),
        }),
        t0,
    );
    assert_eq!(s.poll_timeout(), Some(t0 + MAX_RETRY_AFTER));
}

proptest! {
    #[test]
    fn retry_delays_stay_within_bounds(seed in any::<u64>(), failures in 1usize..40) {
        let t0 = Instant::now();
        let backoff = Backoff { min: ms(250), max: secs(20), jitter: 0.4 };
        let mut s = TokenScheduler::new(backoff, seed, t0);
        let mut now = t0;
        for _ in 0..failures {
            prop_assert!(s.poll_fetch(now));
            s.on_result(Err(TokenFetchError::Status(503)), now);
            let next = s.poll_timeout().expect("planned");
            let delay = next - now;
            prop_assert!(delay >= ms(125) && delay <= secs(20), "{delay:?}");
            now = next;
        }
    }
}

// ----- the HTTP request, against a local stand-in server -----

/// Serves one connection: checks the request line and credentials, answers `response`.
async fn serve_once(listener: TcpListener, response: &'static str) -> String {
    let (mut socket, _) = listener.accept().await.expect("accept");
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    socket.write_all(response.as_bytes()).await.expect("write");
    socket.shutdown().await.ok();
    String::from_utf8_lossy(&request).into_owned()
}

async fn endpoint_for(listener: &TcpListener, timeout: Duration) -> TokenEndpoint {
    let port = listener.local_addr().expect("addr").port();
    let server = ServerConfig {
        url: url::Url::parse(&format!("http://127.0.0.1:{port}/base")).expect("url"),
        device_id: "desk-1".into(),
        device_secret: "s3cret".into(),
        ca_pem: None,
    };
    TokenEndpoint::new(&server, timeout).expect("endpoint")
}

#[tokio::test]
async fn posts_with_basic_auth_and_reads_the_token() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = endpoint_for(&listener, secs(5)).await;
    let body = r#"{"token":"eyJ.abc","identity":"desk","ttl":3600}"#;
    let response: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    );
    let server = tokio::spawn(serve_once(listener, response));
    let got = fetch_token(&endpoint).await.expect("token");
    assert_eq!(
        got,
        TokenResponse {
            token: "eyJ.abc".into(),
            identity: "desk".into(),
            ttl: 3600,
            ice: ServerIce::default(),
        }
    );
    let request = server.await.expect("server");
    assert!(
        request.starts_with("POST /base/api/token/generate HTTP/1.1\r\n"),
        "{request}"
    );
    // base64("desk-1:s3cret")
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: basic zgvzay0xonmzy3jlda=="),
        "{request}"
    );
}

#[tokio::test]
async fn statuses_map_to_errors() {
    for (response, expected) in [
        (
            "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n",
            TokenFetchError::Rejected,
        ),
        (
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 30\r\ncontent-length: 0\r\n\r\n",
            TokenFetchError::Throttled {
                retry_after: Some(secs(30)),
            },
        ),
        (
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 99999999999999999999999\r\ncontent-length: 0\r\n\r\n",
            TokenFetchError::Throttled {
                retry_after: Some(twilio_voice::protocol::duration::MAX_RETRY_AFTER),
            },
        ),
        (
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: -1\r\ncontent-length: 0\r\n\r\n",
            TokenFetchError::Throttled { retry_after: None },
        ),
        (
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
            TokenFetchError::Status(503),
        ),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = endpoint_for(&listener, secs(5)).await;
        let server = tokio::spawn(serve_once(listener, response));
        assert_eq!(fetch_token(&endpoint).await, Err(expected));
        server.await.expect("server");
    }
}

#[tokio::test]
async fn garbage_and_silence_are_clear_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = endpoint_for(&listener, secs(5)).await;
    let server = tokio::spawn(serve_once(
        listener,
        "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!",
    ));
    assert!(matches!(
        fetch_token(&endpoint).await,
        Err(TokenFetchError::BadResponse(_))
    ));
    server.await.expect("server");

    // Accepts the connection but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = endpoint_for(&listener, ms(200)).await;
    let hold = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.expect("accept");
        tokio::time::sleep(secs(2)).await;
        drop(socket);
    });
    let err = fetch_token(&endpoint).await.expect_err("times out");
    assert!(
        matches!(err, TokenFetchError::Unreachable(ref why) if why.contains("no answer")),
        "{err:?}"
    );
    hold.abort();

    // Nobody listening.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = endpoint_for(&listener, secs(2)).await;
    drop(listener);
    assert!(matches!(
        fetch_token(&endpoint).await,
        Err(TokenFetchError::Unreachable(_))
    ));
}

#[tokio::test]
async fn a_server_name_that_does_not_resolve_means_no_network() {
    // `.invalid` never resolves (RFC 6761): the phone must say "No network", not blame the
    // server (a boot before DNS works looks like this).
    let server = ServerConfig {
        url: url::Url::parse("http://offhook-server.invalid:8080").expect("url"),
        device_id: "desk-1".into(),
        device_secret: "s3cret".into(),
        ca_pem: None,
    };
    let endpoint = TokenEndpoint::new(&server, secs(20)).expect("endpoint");
    let err = fetch_token(&endpoint).await.expect_err("no such name");
    assert!(
        matches!(err, TokenFetchError::NoNetwork(ref why) if why.contains("offhook-server.invalid")),
        "{err:?}"
    );
    assert!(matches!(err.problem(), TokenProblem::NoNetwork(_)));
}

#[tokio::test]
async fn https_with_a_private_ca_from_the_config() {
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let server_config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let body = r#"{"token":"eyJ.tls","identity":"desk","ttl":600}"#;
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (socket, _) = listener.accept().await.expect("accept");
            let Ok(mut tls) = acceptor.accept(socket).await else {
                continue; // the client without the CA gives up during the handshake
            };
            let mut buf = [0u8; 2048];
            let _ = tls.read(&mut buf).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            tls.write_all(response.as_bytes()).await.expect("write");
            tls.shutdown().await.ok();
        }
    });
    let mut server_config = ServerConfig {
        url: url::Url::parse(&format!("https://127.0.0.1:{port}")).expect("url"),
        device_id: "desk-1".into(),
        device_secret: "s3cret".into(),
        ca_pem: None,
    };
    // Without the CA the handshake fails with a clear error.
    let plain = TokenEndpoint::new(&server_config, secs(5)).expect("endpoint");
    let err = fetch_token(&plain)
        .await
        .expect_err("untrusted certificate");
    assert!(
        matches!(err, TokenFetchError::Unreachable(ref why) if why.contains("TLS")),
        "{err:?}"
    );
    // With it, the token comes through.
    server_config.ca_pem = Some(certified.cert.pem().into_bytes());
    let trusted = TokenEndpoint::new(&server_config, secs(5)).expect("endpoint");
    let got = fetch_token(&trusted).await.expect("token over TLS");
    assert_eq!(got.token, "eyJ.tls");
    server.await.expect("server");
}

#[test]
fn the_ice_servers_beside_a_token_are_read_and_never_fail_it() {
    let read = |body: &str| {
        super::http::read_response(200, &::http::HeaderMap::new(), body.as_bytes())
            .expect("a token")
    };
    let answer = read(
        r#"{"token":"eyJ.a","identity":"desk","ttl":3600,
            "ice_servers":[{"urls":["stun:global.stun.twilio.com:3478"]},
              {"urls":["turn:global.turn.twilio.com:3478?transport=udp"],"username":"u","credential":"c"}],
            "ice_servers_stale":true,
            "ice_servers_error":{"code":"unavailable","message":"Twilio answered 503"}}"#,
    );
    let servers = answer.ice.servers.clone().expect("a list");
    assert_eq!(servers.len(), 2);
    assert!(servers.has_turn());
    assert!(answer.ice.stale);
    assert_eq!(answer.ice.error_code.as_deref(), Some("unavailable"));
    assert_eq!(answer.ice.error.as_deref(), Some("Twilio answered 503"));
    assert!(!format!("{answer:?}").contains("\"c\""), "{answer:?}");

    // None: no list. Off on purpose: said so.
    let none = read(r#"{"token":"eyJ.a","identity":"desk","ttl":3600}"#);
    assert_eq!(none.ice, ServerIce::default());
    let off = read(
        r#"{"token":"eyJ.a","identity":"desk","ttl":3600,
            "ice_servers_error":{"code":"disabled","message":"off"}}"#,
    );
    assert!(off.ice.disabled() && off.ice.servers.is_none());

    // Nonsense in the ICE fields leaves the token alone.
    for odd in [
        r#""ice_servers":"turn:x""#,
        r#""ice_servers":[{"urls":["turn:x"]}],"ice_servers_stale":"yes""#,
        r#""ice_servers":[7, null, {"urls":[1,2]}],"ice_servers_error":42"#,
    ] {
        let body = format!(r#"{{"token":"eyJ.a","identity":"desk","ttl":3600,{odd}}}"#);
        let answer = read(&body);
        assert_eq!(answer.token, "eyJ.a", "{odd}");
        assert!(answer.ice.servers.is_some_and(|l| l.is_empty()), "{odd}");
        assert!(!answer.ice.dropped.is_empty(), "{odd}");
    }
}
