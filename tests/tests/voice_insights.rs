//! Insights: with `publish_events` on, the Device posts call events and metric samples to the
//! event gateway as the SDK does; a gateway that cannot be reached never affects the call.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use offhook_e2e::*;
use offhook_lab::Behaviour;
use offhook_lab::TlsSource;
use offhook_lab::control::types::StartCall;
use serde_json::Value;
use tokio::net::TcpListener;
use twilio_voice::model::FeedbackIssue;
use twilio_voice::{CallEvent, DeviceEvent, DeviceOptions};

const T: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Post {
    path: String,
    token: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A local HTTPS event gateway that records what it is sent.
async fn collector() -> (SocketAddr, String, Arc<Mutex<Vec<Post>>>) {
    let material =
        offhook_lab::tls::material(&TlsSource::Generate, IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(material.server_config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let posts = Arc::new(Mutex::new(Vec::new()));
    let p = posts.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let p = p.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let p = p.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .map(String::from)
                        };
                        let (token, content_type) =
                            (header("x-twilio-token"), header("content-type"));
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        p.lock().unwrap().push(Post {
                            path,
                            token,
                            content_type,
                            body,
                        });
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(b"{}"),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, material.ca_cert_pem, posts)
}

fn events_named(posts: &[Post], group: &str, name: &str) -> Vec<Value> {
    posts
        .iter()
        .filter(|p| p.path == "/v4/EndpointEvents")
        .filter(|p| p.body["group"] == group && p.body["name"] == name)
        .map(|p| p.body.clone())
        .collect()
}

fn has(posts: &[Post], event: &str) -> bool {
    let (group, name) = event.split_once('/').unwrap_or((event, ""));
    !events_named(posts, group, name).is_empty()
}

/// What the gateway got once `done` holds, within `timeout`; panics with what it got.
async fn wait_posts(
    posts: &Mutex<Vec<Post>>,
    timeout: Duration,
    done: impl Fn(&[Post]) -> bool,
) -> Vec<Post> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = posts.lock().unwrap().clone();
        if done(&now) {
            return now;
        }
        if tokio::time::Instant::now() >= deadline {
            let names: Vec<String> = now
                .iter()
                .map(|p| format!("{} {}/{}", p.path, p.body["group"], p.body["name"]))
                .collect();
            panic!("the gateway never got what was awaited; it got {names:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `Date.prototype.toISOString`'s shape: `2020-07-21T12:17:38.956Z`.
fn is_js_iso(s: &str) -> bool {
    let pattern = b"dddd-dd-ddTdd:dd:dd.dddZ";
    s.len() == pattern.len()
        && s.bytes().zip(pattern.iter()).all(|(c, p)| {
            if *p == b'd' {
                c.is_ascii_digit()
            } else {
                c == *p
            }
        })
}

/// The one `group/name` event's timestamp (events of a plain call happen once each).
fn once(posts: &[Post], event: &str) -> String {
    let (group, name) = event.split_once('/').unwrap();
    let found = events_named(posts, group, name);
    assert_eq!(found.len(), 1, "{event} once: {found:#?}");
    found[0]["timestamp"].as_str().unwrap().to_string()
}

/// No post was made before `event`.
fn assert_first(posts: &[Post], event: &str) {
    let first = once(posts, event);
    for p in posts {
        let t = p.body["timestamp"].as_str().unwrap_or_default();
        assert!(
            *first <= *t,
            "{event} ({first}) first, yet {} came at {t}",
            p.body["name"]
        );
    }
}

/// Each chain's events happened in its order (timestamps have millisecond resolution, so
/// neighbours may tie).
fn assert_order(posts: &[Post], chains: &[&[&str]]) {
    for chain in chains {
        for pair in chain.windows(2) {
            let (a, b) = (once(posts, pair[0]), once(posts, pair[1]));
            assert!(a <= b, "{} ({a}) before {} ({b})", pair[0], pair[1]);
        }
    }
}

/// What every event of a call shares: one call SID, one temp SID, the direction, the region
/// as the server names it, JavaScript timestamps.
fn assert_call_payloads(posts: &[Post], direction: &str) {
    let events: Vec<&Value> = posts
        .iter()
        .filter(|p| p.path == "/v4/EndpointEvents")
        .map(|p| &p.body)
        .collect();
    let temp = events[0]["payload"]["temp_call_sid"].clone();
    assert!(
        temp.as_str().is_some_and(|s| s.starts_with("TJS")),
        "{}",
        events[0]
    );
    for e in &events {
        assert!(is_js_iso(e["timestamp"].as_str().unwrap()), "{e}");
        assert_eq!(e["payload"]["direction"], direction, "{e}");
        assert_eq!(e["payload"]["temp_call_sid"], temp, "{e}");
    }
    // An outgoing call made before `connected` has no stream region yet (the SDK's Device
    // connects first); once there is one it is the server's name for it, never a shortcode.
    for e in &events {
        if let Some(region) = e["payload"].get("region") {
            let region = region.as_str().unwrap_or_default();
            assert!(
                twilio_voice::regions::region_shortcode(region).is_some(),
                "region {region:?} is a Twilio region name: {e}"
            );
        }
    }
    assert!(
        events
            .iter()
            .filter(|e| e["group"] == "connection" && e["name"] != "outgoing")
            .all(|e| e["payload"]["region"].is_string()),
        "{events:#?}"
    );
    let sids: Vec<&Value> = events
        .iter()
        .filter_map(|e| e["payload"].get("call_sid"))
        .collect();
    assert!(
        sids.iter()
            .all(|s| *s == sids[0] && s.as_str().is_some_and(|s| s.starts_with("CA")))
    );
}

/// The peer's states in the order WebRTC goes through them, and closed after the hangup.
const PEER_CHAINS: &[&[&str]] = &[
    &[
        "ice-gathering-state/gathering",
        "ice-gathering-state/complete",
    ],
    &[
        "dtls-transport-state/new",
        "dtls-transport-state/connecting",
        "dtls-transport-state/connected",
        "dtls-transport-state/closed",
    ],
    &[
        "ice-connection-state/checking",
        "ice-connection-state/connected",
        "ice-connection-state/closed",
    ],
    &[
        "pc-connection-state/connecting",
        "pc-connection-state/connected",
        "pc-connection-state/closed",
    ],
    &[
        "dtls-transport-state/connected",
        "pc-connection-state/connected",
    ],
    &[
        "ice-connection-state/connected",
        "pc-connection-state/connected",
    ],
];

#[tokio::test]
async fn events_and_metrics_are_posted_as_the_sdk_posts_them() {
    init_logs();
    let lab = start_lab().await;
    let (gateway, gateway_ca, posts) = collector().await;
    let mut ca = lab.ca_cert_pem.clone();
    ca.push_str(&gateway_ca);
    let options = DeviceOptions {
        publish_events: true,
        eventgw: Some(gateway.to_string()),
        eventgw_pinned: true,
        extra_ca_pem: Some(ca.into_bytes()),
        app_name: Some("offhook-tests".into()),
        app_version: Some("9.9".into()),
        ..lab_options(&lab)
    };
    let (device, _events, _audio) = device_with_audio(&lab, "ivy", options, Some(500.0));
    let call = device.connect(to("+12025550100")).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    // Ten one-second samples make a metrics batch.
    wait_posts(&posts, Duration::from_secs(20), |p| {
        p.iter().any(|p| p.path == "/v4/EndpointMetrics")
    })
    .await;
    call.post_feedback(Some(5), Some(FeedbackIssue::Echo))
        .await
        .unwrap();
    assert!(
        call.post_feedback(Some(7), None).await.is_err(),
        "scores are 1-5"
    );
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    let posts = wait_posts(&posts, T, |p| {
        has(p, "feedback/received") && has(p, "signaling-state/closed")
    })
    .await;
    assert!(
        posts
            .iter()
            .all(|p| p.content_type.as_deref() == Some("application/json"))
    );
    assert!(
        posts
            .iter()
            .all(|p| p.token.as_deref() == Some(device.token().as_str())),
        "X-Twilio-Token on every post"
    );

    let accepted = events_named(&posts, "connection", "accepted-by-remote");
    assert_eq!(accepted.len(), 1, "{posts:#?}");
    let e = &accepted[0];
    assert_eq!(e["publisher"], "twilio-js-sdk");
    assert_eq!(e["level"], "INFO");
    assert_eq!(e["payload_type"], "application/json");
    assert_eq!(e["private"], false);
    assert_eq!(e["publisher_metadata"]["app_name"], "offhook-tests");
    assert_eq!(e["payload"]["platform"], "WebRTC");
    assert!(
        e["payload"]["call_sid"]
            .as_str()
            .is_some_and(|s| s.starts_with("CA"))
    );
    assert_call_payloads(&posts, "OUTGOING");
    assert_first(&posts, "connection/outgoing");
    assert_order(&posts, PEER_CHAINS);
    assert_order(
        &posts,
        &[
            &[
                "connection/outgoing",
                "ice-gathering-state/gathering",
                "signaling-state/have-local-offer",
                "signaling-state/stable",
                "settings/edge",
                "connection/accepted-by-remote",
                "settings/codec",
                "connection/disconnected-by-local",
                "signaling-state/closed",
            ],
            &[
                "signaling-state/have-local-offer",
                "dtls-transport-state/new",
            ],
            &["signaling-state/stable", "dtls-transport-state/connecting"],
            &[
                "connection/disconnected-by-local",
                "dtls-transport-state/closed",
            ],
        ],
    );
    let states = posts.iter().filter(|p| {
        p.body["group"]
            .as_str()
            .is_some_and(|g| g.ends_with("-state"))
    });
    assert!(states.into_iter().all(|p| p.body["level"] == "DEBUG"));
    let edge = &events_named(&posts, "settings", "edge")[0];
    assert!(edge["payload"]["edge"].is_string(), "{edge}");
    let codec = &events_named(&posts, "settings", "codec")[0];
    assert_eq!(codec["payload"]["selected_codec"], "PCMU/8000", "{codec}");
    assert!(codec["payload"]["codec_params"].is_string(), "{codec}");
    let feedback = events_named(&posts, "feedback", "received");
    assert_eq!(feedback.len(), 1);
    assert_eq!(feedback[0]["payload"]["quality_score"], 5);
    assert_eq!(feedback[0]["payload"]["issue_name"], "echo");

    let metrics: Vec<&Post> = posts
        .iter()
        .filter(|p| p.path == "/v4/EndpointMetrics")
        .collect();
    assert!(!metrics.is_empty(), "metric samples posted");
    let batch = &metrics[0].body;
    assert_eq!(batch["group"], "quality-metrics-samples");
    assert_eq!(batch["name"], "metrics-sample");
    let samples = batch["payload"].as_array().expect("an array of samples");
    assert_eq!(samples.len(), 10, "batches of ten");
    for key in [
        "timestamp",
        "total_packets_received",
        "total_packets_lost",
        "total_packets_sent",
        "total_bytes_received",
        "total_bytes_sent",
        "packets_received",
        "packets_lost",
        "packets_lost_fraction",
        "bytes_received",
        "bytes_sent",
        "audio_codec",
        "audio_level_in",
        "audio_level_out",
        "call_volume_input",
        "call_volume_output",
        "jitter",
        "rtt",
        "mos",
        "call_sid",
        "dscp",
        "sdk_version",
        "direction",
    ] {
        assert!(
            samples[5].get(key).is_some(),
            "sample field {key}: {}",
            samples[5]
        );
    }
    assert!(
        samples
            .iter()
            .all(|s| is_js_iso(s["timestamp"].as_str().unwrap()))
    );
    assert_eq!(samples[5]["audio_codec"], "PCMU");
    assert!(samples[5]["mos"].as_f64().is_some_and(|m| m > 4.0));
    assert!(samples[0]["mos"].is_null(), "the first sample has no MOS");
    assert!(
        samples[5]["call_volume_input"]
            .as_f64()
            .is_some_and(|v| v > 0.0),
        "our 500 Hz tone is in the volume: {}",
        samples[5]
    );
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn an_incoming_call_is_posted_from_its_invite_to_its_hangup() {
    init_logs();
    let lab = start_lab().await;
    let (gateway, gateway_ca, posts) = collector().await;
    let mut ca = lab.ca_cert_pem.clone();
    ca.push_str(&gateway_ca);
    let options = DeviceOptions {
        publish_events: true,
        eventgw: Some(gateway.to_string()),
        eventgw_pinned: true,
        extra_ca_pem: Some(ca.into_bytes()),
        ..lab_options(&lab)
    };
    let (device, mut device_events, _audio) = device_with_audio(&lab, "kim", options, Some(700.0));
    device.register().await.unwrap();
    let request = StartCall {
        from: "+12025550170".into(),
        to: "client:kim".into(),
        caller: Behaviour::Tone { hz: 440.0 },
        timeout_secs: Some(30),
        params: vec![],
    };
    let sid = lab.control().start_inbound_call(&request).await.unwrap();
    let DeviceEvent::Incoming(call) = wait_device(&mut device_events, T, |e| {
        matches!(e, DeviceEvent::Incoming(_))
    })
    .await
    else {
        unreachable!()
    };
    let mut events = call.events();
    call.accept();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    wait_posts(&posts, T, |p| has(p, "pc-connection-state/connected")).await;
    lab.control().hangup_call(&sid).await.unwrap();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    let posts = wait_posts(&posts, T, |p| has(p, "signaling-state/closed")).await;
    assert_call_payloads(&posts, "INCOMING");
    assert_first(&posts, "connection/incoming");
    assert_eq!(
        events_named(&posts, "connection", "incoming")[0]["level"],
        "INFO"
    );
    assert_order(&posts, PEER_CHAINS);
    assert_order(
        &posts,
        &[
            &[
                "connection/incoming",
                "ice-gathering-state/gathering",
                "signaling-state/have-remote-offer",
                "signaling-state/stable",
                "settings/edge",
                "connection/accepted-by-local",
                "settings/codec",
                "connection/disconnected-by-remote",
                "signaling-state/closed",
            ],
            &[
                "signaling-state/have-remote-offer",
                "dtls-transport-state/new",
            ],
            &[
                "connection/disconnected-by-remote",
                "dtls-transport-state/closed",
            ],
        ],
    );
    assert!(!has(&posts, "connection/outgoing"));
    assert!(
        !has(&posts, "signaling-state/have-local-offer"),
        "the answerer never offers"
    );
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_gateway_never_affects_the_call() {
    init_logs();
    let lab = start_lab().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let options = DeviceOptions {
        publish_events: true,
        eventgw: Some(dead.to_string()),
        eventgw_pinned: true,
        ..lab_options(&lab)
    };
    let (device, _events, audio) = device_with_audio(&lab, "jay", options, Some(800.0));
    let call = device.connect(to("+12025550100")).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), 800.0, T).await;
    assert!(
        (f - 800.0).abs() < 15.0,
        "audio flows with Insights down, got {f}"
    );
    call.post_feedback(None, None)
        .await
        .expect("feedback is fire-and-forget");
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
    lab.shutdown().await;
}
