//! The webhooks through the router: signatures, URLs, bodies and content types.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use offhook_server::signature;

const INCOMING: &[(&str, &str)] = &[
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

const OUTGOING: &[(&str, &str)] = &[
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

fn assert_refused_without_twiml(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert!(!reply.text().contains("<Response"), "{}", reply.text());
    assert!(!reply.header("content-type").unwrap_or("").contains("xml"));
}

#[tokio::test]
async fn signed_incoming_call_rings_the_handsets() {
    let f = fixture(&[("OFFHOOK_PUBLIC_URL", "https://phone.example.com")]);
    let reply = send(
        &f.app,
        webhook(
            "/hooks/voice",
            "127.0.0.1:8080",
            "https://phone.example.com/hooks/voice",
            INCOMING,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        Some("text/xml; charset=utf-8")
    );
    // Each noun carries the call log's status callback, with what the server knew.
    let log = "statusCallback=\"https://phone.example.com/hooks/status?direction=incoming&amp;\
               from=%2B12031234567&amp;to=%2B447381234567\" statusCallbackEvent=\"completed\" \
               statusCallbackMethod=\"POST\"";
    assert_eq!(
        reply.text(),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial callerId=\"+12031234567\" answerOnBridge=\"true\">\
             <Client {log}><Identity>desk</Identity><Parameter name=\"callerNumber\" value=\"+12031234567\"/></Client>\
             <Client {log}><Identity>kitchen</Identity><Parameter name=\"callerNumber\" value=\"+12031234567\"/></Client>\
             </Dial></Response>"
        )
    );
}

#[tokio::test]
async fn signed_outgoing_call_dials_the_number() {
    let f = fixture(&[("OFFHOOK_PUBLIC_URL", "https://phone.example.com/offhook/")]);
    let url = "https://phone.example.com/offhook/hooks/call/connect";
    let reply = send(
        &f.app,
        webhook("/hooks/call/connect", "internal:8080", url, OUTGOING),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial callerId=\"+447381234567\" answerOnBridge=\"true\">\
         <Number statusCallback=\"https://phone.example.com/offhook/hooks/status?direction=outgoing&amp;\
         from=101&amp;to=%2B12031234567&amp;handset=desk\" statusCallbackEvent=\"completed\" \
         statusCallbackMethod=\"POST\">+12031234567</Number></Dial></Response>"
    );
    let mut to_extension: Vec<(&str, &str)> = OUTGOING.to_vec();
    to_extension.retain(|(k, _)| *k != "phoneNumber");
    to_extension.push(("phoneNumber", "102"));
    let reply = send(
        &f.app,
        webhook("/hooks/call/connect", "internal:8080", url, &to_extension),
    )
    .await;
    assert!(
        reply.text().contains("<Identity>kitchen</Identity>"),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn missing_or_wrong_signatures_get_403() {
    let f = fixture(&[("OFFHOOK_PUBLIC_URL", "https://phone.example.com")]);
    let url = "https://phone.example.com/hooks/voice";
    // No header at all.
    let unsigned = Request::post("/hooks/voice")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form(INCOMING)))
        .unwrap();
    assert_refused_without_twiml(&send(&f.app, unsigned).await, StatusCode::FORBIDDEN);
    // Signed, then one parameter changed in transit.
    let mut request = webhook("/hooks/voice", "h", url, INCOMING);
    let tampered = form(INCOMING).replace("ringing", "completed");
    *request.body_mut() = Body::from(tampered);
    assert_refused_without_twiml(&send(&f.app, request).await, StatusCode::FORBIDDEN);
    // Signed for another URL, another path, or with another account's token.
    for signed_url in [
        "https://evil.example.com/hooks/voice",
        "https://phone.example.com/hooks/call/connect",
    ] {
        let r = send(&f.app, webhook("/hooks/voice", "h", signed_url, INCOMING)).await;
        assert_refused_without_twiml(&r, StatusCode::FORBIDDEN);
    }
    let other_key =
        signature::expected_signature("fedcba9876543210fedcba9876543210", url, &owned(INCOMING));
    let request = Request::post("/hooks/voice")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", other_key)
        .body(Body::from(form(INCOMING)))
        .unwrap();
    assert_refused_without_twiml(&send(&f.app, request).await, StatusCode::FORBIDDEN);
    // A query string Twilio did not sign.
    let mut request = webhook("/hooks/voice?x=1", "h", url, INCOMING);
    *request.uri_mut() = "/hooks/voice?x=1".parse().unwrap();
    assert_refused_without_twiml(&send(&f.app, request).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_default_port_may_or_may_not_be_in_the_signed_url() {
    let f = fixture(&[("OFFHOOK_PUBLIC_URL", "https://phone.example.com")]);
    let r = send(
        &f.app,
        webhook(
            "/hooks/voice",
            "h",
            "https://phone.example.com:443/hooks/voice",
            INCOMING,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let f = fixture(&[("OFFHOOK_PUBLIC_URL", "https://phone.example.com:443")]);
    let r = send(
        &f.app,
        webhook(
            "/hooks/voice",
            "h",
            "https://phone.example.com/hooks/voice",
            INCOMING,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(
        &f.app,
        webhook(
            "/hooks/voice",
            "h",
            "https://phone.example.com:8443/hooks/voice",
            INCOMING,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn without_a_public_url_the_host_header_is_used() {
    let f = fixture(&[]);
    for scheme in ["https", "http"] {
        let url = format!("{scheme}://abc123.ngrok.io/hooks/voice?tenant=1");
        let mut request = webhook("/hooks/voice?tenant=1", "abc123.ngrok.io", &url, INCOMING);
        *request.uri_mut() = "/hooks/voice?tenant=1".parse().unwrap();
        assert_eq!(
            send(&f.app, request).await.status,
            StatusCode::OK,
            "{scheme}"
        );
    }
    let r = send(
        &f.app,
        webhook(
            "/hooks/voice",
            "other.example",
            "https://abc123.ngrok.io/hooks/voice",
            INCOMING,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Behind a trusted proxy, only the forwarded scheme counts.
    let f = fixture(&[("OFFHOOK_TRUST_PROXY", "1")]);
    let mut request = webhook(
        "/hooks/voice",
        "h.example",
        "http://h.example/hooks/voice",
        INCOMING,
    );
    request
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    assert_eq!(send(&f.app, request).await.status, StatusCode::FORBIDDEN);
    // From a peer that is no trusted proxy the header counts for nothing.
    let mut request = webhook(
        "/hooks/voice",
        "h.example",
        "http://h.example/hooks/voice",
        INCOMING,
    );
    request
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let untrusted = send(&f.app, from_peer(request, "192.0.2.1:5000")).await;
    assert_eq!(untrusted.status, StatusCode::OK);
    let mut request = webhook(
        "/hooks/voice",
        "h.example",
        "https://h.example/hooks/voice",
        INCOMING,
    );
    request
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    assert_eq!(send(&f.app, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_content_types_get_415() {
    let f = fixture(&[("OFFHOOK_PUBLIC_URL", "https://phone.example.com")]);
    for content_type in [
        Some("application/json"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded; charset=iso-8859-1"),
        None,
    ] {
        let mut request = webhook(
            "/hooks/voice",
            "h",
            "https://phone.example.com/hooks/voice",
            INCOMING,
        );
        match content_type {
            Some(ct) => {
                request
                    .headers_mut()
                    .insert("content-type", ct.parse().unwrap());
            }
            None => {
                request.headers_mut().remove("content-type");
            }
        }
        let r = send(&f.app, request).await;
        assert_refused_without_twiml(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let f = fixture(&[("OFFHOOK_PUBLIC_URL", "https://phone.example.com")]);
    let url = "https://phone.example.com/hooks/voice";
    let mut request = webhook("/hooks/voice", "h", url, INCOMING);
    *request.body_mut() = Body::from(b"From=%FF%FE&To=x".to_vec());
    assert_refused_without_twiml(&send(&f.app, request).await, StatusCode::BAD_REQUEST);

    let mut big: Vec<(&str, &str)> = INCOMING.to_vec();
    let padding = "p".repeat(70 * 1024);
    big.push(("Padding", &padding));
    let r = send(&f.app, webhook("/hooks/voice", "h", url, &big)).await;
    assert_refused_without_twiml(&r, StatusCode::PAYLOAD_TOO_LARGE);

    // Just under the limit is fine.
    let mut fits: Vec<(&str, &str)> = INCOMING.to_vec();
    let padding = "p".repeat(60 * 1024);
    fits.push(("Padding", &padding));
    assert_eq!(
        send(&f.app, webhook("/hooks/voice", "h", url, &fits))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_router_nested_under_a_prefix_checks_the_public_url() {
    // The lab and the demo may mount the server under a path of their own.
    let f = fixture(&[("OFFHOOK_PUBLIC_URL", "http://127.0.0.1:9000/server")]);
    let app = axum::Router::new().nest("/server", f.app.clone());
    let url = "http://127.0.0.1:9000/server/hooks/voice";
    let r = send(
        &app,
        webhook("/server/hooks/voice", "127.0.0.1:9000", url, INCOMING),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Without a public URL, the full path the client used is what was signed.
    let f = fixture(&[]);
    let app = axum::Router::new().nest("/server", f.app.clone());
    let r = send(
        &app,
        webhook("/server/hooks/voice", "127.0.0.1:9000", url, INCOMING),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn webhooks_only_accept_post() {
    let f = fixture(&[]);
    let r = send(
        &f.app,
        Request::get("/hooks/voice").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}
