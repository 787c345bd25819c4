//! `POST /api/token/generate` through the router: good logins, every refusal, bodies,
//! clocks, and the slow-down of repeated failures.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use common::*;
use twilio_voice::token::{self, TokenError};

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

#[tokio::test]
async fn repeated_failures_lock_the_client_then_let_it_back() {
    let f = fixture(&[]);
    let good = basic("desk", DESK_SECRET);
    let bad = basic("desk", "guess");
    for _ in 0..5 {
        assert_unauthorized(&get_token(&f, Some(&bad)).await);
    }
    // The sixth failure locks the address (and the device).
    assert_unauthorized(&get_token(&f, Some(&bad)).await);
    let locked = get_token(&f, Some(&good)).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.header("retry-after"), Some("1"));
    assert_eq!(locked.json()["error"], "too_many_attempts");
    // The lock doubles with each further failure.
    f.clock.advance(Duration::from_secs(1));
    assert_unauthorized(&get_token(&f, Some(&bad)).await);
    assert_eq!(
        get_token(&f, Some(&good)).await.header("retry-after"),
        Some("2")
    );
    f.clock.advance(Duration::from_secs(2));
    // Once the lock ends, the right secret works and clears the count.
    assert_eq!(get_token(&f, Some(&good)).await.status, StatusCode::OK);
    assert_unauthorized(&get_token(&f, Some(&bad)).await);
    assert_eq!(get_token(&f, Some(&good)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn guessing_one_device_from_many_addresses_locks_only_that_device() {
    let f = fixture(&[("OFFHOOK_TRUST_PROXY", "true")]);
    let from = |ip: &str, auth: &str| {
        token_request(Some(auth))
            .header("x-forwarded-for", format!("10.9.9.9, {ip}"))
            .body(Body::empty())
            .unwrap()
    };
    for i in 0..6 {
        let r = send(
            &f.app,
            from(&format!("192.0.2.{i}"), &basic("desk", "guess")),
        )
        .await;
        assert_unauthorized(&r);
    }
    let desk = send(&f.app, from("198.51.100.1", &basic("desk", DESK_SECRET))).await;
    assert_eq!(desk.status, StatusCode::TOO_MANY_REQUESTS);
    let kitchen = send(
        &f.app,
        from("198.51.100.1", &basic("kitchen-1", KITCHEN_SECRET)),
    )
    .await;
    assert_eq!(kitchen.status, StatusCode::OK);
    // The device lock is capped at a minute, so an attacker cannot keep a handset out long.
    for i in 0..20 {
        f.clock.advance(Duration::from_secs(120));
        let r = send(
            &f.app,
            from(&format!("203.0.113.{i}"), &basic("desk", "guess")),
        )
        .await;
        assert_unauthorized(&r);
    }
    let r = send(&f.app, from("198.51.100.2", &basic("desk", DESK_SECRET))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after"), Some("60"));
}

#[tokio::test]
async fn guessing_unknown_devices_locks_the_address() {
    let f = fixture(&[("OFFHOOK_TRUST_PROXY", "true")]);
    let from = |ip: &str, auth: &str| {
        token_request(Some(auth))
            .header("x-forwarded-for", ip)
            .body(Body::empty())
            .unwrap()
    };
    for i in 0..6 {
        assert_unauthorized(
            &send(&f.app, from("192.0.2.1", &basic(&format!("dev{i}"), "x"))).await,
        );
    }
    let r = send(&f.app, from("192.0.2.1", &basic("desk", DESK_SECRET))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = send(&f.app, from("192.0.2.2", &basic("desk", DESK_SECRET))).await;
    assert_eq!(r.status, StatusCode::OK, "another address is not affected");
    // Without OFFHOOK_TRUST_PROXY the header is ignored: all these come from one peer.
    let f = fixture(&[]);
    for i in 0..6 {
        assert_unauthorized(
            &send(&f.app, from(&format!("192.0.2.{i}"), &basic("nobody", "x"))).await,
        );
    }
    let r = send(&f.app, from("192.0.2.99", &basic("desk", DESK_SECRET))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}
