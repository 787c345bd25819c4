//! The Network Traversal Service's Tokens resource the control server serves
//! (`POST /2010-04-01/Accounts/{AC}/Tokens.json`) over real HTTP: HTTP Basic with the auth
//! token or the API key, Twilio's shape with the configured ICE servers, `Ttl`, another
//! account's path, and the fault that makes it answer 503 until served again.

mod common;

use base64::Engine as _;
use common::lab_with;
use offhook_lab::control::types::IceTokenStats;
use offhook_lab::http::HttpClient;
use offhook_lab::{IceServer, LabHandle};
use serde_json::{Value, json};

fn lab_ice_servers() -> Vec<IceServer> {
    vec![
        IceServer {
            urls: vec!["stun:127.0.0.1:3478".into()],
            username: None,
            credential: None,
        },
        IceServer {
            urls: vec![
                "turn:127.0.0.1:3478?transport=udp".into(),
                "turns:127.0.0.1:5349?transport=tcp".into(),
            ],
            username: Some("u".into()),
            credential: Some("p".into()),
        },
    ]
}

/// `POST` to the Tokens resource of `account` with `auth` and a form `body`: status and JSON.
async fn create(
    lab: &LabHandle,
    account: &str,
    auth: Option<(&str, &str)>,
    body: &str,
) -> (u16, Value) {
    let url = format!(
        "{}/2010-04-01/Accounts/{account}/Tokens.json",
        lab.twilio_api_url()
    );
    let mut headers = vec![(
        "Content-Type",
        "application/x-www-form-urlencoded".to_string(),
    )];
    if let Some((user, password)) = auth {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.push(("Authorization", format!("Basic {encoded}")));
    }
    let (status, body) = HttpClient::new()
        .request("POST", &url, &headers, body.to_string().into())
        .await
        .expect("the lab answers");
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, json)
}

#[tokio::test]
async fn the_tokens_resource_hands_out_the_configured_servers_to_the_account_only() {
    let lab = lab_with(|c| {
        c.ice_servers = lab_ice_servers();
        c.ice_servers_ttl_secs = 600;
    })
    .await;
    let creds = lab.credentials.clone();
    let account = creds.account_sid.as_str();

    // Without credentials, or with wrong ones: Twilio's 20003.
    for auth in [None, Some((account, "wrong")), Some(("SKnope", "x"))] {
        let (status, body) = create(&lab, account, auth, "").await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body["code"], 20003);
    }

    // With the auth token or the API key: 201 and the token, one URL per entry.
    for auth in [
        (account, creds.auth_token.as_str()),
        (creds.api_key_sid.as_str(), creds.api_key_secret.as_str()),
    ] {
        let (status, body) = create(&lab, account, Some(auth), "").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["account_sid"], account);
        assert_eq!(body["ttl"], "600");
        assert_eq!(body["username"], "u");
        assert_eq!(body["password"], "p");
        assert!(
            body["date_created"]
                .as_str()
                .is_some_and(|d| d.ends_with("+0000"))
        );
        assert_eq!(
            body["ice_servers"],
            json!([
                { "url": "stun:127.0.0.1:3478", "urls": "stun:127.0.0.1:3478" },
                {
                    "url": "turn:127.0.0.1:3478?transport=udp",
                    "urls": "turn:127.0.0.1:3478?transport=udp",
                    "username": "u",
                    "credential": "p",
                },
                {
                    "url": "turns:127.0.0.1:5349?transport=tcp",
                    "urls": "turns:127.0.0.1:5349?transport=tcp",
                    "username": "u",
                    "credential": "p",
                },
            ])
        );
    }
    let key = Some((creds.api_key_sid.as_str(), creds.api_key_secret.as_str()));

    // Ttl is honoured, and refused outside 1..=86400.
    let (status, body) = create(&lab, account, key, "Ttl=3600").await;
    assert_eq!((status, body["ttl"].as_str()), (201, Some("3600")));
    for bad in ["Ttl=0", "Ttl=86401", "Ttl=a-day"] {
        let (status, body) = create(&lab, account, key, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["status"], 400);
    }

    // Another account's resource is not this account's to use.
    let (status, body) = create(&lab, "AC00000000000000000000000000000000", key, "").await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(20404)));

    assert_eq!(
        lab.control().ice_tokens().await.unwrap(),
        IceTokenStats {
            served: 3,
            failed: 0,
            failing_with: None,
        }
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn the_fault_makes_the_tokens_resource_fail_until_served_again() {
    let lab = lab_with(|_| {}).await;
    let creds = lab.credentials.clone();
    let key = Some((creds.api_key_sid.as_str(), creds.api_key_secret.as_str()));
    let account = creds.account_sid.as_str();
    // By default: no servers (the lab runs none), a day's lifetime.
    let (status, body) = create(&lab, account, key, "").await;
    assert_eq!(status, 201);
    assert_eq!(body["ice_servers"], json!([]));
    assert_eq!(body["ttl"], "86400");

    let control = lab.control();
    control.fault_fail_ice_tokens(503).await.unwrap();
    let (status, body) = create(&lab, account, key, "").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], 503);
    assert_eq!(body["message"], "Service Unavailable");
    // Credentials are still checked first.
    assert_eq!(create(&lab, account, None, "").await.0, 401);
    assert_eq!(
        control.ice_tokens().await.unwrap(),
        IceTokenStats {
            served: 1,
            failed: 1,
            failing_with: Some(503),
        }
    );
    assert!(
        control.fault_fail_ice_tokens(200).await.is_err(),
        "not a failure"
    );

    control.fault_serve_ice_tokens().await.unwrap();
    assert_eq!(create(&lab, account, key, "").await.0, 201);
    assert_eq!(control.ice_tokens().await.unwrap().failing_with, None);
    lab.shutdown().await;
}
