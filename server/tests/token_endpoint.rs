//! `POST /api/token/generate` through the router: good logins, every refusal, bodies,
//! clocks, and the slow-down of repeated failures.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use common::*;
use offhook_core::token::{self, TokenError};

async fn get_token(f: &Fixture, auth: Option<&str>) -> Reply {
    send(&f.app, token_request(auth).body(Body::empty()).unwrap()).await
}

fn assert_unauthorized(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
    assert_eq!(
        reply.json(),
        serde_json::json!({"error": "unauthorized", "message": "The device id and secret were not accepted."})
    );
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic ")
    );
}

#[tokio::test]
async fn a_handset_gets_a_twilio_shaped_token() {
    let f = fixture(&[]);
    let reply = get_token(&f, Some(&basic("desk", DESK_SECRET))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["identity"], "desk");
    assert_eq!(body["ttl"], 3600);
    let jwt = body["token"].as_str().unwrap();
    let claims = token::verify(jwt, NOW + 1, |iss| {
        (iss == API_KEY).then(|| API_SECRET.to_string())
    })
    .unwrap();
    assert_eq!(claims.iss, API_KEY);
    assert_eq!(claims.sub, ACCOUNT_SID);
    assert_eq!(claims.jti, format!("{API_KEY}-{NOW}"));
    assert_eq!((claims.iat, claims.exp), (NOW, NOW + 3600));
    assert_eq!(claims.identity(), Some("desk"));
    let voice = claims.grants.voice.unwrap();
    assert!(voice.allows_incoming());
    assert_eq!(voice.outgoing_app(), Some(APP_SID));
    let (header, _) = token::decode_unverified(jwt).unwrap();
    assert_eq!(
        (
            header.alg.as_str(),
            header.typ.as_deref(),
            header.cty.as_deref()
        ),
        ("HS256", Some("JWT"), Some("twilio-fpa;v=1"))
    );

    // The second handset gets its own identity (the id and the identity differ).
    let kitchen = get_token(&f, Some(&basic("kitchen-1", KITCHEN_SECRET)))
        .await
        .json();
    assert_eq!(kitchen["identity"], "kitchen");
}

#[tokio::test]
async fn refusals_do_not_say_which_part_was_wrong() {
    let f = fixture(&[]);
    // A good login after each refusal clears the failure count, so the slow-down (tested
    // below) stays out of the way here.
    let refused = |auth: Option<String>| {
        let f = &f;
        async move {
            let reply = get_token(f, auth.as_deref()).await;
            assert_eq!(
                get_token(f, Some(&basic("desk", DESK_SECRET))).await.status,
                StatusCode::OK
            );
            reply
        }
    };
    let wrong_secret = refused(Some(basic("desk", KITCHEN_SECRET))).await;
    let unknown_device = refused(Some(basic("hall", DESK_SECRET))).await;
    let no_credentials = refused(None).await;
    for reply in [&wrong_secret, &unknown_device, &no_credentials] {
        assert_unauthorized(reply);
    }
    assert_eq!(wrong_secret.body, unknown_device.body);
    assert_eq!(wrong_secret.body, no_credentials.body);
    for bad in [
        "Bearer abc",
        "Basic !!!notbase64",
        "Basic ZGVzaw==",
        "Basic",
        "basic",
    ] {
        assert_unauthorized(&refused(Some(bad.to_string())).await);
    }
    // Id and secret swapped, empty secret, the id in another case.
    assert_unauthorized(&refused(Some(basic(DESK_SECRET, "desk"))).await);
    assert_unauthorized(&refused(Some(basic("desk", ""))).await);
    assert_unauthorized(&refused(Some(basic("DESK", DESK_SECRET))).await);
}

#[tokio::test]
async fn bodies_and_content_types() {
    let f = fixture(&[("OFFHOOK_TOKEN_TTL", "7200")]);
    let auth = basic("desk", DESK_SECRET);
    let post = |content_type: &str, body: &str| {
        token_request(Some(&auth))
            .header("content-type", content_type)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    // The seed's request: Content-Type application/json and an empty body.
    let r = send(&f.app, post("application/json", "")).await;
    assert_eq!(
        (r.status, r.json()["ttl"].as_u64()),
        (StatusCode::OK, Some(7200))
    );
    let r = send(
        &f.app,
        post("application/json; charset=utf-8", r#"{"ttl": 600}"#),
    )
    .await;
    assert_eq!(r.json()["ttl"], 600);
    let (_, claims) = token::decode_unverified(r.json()["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.exp - claims.iat, 600);
    // Longer than the server allows: the server's lifetime.
    let r = send(&f.app, post("application/json", r#"{"ttl": 99999}"#)).await;
    assert_eq!(r.json()["ttl"], 7200);

    for (content_type, body, status) in [
        ("application/json", r#"{"ttl": 5}"#, StatusCode::BAD_REQUEST),
        (
            "application/json",
            r#"{"ttl": -1}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            r#"{"ttl": "600"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            r#"{"identity": "boss"}"#,
            StatusCode::BAD_REQUEST,
        ),
        ("application/json", "{not json", StatusCode::BAD_REQUEST),
        ("application/json", "[]", StatusCode::BAD_REQUEST),
        (
            "text/plain",
            r#"{"ttl": 600}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/x-www-form-urlencoded",
            "ttl=600",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/json; charset=latin1",
            r#"{"ttl": 600}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let r = send(&f.app, post(content_type, body)).await;
        assert_eq!(r.status, status, "{content_type} {body}: {}", r.text());
        assert!(r.json()["error"].is_string(), "errors are JSON");
    }
    // No content type at all with a body.
    let r = send(
        &f.app,
        token_request(Some(&auth)).body(Body::from("{}")).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let f = fixture(&[]);
    let auth = basic("desk", DESK_SECRET);
    let big = format!(r#"{{"ttl": 600, "pad": "{}"}}"#, "x".repeat(8 * 1024));
    let r = send(
        &f.app,
        token_request(Some(&auth))
            .header("content-type", "application/json")
            .body(Body::from(big))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"], "payload_too_large");
}

#[tokio::test]
async fn method_and_path_errors() {
    let f = fixture(&[]);
    let r = send(
        &f.app,
        axum::http::Request::get("/api/token/generate")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = send(
        &f.app,
        axum::http::Request::get("/nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "not_found");
    let r = send(
        &f.app,
        axum::http::Request::get("/health")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.json()["handsets"], 2);
}

#[tokio::test]
async fn exp_follows_the_server_clock_and_ttl_stays_relative() {
    let f = fixture(&[]);
    let auth = basic("desk", DESK_SECRET);
    // The server's clock is two hours behind the real time.
    let lagging = NOW - 2 * 3600;
    f.clock.set_unix(lagging);
    let r = get_token(&f, Some(&auth)).await;
    assert_eq!(r.status, StatusCode::OK);
    let jwt = r.json()["token"].as_str().unwrap().to_string();
    let (_, claims) = token::decode_unverified(&jwt).unwrap();
    assert_eq!((claims.iat, claims.exp), (lagging, lagging + 3600));
    // The handset is told a relative lifetime, which no clock can skew…
    assert_eq!(r.json()["ttl"].as_u64(), Some(claims.exp - claims.iat));
    // …but Twilio, on the real clock, already sees the token as expired (31205): a
    // server's clock must be right, and the server refuses when it is plainly unset.
    let expired = token::verify(&jwt, NOW, |_| Some(API_SECRET.to_string())).unwrap_err();
    assert_eq!(
        (expired.clone(), expired.twilio_code()),
        (TokenError::Expired, 31205)
    );

    f.clock.set_unix(0);
    let r = get_token(&f, Some(&auth)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["error"], "clock_not_set");
}

/// A token request from `client` (through the trusted proxy on loopback).
fn via_proxy(client: &str, auth: &str) -> axum::http::Request<Body> {
    token_request(Some(auth))
        .header("x-forwarded-for", client)
        .body(Body::empty())
        .unwrap()
}

fn assert_locked(reply: &Reply, retry_after: &str) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text()
    );
    assert_eq!(reply.header("retry-after"), Some(retry_after));
    assert_eq!(reply.json()["error"], "too_many_attempts");
}

#[tokio::test]
async fn repeated_failures_slow_guesses_but_the_right_secret_always_passes() {
    let f = fixture(&[]);
    let good = basic("desk", DESK_SECRET);
    let bad = basic("desk", "guess");
    for _ in 0..5 {
        assert_unauthorized(&get_token(&f, Some(&bad)).await);
    }
    // The sixth failure locks the key: that guess and the next are refused with 429…
    assert_locked(&get_token(&f, Some(&bad)).await, "1");
    // …but the right secret gets its token at once, and clears the count.
    assert_eq!(get_token(&f, Some(&good)).await.status, StatusCode::OK);
    assert_unauthorized(&get_token(&f, Some(&bad)).await);

    // The lock doubles with each further failure, and one guess after it ends locks the
    // key again; the real handset is never kept out by it.
    for _ in 0..4 {
        get_token(&f, Some(&bad)).await;
    }
    assert_locked(&get_token(&f, Some(&bad)).await, "1");
    assert_locked(&get_token(&f, Some(&bad)).await, "2");
    f.clock.advance(Duration::from_secs(2));
    assert_locked(&get_token(&f, Some(&bad)).await, "4");
    assert_eq!(get_token(&f, Some(&good)).await.status, StatusCode::OK);
    assert_unauthorized(&get_token(&f, Some(&bad)).await);
}

#[tokio::test]
async fn an_office_behind_one_nat_guessing_at_one_device_does_not_touch_another() {
    let f = fixture(&[("OFFHOOK_TRUST_PROXY", "true")]);
    let office = "198.51.100.7";
    for _ in 0..5 {
        assert_unauthorized(&send(&f.app, via_proxy(office, &basic("desk", "guess"))).await);
    }
    assert_locked(
        &send(&f.app, via_proxy(office, &basic("desk", "guess"))).await,
        "1",
    );
    // The kitchen phone in the same office: a typo is an ordinary 401, the secret works.
    let kitchen_typo = send(&f.app, via_proxy(office, &basic("kitchen-1", "typo"))).await;
    assert_unauthorized(&kitchen_typo);
    let kitchen = send(
        &f.app,
        via_proxy(office, &basic("kitchen-1", KITCHEN_SECRET)),
    )
    .await;
    assert_eq!(kitchen.status, StatusCode::OK);
    // The desk phone from elsewhere is not locked at all.
    assert_unauthorized(&send(&f.app, via_proxy("203.0.113.1", &basic("desk", "typo"))).await);
    // And the desk phone in that office still gets its token.
    let desk = send(&f.app, via_proxy(office, &basic("desk", DESK_SECRET))).await;
    assert_eq!(desk.status, StatusCode::OK);
}

#[tokio::test]
async fn guessing_from_many_addresses_locks_nobody_else() {
    let f = fixture(&[("OFFHOOK_TRUST_PROXY", "true")]);
    for i in 0..20 {
        let r = send(
            &f.app,
            via_proxy(&format!("192.0.2.{i}"), &basic("desk", "guess")),
        )
        .await;
        assert_unauthorized(&r);
    }
    let desk = send(&f.app, via_proxy("198.51.100.1", &basic("desk", "typo"))).await;
    assert_unauthorized(&desk);
}

#[tokio::test]
async fn ipv6_clients_are_counted_by_their_64() {
    let f = fixture(&[("OFFHOOK_TRUST_PROXY", "true")]);
    // One household picks a new address in its /64 for every guess.
    for i in 1..=5 {
        let r = send(
            &f.app,
            via_proxy(&format!("2001:db8:1:2::{i:x}"), &basic("desk", "guess")),
        )
        .await;
        assert_unauthorized(&r);
    }
    let r = send(
        &f.app,
        via_proxy("[2001:db8:1:2:ffff::9]:4711", &basic("desk", "guess")),
    )
    .await;
    assert_locked(&r, "1");
    let neighbour = send(
        &f.app,
        via_proxy("2001:db8:1:3::1", &basic("desk", "guess")),
    )
    .await;
    assert_unauthorized(&neighbour);
    // IPv4-mapped IPv6 is the IPv4 address.
    for _ in 0..6 {
        send(&f.app, via_proxy("192.0.2.50", &basic("desk", "guess"))).await;
    }
    assert_locked(
        &send(
            &f.app,
            via_proxy("::ffff:192.0.2.50", &basic("desk", "guess")),
        )
        .await,
        "2",
    );
}

#[tokio::test]
async fn answers_never_tell_whether_a_device_id_exists() {
    let f = fixture(&[("OFFHOOK_TRUST_PROXY", "true")]);
    // Two clients guessing in step: one at a real id, one at an id no handset has.
    for attempt in 1..=8 {
        let known = send(&f.app, via_proxy("192.0.2.1", &basic("desk", "guess"))).await;
        let unknown = send(&f.app, via_proxy("192.0.2.2", &basic("hall", "guess"))).await;
        assert_eq!(known.status, unknown.status, "attempt {attempt}");
        assert_eq!(known.headers, unknown.headers, "attempt {attempt}");
        assert_eq!(known.body, unknown.body, "attempt {attempt}");
        let expected = if attempt <= 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(known.status, expected, "attempt {attempt}");
    }
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    // Without OFFHOOK_TRUST_PROXY the header is ignored: all these come from one peer.
    let f = fixture(&[]);
    for i in 0..5 {
        let r = send(
            &f.app,
            via_proxy(&format!("192.0.2.{i}"), &basic("nobody", "x")),
        )
        .await;
        assert_unauthorized(&r);
    }
    assert_locked(
        &send(&f.app, via_proxy("192.0.2.99", &basic("nobody", "x"))).await,
        "1",
    );
    // A list that does not name the peer: ignored too.
    let f = fixture(&[("OFFHOOK_TRUST_PROXY", "10.0.0.0/8")]);
    for i in 0..5 {
        send(
            &f.app,
            via_proxy(&format!("192.0.2.{i}"), &basic("nobody", "x")),
        )
        .await;
    }
    assert_locked(
        &send(&f.app, via_proxy("192.0.2.99", &basic("nobody", "x"))).await,
        "1",
    );
    // A list that names it: every client is counted apart.
    let f = fixture(&[("OFFHOOK_TRUST_PROXY", "10.0.0.0/8, 127.0.0.1")]);
    for i in 0..8 {
        let r = send(
            &f.app,
            via_proxy(&format!("192.0.2.{i}"), &basic("nobody", "x")),
        )
        .await;
        assert_unauthorized(&r);
    }
}
