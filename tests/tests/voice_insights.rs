//! Insights: with `publish_events` on, the Device posts call events and metric samples to the
//! event gateway as the SDK does; a gateway that cannot be reached never affects the call.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use offhook_e2e::*;
use offhook_lab::TlsSource;
use serde_json::Value;
use tokio::net::TcpListener;
use twilio_voice::model::FeedbackIssue;
use twilio_voice::{CallEvent, DeviceOptions};

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
    tokio::time::sleep(Duration::from_secs(11)).await;
    call.post_feedback(Some(5), Some(FeedbackIssue::Echo))
        .await
        .unwrap();
    assert!(
        call.post_feedback(Some(7), None).await.is_err(),
        "scores are 1-5"
    );
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let posts = posts.lock().unwrap().clone();
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
    assert_eq!(e["payload"]["direction"], "OUTGOING");
    assert_eq!(e["payload"]["platform"], "WebRTC");
    assert!(
        e["payload"]["call_sid"]
            .as_str()
            .is_some_and(|s| s.starts_with("CA"))
    );
    assert!(
        e["payload"]["temp_call_sid"]
            .as_str()
            .is_some_and(|s| s.starts_with("TJS"))
    );
    assert!(!events_named(&posts, "connection", "disconnected-by-local").is_empty());
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
    assert_eq!(samples[5]["audio_codec"], "PCMU");
    assert!(samples[5]["mos"].as_f64().is_some_and(|m| m > 4.0));
    assert!(samples[0]["mos"].is_null(), "the first sample has no MOS");
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
