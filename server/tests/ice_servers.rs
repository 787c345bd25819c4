//! The ICE servers beside each token: fetched from Twilio's Network Traversal Service (a
//! FakeTwilio's `POST …/Tokens.json`), cached for their lifetime, refreshed at half of it (the
//! server's clock moved by hand), the last good list handed out marked stale while Twilio
//! fails, the token served without a list (and with the reason) when there has never been
//! one, a silent Twilio holding no token up past the wait, the refresher fetching at start,
//! and the off switch.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use common::*;
use offhook_server::ice::{FIRST_FETCH_WAIT, RETRY_MIN};
use serde_json::{Value, json};

fn nts(fake: &FakeTwilio) -> Fixture {
    fixture(&[
        ("OFFHOOK_ICE_SERVERS", "twilio"),
        ("OFFHOOK_TWILIO_API_URL", &fake.url),
    ])
}

async fn token(f: &Fixture) -> Value {
    let reply = send(
        &f.app,
        token_request(Some(&basic("desk", DESK_SECRET)))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()
}

/// The credential of the answer's TURN entry.
fn turn_credential(answer: &Value) -> Option<String> {
    answer["ice_servers"].as_array()?.iter().find(|s| {
        s["urls"][0]
            .as_str()
            .is_some_and(|u| u.starts_with("turn:"))
    })?["credential"]
        .as_str()
        .map(String::from)
}

fn turn_with(credential: &str) -> [(&str, Option<&str>, Option<&str>); 2] {
    [
        (FAKE_STUN, None, None),
        (FAKE_TURN, Some("user-2"), Some(credential)),
    ]
}

#[tokio::test]
async fn the_token_comes_with_twilios_ice_servers_in_the_sdks_shape() {
    let fake = FakeTwilio::start().await;
    let f = nts(&fake);
    let answer = token(&f).await;
    assert_eq!(answer["identity"], "desk");
    assert_eq!(
        answer["ice_servers"],
        json!([
            { "urls": [FAKE_STUN] },
            { "urls": [FAKE_TURN], "username": "user-1", "credential": "cred-1" },
        ])
    );
    assert_eq!(answer["ice_servers_stale"], false);
    assert!(answer.get("ice_servers_error").is_none(), "{answer}");
    let asked = fake.token_requests();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].authorized, "HTTP Basic with the API key");
    assert_eq!(asked[0].method, "POST");
    assert_eq!(asked[0].body, "Ttl=86400");
    assert_eq!(
        asked[0].path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Tokens.json")
    );

    // Cached: the next handset's token comes with the same list, and Twilio is not asked.
    let reply = send(
        &f.app,
        token_request(Some(&basic("kitchen-1", KITCHEN_SECRET)))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.json()["ice_servers"], answer["ice_servers"]);
    assert_eq!(fake.token_requests().len(), 1);
}

#[tokio::test]
async fn the_list_is_kept_for_its_lifetime_and_refreshed_at_half_of_it() {
    let fake = FakeTwilio::start().await;
    fake.ice_ttl(3600);
    let f = nts(&fake);
    assert_eq!(turn_credential(&token(&f).await).as_deref(), Some("cred-1"));
    fake.ice_servers(&turn_with("cred-2"));

    // Before half its life: the same list, and Twilio is not asked.
    f.clock.advance(Duration::from_secs(1799));
    assert_eq!(turn_credential(&token(&f).await).as_deref(), Some("cred-1"));
    assert_eq!(fake.token_requests().len(), 1);

    // At half its life: the token goes out at once with the list in hand, and a fetch starts.
    f.clock.advance(Duration::from_secs(1));
    let answer = token(&f).await;
    assert!(answer["ice_servers"].is_array() && answer["ice_servers_stale"] == false);
    until("Twilio is asked again", || async {
        fake.token_requests().len() == 2
    })
    .await;
    until("the new list is handed out", || async {
        turn_credential(&token(&f).await).as_deref() == Some("cred-2")
    })
    .await;
    assert_eq!(fake.token_requests().len(), 2, "one refresh");
}

#[tokio::test]
async fn while_twilio_fails_the_last_good_list_goes_out_marked_stale() {
    let fake = FakeTwilio::start().await;
    fake.ice_ttl(3600);
    let f = nts(&fake);
    assert_eq!(turn_credential(&token(&f).await).as_deref(), Some("cred-1"));
    fake.fail_tokens(Some(503));

    // The refresh at half its life fails: the old list, stale, and why.
    f.clock.advance(Duration::from_secs(1800));
    token(&f).await;
    until("the refresh has failed", || async {
        token(&f).await["ice_servers_stale"] == true
    })
    .await;
    let answer = token(&f).await;
    assert_eq!(turn_credential(&answer).as_deref(), Some("cred-1"));
    assert_eq!(answer["ice_servers_error"]["code"], "unavailable");
    let message = answer["ice_servers_error"]["message"].as_str().unwrap();
    assert!(message.contains("503"), "{message}");
    let asked = fake.token_requests().len();
    assert_eq!(asked, 2, "backing off: no fetch per token request");

    // Past its lifetime, and Twilio still failing: still the old list, stale.
    f.clock.advance(Duration::from_secs(1801));
    let answer = token(&f).await;
    assert_eq!(turn_credential(&answer).as_deref(), Some("cred-1"));
    assert_eq!(answer["ice_servers_stale"], true);
    assert_eq!(fake.token_requests().len(), asked + 1, "tried again");

    // Twilio is back: after the pause the next token waits for the new list.
    fake.fail_tokens(None);
    fake.ice_servers(&turn_with("cred-3"));
    f.clock.advance(RETRY_MIN * 2);
    let answer = token(&f).await;
    assert_eq!(turn_credential(&answer).as_deref(), Some("cred-3"));
    assert_eq!(answer["ice_servers_stale"], false);
    assert!(answer.get("ice_servers_error").is_none(), "{answer}");
}

#[tokio::test]
async fn with_none_ever_fetched_the_token_comes_without_a_list_and_says_why() {
    // Twilio refuses.
    let fake = FakeTwilio::start().await;
    fake.fail_tokens(Some(503));
    let f = nts(&fake);
    let answer = token(&f).await;
    assert!(answer["token"].is_string());
    assert!(answer.get("ice_servers").is_none(), "{answer}");
    assert!(answer.get("ice_servers_stale").is_none(), "{answer}");
    assert_eq!(answer["ice_servers_error"]["code"], "unavailable");

    // Twilio is not there at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let f = fixture(&[
        ("OFFHOOK_ICE_SERVERS", "twilio"),
        ("OFFHOOK_TWILIO_API_URL", &url),
    ]);
    let answer = token(&f).await;
    assert!(answer.get("ice_servers").is_none(), "{answer}");
    assert_eq!(answer["ice_servers_error"]["code"], "unavailable");
    let message = answer["ice_servers_error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot connect"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_twilio_holds_no_token_up_past_the_wait_and_is_asked_once() {
    // Takes connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let f = fixture(&[
        ("OFFHOOK_ICE_SERVERS", "twilio"),
        ("OFFHOOK_TWILIO_API_URL", &url),
    ]);
    let started = Instant::now();
    let (a, b) = tokio::join!(token(&f), token(&f));
    let took = started.elapsed();
    assert!(
        took < FIRST_FETCH_WAIT * 3,
        "the tokens waited {took:?} for the ICE servers"
    );
    for answer in [a, b] {
        assert!(answer["token"].is_string());
        assert!(answer.get("ice_servers").is_none(), "{answer}");
        assert_eq!(answer["ice_servers_error"]["code"], "pending");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one fetch at a time");
    silent.abort();
}

#[tokio::test]
async fn off_fetches_nothing_and_says_so() {
    let fake = FakeTwilio::start().await;
    let f = fixture(&[
        ("OFFHOOK_ICE_SERVERS", "off"),
        ("OFFHOOK_TWILIO_API_URL", &fake.url),
    ]);
    let answer = token(&f).await;
    assert!(answer.get("ice_servers").is_none(), "{answer}");
    assert_eq!(answer["ice_servers_error"]["code"], "disabled");
    let health = send(
        &f.app,
        axum::http::Request::get("/health")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .json();
    assert_eq!(health["ice_servers"], "off");
    assert!(fake.token_requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_fetches_at_start_without_waiting_for_a_handset() {
    let fake = FakeTwilio::start().await;
    let f = nts(&fake);
    let server = offhook_server::start_at(f.state.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    until("the list is fetched at start", || async {
        !fake.token_requests().is_empty()
    })
    .await;
    until("/health says the list is fresh", || async {
        let health = send(
            &f.app,
            axum::http::Request::get("/health")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .json();
        health["ice_servers"] == "fresh"
    })
    .await;
    let answer = token(&f).await;
    assert_eq!(turn_credential(&answer).as_deref(), Some("cred-1"));
    assert_eq!(fake.token_requests().len(), 1);
    server.shutdown().await.unwrap();
}
