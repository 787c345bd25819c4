//! Helpers shared by the end-to-end tests and benchmarks: a lab per test, Devices pointed at
//! it, and waiting for events with deadlines (a test never hangs); [`coturn`], a TURN server
//! started and reaped by a guard; [`real_handset`], the `offhook run` process.

pub mod coturn;
pub mod real_handset;

use std::sync::Arc;
use std::time::Duration;

use offhook_lab::{Credentials, Lab, LabConfig, LabHandle};
use twilio_voice::media::audio::TestAudio;
use twilio_voice::{Call, CallEvent, CallEvents, Device, DeviceEvent, DeviceEvents, DeviceOptions};

/// A lab with generated credentials on loopback.
pub async fn start_lab() -> LabHandle {
    start_lab_with(|_| {}).await
}

/// A lab with generated credentials on loopback, its configuration changed by `f`.
pub async fn start_lab_with(f: impl FnOnce(&mut LabConfig)) -> LabHandle {
    let mut config = LabConfig::new(Credentials::generate());
    f(&mut config);
    Lab::start(config).await.expect("the lab starts")
}

/// Device options that reach `lab` (its signaling address, trusting its CA), no Insights.
pub fn lab_options(lab: &LabHandle) -> DeviceOptions {
    DeviceOptions {
        chunderw: Some(vec![lab.signaling_addr.to_string()]),
        extra_ca_pem: Some(lab.ca_cert_pem.clone().into_bytes()),
        publish_events: false,
        ..Default::default()
    }
}

/// A Device for `identity` with a token the lab accepts.
pub fn device(lab: &LabHandle, identity: &str, options: DeviceOptions) -> (Device, DeviceEvents) {
    let token = lab.credentials.token(identity, 3600);
    let d = Device::new(token, options).expect("device");
    let events = d.events();
    (d, events)
}

/// A Device with a tone on its microphone and recording sinks.
pub fn device_with_audio(
    lab: &LabHandle,
    identity: &str,
    options: DeviceOptions,
    tone_hz: Option<f64>,
) -> (Device, DeviceEvents, Arc<TestAudio>) {
    let token = lab.credentials.token(identity, 3600);
    let audio = Arc::new(TestAudio::new(16_000, tone_hz));
    let d = Device::with_audio(token, options, audio.clone()).expect("device");
    let events = d.events();
    (d, events, audio)
}

/// The next Device event matching `pred`, within `timeout`; panics with what was seen.
pub async fn wait_device<F>(
    events: &mut DeviceEvents,
    timeout: Duration,
    mut pred: F,
) -> DeviceEvent<Call>
where
    F: FnMut(&DeviceEvent<Call>) -> bool,
{
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(e)) => seen.push(format!("{e:?}")),
            Ok(None) => panic!("device events ended; seen: {seen:#?}"),
            Err(_) => panic!("no matching device event within {timeout:?}; seen: {seen:#?}"),
        }
    }
}

/// The next Call event matching `pred`, within `timeout`; panics with what was seen.
pub async fn wait_call<F>(events: &mut CallEvents, timeout: Duration, mut pred: F) -> CallEvent
where
    F: FnMut(&CallEvent) -> bool,
{
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(CallEvent::Volume { .. } | CallEvent::Sample(_))) => {}
            Ok(Some(e)) => seen.push(format!("{e:?}")),
            Ok(None) => panic!("call events ended; seen: {seen:#?}"),
            Err(_) => panic!("no matching call event within {timeout:?}; seen: {seen:#?}"),
        }
    }
}

/// The names of the events received within `window` (samples and volumes left out).
pub async fn collect_call_events(events: &mut CallEvents, window: Duration) -> Vec<CallEvent> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if !matches!(e, CallEvent::Volume { .. } | CallEvent::Sample(_)) {
            out.push(e);
        }
    }
    out
}

/// Polls `check` (every 100 ms) until it gives `Some`, and returns that; panics with `what`
/// and the last value `check` described after `timeout`. The one way a test waits for a
/// condition it cannot get as an event (lab state, levels, screens), instead of a fixed sleep.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not within {timeout:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Call parameters with just `To` (what `Device::connect` takes for a plain call).
pub fn to(number: &str) -> Vec<(String, String)> {
    vec![("To".to_string(), number.to_string())]
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OFFHOOK_TEST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Waits (up to `timeout`) until the last second a recording sink got has its dominant
/// frequency within 15 Hz of `hz`; returns what was heard last. Polling instead of a fixed
/// sleep keeps audio checks steady on a loaded machine.
pub async fn wait_to_hear(
    sink: &twilio_voice::media::audio::RecordingSink,
    hz: f64,
    timeout: Duration,
) -> (f64, f64) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let heard = sink.last_ms(1000);
        let f = offhook_dsp::analysis::dominant_frequency(&heard, sink_rate(sink));
        let level = offhook_dsp::analysis::rms(&heard);
        if ((f - hz).abs() < 15.0 && level > 300.0) || tokio::time::Instant::now() >= deadline {
            return (f, level);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn sink_rate(sink: &twilio_voice::media::audio::RecordingSink) -> u32 {
    use twilio_voice::AudioSink;
    sink.sample_rate()
}
