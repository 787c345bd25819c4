//! Cross-checks against twilio-node, Twilio's own helper library, through
//! `tests/js/server/crosscheck.mjs`: the server's tokens must be the ones twilio-node's
//! `AccessToken` makes, and requests signed by `getExpectedTwilioSignature` must pass the
//! server's webhook check (and fail once changed).
//!
//! Needs `node` and `tests/js/node_modules` (`npm ci` in `tests/js`; `scripts/test` does
//! both). Without them these tests fail and say so: they never pass vacuously.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use offhook_core::token::{self, TokenError};
use serde_json::{Value, json};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/js")
}

/// Runs the cross-check script in `mode` with `input` on stdin and returns its JSON.
fn crosscheck(mode: &str, input: &Value) -> Value {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "`node` is not installed or does not run: the cross-checks against twilio-node need it. \
             Run scripts/test (it installs what is missing), or install nodejs and run `npm ci` in tests/js."
        ),
    }
    let twilio = js_dir().join("node_modules/twilio/package.json");
    assert!(
        twilio.is_file(),
        "{} is missing: run `npm ci` in tests/js (scripts/test does it) before these cross-checks",
        twilio.display()
    );
    let script = js_dir().join("server/crosscheck.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(mode)
        .current_dir(js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node {}: {e}", script.display()));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.to_string().as_bytes())
        .expect("node reads its input");
    let out = child.wait_with_output().expect("node runs");
    assert!(
        out.status.success(),
        "crosscheck.mjs {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "crosscheck.mjs printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn server_token(f: &Fixture, ttl: Option<u64>) -> Value {
    let mut request = token_request(Some(&basic("desk", DESK_SECRET)));
    let body = match ttl {
        Some(t) => {
            request = request.header("content-type", "application/json");
            Body::from(json!({ "ttl": t }).to_string())
        }
        None => Body::empty(),
    };
    let reply = send(&f.app, request.body(body).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()
}

#[tokio::test]
async fn tokens_match_twilio_node_access_tokens() {
    let f = fixture(&[]);
    for ttl in [None, Some(600)] {
        let reply = server_token(&f, ttl).await;
        let rust_token = reply["token"].as_str().unwrap();
        let expected_ttl = ttl.unwrap_or(3600);
        assert_eq!(reply["ttl"], expected_ttl);
        let answer = crosscheck(
            "token",
            &json!({
                "accountSid": ACCOUNT_SID,
                "apiKey": API_KEY,
                "apiSecret": API_SECRET,
                "identity": "desk",
                "ttl": expected_ttl,
                "iat": NOW,
                "appSid": APP_SID,
                "rustToken": rust_token,
            }),
        );
        assert_eq!(
            answer["twilioVersion"], "6.2.0",
            "tests/js pins twilio 6.2.0"
        );
        // Same header fields and the same claims, whatever the key order.
        assert_eq!(answer["rust"]["header"], answer["node"]["header"]);
        assert_eq!(answer["rust"]["payload"], answer["node"]["payload"]);
        assert_eq!(answer["node"]["header"]["cty"], "twilio-fpa;v=1");
        assert_eq!(answer["node"]["payload"]["exp"], NOW + expected_ttl);
        // twilio-node's JWT library accepts our signature, and only with the right secret.
        assert_eq!(answer["rustVerified"], json!({"ok": true}), "{answer}");
        assert_eq!(answer["rustVerifiedWithWrongSecret"]["ok"], false);
        // We accept twilio-node's signature, and only with the right secret.
        let node_token = answer["nodeToken"].as_str().unwrap();
        let claims = token::verify(node_token, NOW + 1, |iss| {
            (iss == API_KEY).then(|| API_SECRET.to_string())
        })
        .expect("twilio-node's token verifies");
        assert_eq!(claims.identity(), Some("desk"));
        assert_eq!(
            token::verify(node_token, NOW + 1, |_| Some(format!("{API_SECRET}x"))),
            Err(TokenError::BadSignature)
        );
    }
}

struct Case {
    /// Path and query the request is sent to.
    target: &'static str,
    /// The URL Twilio signs (as configured in its console).
    signed_url: &'static str,
    params: Vec<(&'static str, &'static str)>,
}

fn cases() -> Vec<Case> {
    let incoming = vec![
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA0b33a4462bd42d3eeaa07f07653796e3"),
        ("CallStatus", "ringing"),
        ("Called", PHONE_NUMBER),
        ("Caller", "+12031234567"),
        ("Direction", "inbound"),
        ("From", "+12031234567"),
        ("To", PHONE_NUMBER),
    ];
    // The seed's capture of a client call: empty values, a custom phoneNumber parameter.
    let outgoing = vec![
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("ApplicationSid", APP_SID),
        ("CallSid", "CA557a5d46438c324c7e1f9aa15e5f0dbb"),
        ("CallStatus", "ringing"),
        ("Called", ""),
        ("Caller", "client:desk"),
        ("Direction", "inbound"),
        ("From", "client:desk"),
        ("To", ""),
        ("phoneNumber", "+12031234567"),
    ];
    let mut awkward = outgoing.clone();
    awkward.retain(|(k, _)| *k != "phoneNumber");
    awkward.extend([
        ("phoneNumber", "102"),
        ("CallerName", "Zoë & Ünal = +1 %20"),
        // Sorted by UTF-16 code unit in JavaScript: U+1F600 before U+FF21.
        ("\u{FF21}key", "fullwidth"),
        ("\u{1F600}key", "emoji 😀"),
        ("lowercase", "after Uppercase"),
    ]);
    let mut repeated = incoming.clone();
    repeated.extend([("Extra", "b"), ("Extra", "a"), ("Extra", "b")]);
    vec![
        Case {
            target: "/hooks/voice",
            signed_url: "https://phone.example.com/hooks/voice",
            params: incoming.clone(),
        },
        Case {
            target: "/hooks/call/connect",
            signed_url: "https://phone.example.com/hooks/call/connect",
            params: outgoing,
        },
        Case {
            target: "/hooks/call/connect",
            signed_url: "https://phone.example.com/hooks/call/connect",
            params: awkward,
        },
        Case {
            target: "/hooks/voice?tenant=a%20b&x=1",
            signed_url: "https://phone.example.com/hooks/voice?tenant=a%20b&x=1",
            params: incoming.clone(),
        },
        // Twilio signed with the default port; the configured URL has none.
        Case {
            target: "/hooks/voice",
            signed_url: "https://phone.example.com:443/hooks/voice",
            params: incoming,
        },
        Case {
            target: "/hooks/voice",
            signed_url: "https://phone.example.com/hooks/voice",
            params: repeated,
        },
    ]
}

fn signed_request(target: &str, params: &[(&str, &str)], signature: &str) -> Request<Body> {
    Request::post(target)
        .header("host", "127.0.0.1")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .header("x-twilio-signature", signature)
        .body(Body::from(form(params)))
        .unwrap()
}

#[tokio::test]
async fn webhook_signatures_match_twilio_node() {
    let f = fixture(&[("OFFHOOK_PUBLIC_URL", "https://phone.example.com")]);
    let other_key = "fedcba9876543210fedcba9876543210";
    let cases = cases();
    let mut inputs = Vec::new();
    for case in &cases {
        let rust_signature = offhook_server::signature::expected_signature(
            AUTH_TOKEN,
            case.signed_url,
            &owned(&case.params),
        );
        inputs.push(json!({ "url": case.signed_url, "params": case.params, "rustSignature": rust_signature }));
        inputs.push(json!({ "url": case.signed_url, "params": case.params, "rustSignature": "", "authToken": other_key }));
    }
    let answer = crosscheck(
        "signature",
        &json!({ "authToken": AUTH_TOKEN, "cases": inputs }),
    );
    let answers = answer["cases"].as_array().expect("cases");
    assert_eq!(answers.len(), cases.len() * 2);

    for (case, pair) in cases.iter().zip(answers.chunks(2)) {
        let label = format!("{} signed as {}", case.target, case.signed_url);
        let node_signature = pair[0]["signature"].as_str().unwrap();
        let other_key_signature = pair[1]["signature"].as_str().unwrap();
        assert_eq!(
            pair[0]["rustSignatureValid"], true,
            "twilio-node rejects our signature: {label}"
        );
        assert_ne!(node_signature, other_key_signature);

        let accepted = send(
            &f.app,
            signed_request(case.target, &case.params, node_signature),
        )
        .await;
        assert_eq!(
            accepted.status,
            StatusCode::OK,
            "{label}: {}",
            accepted.text()
        );
        assert!(accepted.text().starts_with("<?xml"), "{label}");

        // A changed parameter.
        let mut changed = case.params.clone();
        changed[2].1 = "CA00000000000000000000000000000000";
        let r = send(
            &f.app,
            signed_request(case.target, &changed, node_signature),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "changed parameter accepted: {label}"
        );
        // A parameter added.
        let mut added = case.params.clone();
        added.push(("Injected", "1"));
        let r = send(&f.app, signed_request(case.target, &added, node_signature)).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "added parameter accepted: {label}"
        );
        // Another URL.
        let elsewhere = if case.target.starts_with("/hooks/voice") {
            "/hooks/call/connect"
        } else {
            "/hooks/voice"
        };
        let r = send(
            &f.app,
            signed_request(elsewhere, &case.params, node_signature),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "other URL accepted: {label}"
        );
        // Another account's auth token.
        let r = send(
            &f.app,
            signed_request(case.target, &case.params, other_key_signature),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "other key accepted: {label}"
        );
    }
}

#[test]
fn published_vector_through_twilio_node() {
    // The published signature vector, computed by twilio-node itself, so the script and the
    // vector check each other.
    let params = [
        ["CallSid", "CA1234567890ABCDE"],
        ["Caller", "+14158675309"],
        ["Digits", "1234"],
        ["From", "+14158675309"],
        ["To", "+18005551212"],
    ];
    let answer = crosscheck(
        "signature",
        &json!({
            "authToken": "12345",
            "cases": [{ "url": "https://mycompany.com/myapp.php?foo=1&bar=2", "params": params, "rustSignature": "RSOYDt4T1cUTdK1PDd93/VVr8B8=" }],
        }),
    );
    assert_eq!(
        answer["cases"][0]["signature"],
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    assert_eq!(answer["cases"][0]["rustSignatureValid"], true);
}
