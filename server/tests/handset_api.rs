//! The handset API through the router, on SQLite and on PostgreSQL: settings, the event
//! stream (a message or a settings change reaches it within a second, also from another
//! server instance on the same database), its limits, and its end when the server stops.

#[macro_use]
mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use offhook_server::AppState;

/// The most a change may take to reach a stream.
const WITHIN: Duration = Duration::from_secs(1);

on_both!(settings_read_change_and_refuse_bad_values, |backend| {
    let db = database(backend, "settings");
    let f = fixture_with_store(&db, &[]).await;
    let reply = send(&f.app, desk("GET", "/api/handset/settings", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.json(),
        serde_json::json!({"dnd": false, "forwarding": {"mode": "off", "to": null, "after_secs": 20}})
    );
    let reply = send(
        &f.app,
        desk(
            "PUT",
            "/api/handset/settings",
            Some(r#"{"forwarding":{"mode":"no-answer","to":"102","after_secs":15}}"#),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let expected = serde_json::json!({"dnd": false, "forwarding": {"mode": "no-answer", "to": "102", "after_secs": 15}});
    assert_eq!(reply.json(), expected);
    let reply = send(&f.app, desk("GET", "/api/handset/settings", None)).await;
    assert_eq!(reply.json(), expected);
    // Bad values: 400 with a code, nothing changed.
    for (body, code) in [
        (r#"{"forwarding":{"mode":"sometimes"}}"#, "invalid_mode"),
        (r#"{"forwarding":{"to":"101"}}"#, "invalid_target"),
        (r#"{"forwarding":{"after_secs":3}}"#, "invalid_after_secs"),
        (r#"{"forwarding":{"to":null}}"#, "missing_target"),
        (r#"{"dnd":1}"#, "invalid_json"),
        (r#"{"colour":"red"}"#, "invalid_json"),
        ("[]", "invalid_json"),
    ] {
        let reply = send(&f.app, desk("PUT", "/api/handset/settings", Some(body))).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text()
        );
        assert_eq!(reply.json()["error"]["code"], code, "{body}");
        assert!(reply.json()["error"]["message"].is_string());
    }
    let reply = send(&f.app, desk("GET", "/api/handset/settings", None)).await;
    assert_eq!(reply.json(), expected);
    // Not JSON at all.
    let text = Request::put("/api/handset/settings")
        .header("authorization", basic("desk", DESK_SECRET))
        .header("content-type", "text/plain")
        .body(Body::from("dnd=1"))
        .unwrap();
    assert_eq!(
        send(&f.app, text).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // Each handset has its own settings.
    let kitchen = Request::get("/api/handset/settings")
        .header("authorization", basic("kitchen-1", KITCHEN_SECRET))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&f.app, kitchen).await.json()["forwarding"]["mode"],
        "off"
    );
});

#[tokio::test]
async fn the_handset_api_logs_in_like_the_token_endpoint() {
    let db = database(Backend::Sqlite, "login");
    let f = fixture_with_store(&db, &[]).await;
    for path in [
        "/api/handset/settings",
        "/api/handset/voicemail",
        "/api/handset/events",
    ] {
        let none = Request::get(path).body(Body::empty()).unwrap();
        let reply = send(&f.app, none).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(reply.header("www-authenticate").is_some());
        let wrong = Request::get(path)
            .header("authorization", basic("desk", "wrong"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            send(&f.app, wrong).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    // Past a few failures, the token endpoint's lock: 429 with Retry-After.
    let mut last = StatusCode::OK;
    for _ in 0..8 {
        let wrong = Request::get("/api/handset/settings")
            .header("authorization", basic("desk", "wrong"))
            .body(Body::empty())
            .unwrap();
        last = send(&f.app, wrong).await.status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_a_database_the_handset_api_says_so() {
    let f = fixture(&[]);
    let reply = send(&f.app, desk("GET", "/api/handset/settings", None)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["error"]["code"], "no_database");
    let reply = Events::open(&f.app, "desk", DESK_SECRET)
        .await
        .err()
        .unwrap();
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

on_both!(
    a_stream_starts_with_the_state_and_hears_every_change_within_a_second,
    |backend| {
        let db = database(backend, "events");
        let f = fixture_with_store(&db, &[]).await;
        let mut events = Events::open(&f.app, "desk", DESK_SECRET)
            .await
            .map_err(|r| r.text())
            .unwrap();
        assert_eq!(
            events.next(WITHIN).await,
            Some((
                "voicemail".into(),
                serde_json::json!({"new": 0, "saved": 0})
            ))
        );
        let (event, data) = events.next(WITHIN).await.unwrap();
        assert_eq!(event, "settings");
        assert_eq!(data["dnd"], false);
        let (event, first_config) = events.next(WITHIN).await.unwrap();
        assert_eq!(event, "config");
        assert!(first_config["etag"].as_str().unwrap().starts_with('"'));
        // A message is stored: the stream hears of it.
        assert_eq!(leave_message(&f.app, 1).await.status, StatusCode::OK);
        assert_eq!(
            events.next(WITHIN).await,
            Some((
                "voicemail".into(),
                serde_json::json!({"new": 1, "saved": 0})
            ))
        );
        // The handset's settings change: the stream hears of it.
        let reply = send(
            &f.app,
            desk("PUT", "/api/handset/settings", Some(r#"{"dnd":true}"#)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        let (event, data) = events.next(WITHIN).await.unwrap();
        assert_eq!(event, "settings");
        assert_eq!(data["dnd"], true);
        assert_eq!(data["forwarding"]["mode"], "off");
        // Do-not-disturb is part of the configuration too: its tag moves.
        let (event, config) = events.next(WITHIN).await.unwrap();
        assert_eq!(event, "config");
        assert_ne!(config["etag"], first_config["etag"]);
        // Another handset's settings are not this stream's business.
        let kitchen = Request::put("/api/handset/settings")
            .header("authorization", basic("kitchen-1", KITCHEN_SECRET))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"dnd":true}"#))
            .unwrap();
        assert_eq!(send(&f.app, kitchen).await.status, StatusCode::OK);
        assert_eq!(events.next(Duration::from_millis(1500)).await, None);
    }
);

on_both!(
    a_message_recorded_through_one_instance_reaches_a_stream_on_another,
    |backend| {
        let db = database(backend, "two");
        // Two servers, each with its own connections to the one database, as behind a load
        // balancer: nothing passes between them but the database.
        let a = fixture_with_store(&db, &[]).await;
        let b = fixture_with_store(&db, &[]).await;
        let mut events = Events::open(&b.app, "desk", DESK_SECRET)
            .await
            .map_err(|r| r.text())
            .unwrap();
        assert_eq!(events.next(WITHIN).await.unwrap().0, "voicemail");
        assert_eq!(events.next(WITHIN).await.unwrap().0, "settings");
        assert_eq!(events.next(WITHIN).await.unwrap().0, "config");
        assert_eq!(leave_message(&a.app, 1).await.status, StatusCode::OK);
        assert_eq!(
            events.next(WITHIN).await,
            Some((
                "voicemail".into(),
                serde_json::json!({"new": 1, "saved": 0})
            ))
        );
        // And the other way round, for settings.
        let reply = send(
            &a.app,
            desk(
                "PUT",
                "/api/handset/settings",
                Some(r#"{"forwarding":{"mode":"always","to":"+14155550100"}}"#),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let (event, data) = events.next(WITHIN).await.unwrap();
        assert_eq!(event, "settings");
        assert_eq!(data["forwarding"]["to"], "+14155550100");
        assert_eq!(events.next(WITHIN).await.unwrap().0, "config");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_bounded_per_handset_and_in_all() {
    let db = database(Backend::Sqlite, "bounds");
    let f = fixture_with_store(&db, &[("OFFHOOK_MAX_EVENT_STREAMS", "2")]).await;
    let mut first = Events::open(&f.app, "desk", DESK_SECRET)
        .await
        .ok()
        .unwrap();
    let _second = Events::open(&f.app, "desk", DESK_SECRET)
        .await
        .ok()
        .unwrap();
    // The kitchen finds the server full.
    let full = Events::open(&f.app, "kitchen-1", KITCHEN_SECRET)
        .await
        .err()
        .unwrap();
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(full.json()["error"]["code"], "too_many_streams");
    assert!(full.header("retry-after").is_some());
    // A third desk stream takes the place of the desk's oldest, which ends.
    let _third = Events::open(&f.app, "desk", DESK_SECRET)
        .await
        .ok()
        .unwrap();
    assert!(first.ends(WITHIN).await, "the oldest stream ends");
    assert_eq!(f.state.push.open_streams(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_ends_its_streams_at_once() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let db = database(Backend::Sqlite, "stop");
    let store = offhook_server::store::Store::open(&db.url).await.unwrap();
    let state = AppState::with_store(config(&[]), handsets(), store);
    let server = offhook_server::start_at(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut socket = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    socket
        .write_all(
            format!(
                "GET /api/handset/events HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
                basic("desk", DESK_SECRET)
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("event: settings") {
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer))
            .await
            .expect("the stream starts")
            .unwrap();
        assert_ne!(n, 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    let head = String::from_utf8_lossy(&seen).to_string();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    // Well inside the 10 s grace a stuck stream would cost.
    tokio::time::timeout(Duration::from_secs(3), server.shutdown())
        .await
        .expect("the server stops without waiting for the stream")
        .unwrap();
}
