//! The Rust Device against the lab behaving as real Twilio does in the seed capture: the
//! gateway's `actpass` offers with a component-2 candidate, `telephone-event/8000` beside
//! every codec, no header extensions, an SSRC that changes mid-call, and `answer` without
//! `ringing` when the TwiML has no `answerOnBridge`. Both codecs, audio both ways.

use std::time::Duration;

use offhook_e2e::*;
use offhook_lab::Behaviour;
use offhook_lab::config::{DTMF_NUMBER, ECHO_NUMBER, SLOW_ANSWER_NUMBER, TONE_NUMBER};
use offhook_lab::control::types::{CallInfo, LegInfo, StartCall};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twilio_voice::media::audio::RecordingSink;
use twilio_voice::{CallEvent, Codec, DeviceEvent, DeviceOptions};

const T: Duration = Duration::from_secs(15);

fn options(lab: &offhook_lab::LabHandle, codec: Codec) -> DeviceOptions {
    DeviceOptions {
        codec_preferences: vec![codec],
        ..lab_options(lab)
    }
}

fn client_leg(call: &CallInfo, identity: &str) -> Option<LegInfo> {
    call.legs
        .iter()
        .find(|l| l.identity.as_deref() == Some(identity))
        .cloned()
}

/// The lab's leg of `identity` once `pred` holds for it.
async fn wait_leg(
    lab: &offhook_lab::LabHandle,
    identity: &str,
    pred: impl Fn(&LegInfo) -> bool,
) -> LegInfo {
    let call = lab
        .control()
        .wait_for_call(T, |c| client_leg(c, identity).is_some_and(|l| pred(&l)))
        .await
        .unwrap_or_else(|e| panic!("{identity}'s leg never got there: {e}"));
    client_leg(&call, identity).unwrap()
}

fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Pcmu => "PCMU",
        Codec::Opus => "opus",
    }
}

#[tokio::test]
async fn calls_both_ways_in_both_codecs_with_audio_both_ways() {
    init_logs();
    let lab = start_lab().await;
    for codec in [Codec::Pcmu, Codec::Opus] {
        let who = format!("out-{}", codec_name(codec).to_lowercase());
        let (device, _events, audio) =
            device_with_audio(&lab, &who, options(&lab, codec), Some(700.0));
        let call = device.connect(to(ECHO_NUMBER)).await.unwrap();
        let mut events = call.events();
        wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
        assert_eq!(call.codec(), Some(codec));
        let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), 700.0, T).await;
        assert!(
            (f - 700.0).abs() < 15.0,
            "{codec:?}: the echo of our 700 Hz, got {f}"
        );
        wait_leg(&lab, &who, |l| {
            l.media.as_ref().is_some_and(|m| {
                m.codec_in.as_deref() == Some(codec_name(codec))
                    && m.loudest_dominant_hz
                        .is_some_and(|hz| (hz - 700.0).abs() < 20.0)
                    // The lab's counters are read as they stand: waited for, not read once.
                    && m.packets_out > 10
            })
        })
        .await;
        call.disconnect();
        wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
        device.force_destroy();

        // Incoming: the gateway's own offer (actpass, component 2, mid `audio`).
        let who = format!("in-{}", codec_name(codec).to_lowercase());
        let (device, mut dev_events, audio) =
            device_with_audio(&lab, &who, options(&lab, codec), Some(900.0));
        device.register().await.unwrap();
        let sid = lab
            .control()
            .start_inbound_call(&StartCall {
                from: "+12025550170".into(),
                to: format!("client:{who}"),
                caller: Behaviour::Tone { hz: 440.0 },
                timeout_secs: Some(30),
                params: vec![],
            })
            .await
            .unwrap();
        let DeviceEvent::Incoming(call) = wait_device(&mut dev_events, T, |e| {
            matches!(e, DeviceEvent::Incoming(_))
        })
        .await
        else {
            unreachable!()
        };
        let mut events = call.events();
        call.accept();
        wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
        assert_eq!(call.codec(), Some(codec));
        let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), 440.0, T).await;
        assert!(
            (f - 440.0).abs() < 15.0,
            "{codec:?}: the caller's 440 Hz, got {f}"
        );
        wait_leg(&lab, &who, |l| {
            l.media.as_ref().is_some_and(|m| {
                m.codec_in.as_deref() == Some(codec_name(codec))
                    && m.loudest_dominant_hz
                        .is_some_and(|hz| (hz - 900.0).abs() < 20.0)
            })
        })
        .await;
        lab.control().hangup_call(&sid).await.unwrap();
        wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
        device.force_destroy();
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn digits_go_in_band_at_8khz_for_both_codecs() {
    init_logs();
    let lab = start_lab().await;
    for codec in [Codec::Pcmu, Codec::Opus] {
        let who = format!("dtmf-{}", codec_name(codec).to_lowercase());
        let (device, _events, _audio) =
            device_with_audio(&lab, &who, options(&lab, codec), Some(700.0));
        let call = device.connect(to(DTMF_NUMBER)).await.unwrap();
        let mut events = call.events();
        wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
        // Media is flowing before the digits go.
        wait_leg(&lab, &who, |l| {
            l.media.as_ref().is_some_and(|m| m.packets_in > 5)
        })
        .await;
        call.send_digits("123#").unwrap();
        let leg = wait_leg(&lab, &who, |l| {
            l.media.as_ref().is_some_and(|m| {
                m.dtmf.len() >= 4 && m.dtmf.iter().all(|d| d.duration_ms.is_some())
            })
        })
        .await;
        let dtmf = leg.media.clone().unwrap().dtmf;
        let digits: String = dtmf.iter().map(|d| d.digit).collect();
        assert_eq!(digits, "123#", "{codec:?}");
        for (i, d) in dtmf.iter().enumerate() {
            assert_eq!(d.source, "rfc4733", "{codec:?}: {dtmf:?}");
            assert_eq!(d.clock_hz, Some(8000), "{codec:?}: {dtmf:?}");
            // The negotiated clock is what the SDP says; this is what the packets' RTP
            // timestamps ran at (48000 if Opus's clock leaked into the events).
            if i > 0 {
                let hz = d
                    .measured_clock_hz
                    .expect("events ~230 ms apart are measured");
                assert!(
                    (6400..=9600).contains(&hz),
                    "{codec:?}: events at {hz} Hz: {dtmf:?}"
                );
            }
            let ms = d.duration_ms.unwrap();
            assert!((140..=200).contains(&ms), "{codec:?}: tone of {ms} ms");
        }
        assert!(
            leg.signaling_dtmf.is_empty(),
            "no signaling fallback: {:?}",
            leg.signaling_dtmf
        );
        call.disconnect();
        wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
        device.force_destroy();
    }
    lab.shutdown().await;
}

/// The longest run of near-silence in `samples` (at `rate`), in ms.
fn longest_gap_ms(samples: &[i16], rate: u32) -> f64 {
    let (mut run, mut longest) = (0usize, 0usize);
    for s in samples {
        if s.unsigned_abs() < 200 {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest as f64 * 1000.0 / rate as f64
}

async fn wait_for_samples(sink: &RecordingSink, count: usize) -> Vec<i16> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let samples = sink.samples();
        if samples.len() >= count || tokio::time::Instant::now() >= deadline {
            return samples;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_new_ssrc_mid_call_keeps_the_audio_going() {
    init_logs();
    let lab = start_lab().await;
    for codec in [Codec::Pcmu, Codec::Opus] {
        let who = format!("ssrc-{}", codec_name(codec).to_lowercase());
        let (device, _events, audio) =
            device_with_audio(&lab, &who, options(&lab, codec), Some(700.0));
        let call = device.connect(to(TONE_NUMBER)).await.unwrap();
        let mut events = call.events();
        wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
        let sink = audio.sink(call.id()).unwrap();
        let (f, _) = wait_to_hear(&sink, 1000.0, T).await;
        assert!(
            (f - 1000.0).abs() < 15.0,
            "the tone number's 1 kHz, got {f}"
        );
        let leg = wait_leg(&lab, &who, |l| l.media.is_some()).await;
        let rate = 16_000;
        // Two switches must each pass. A loaded machine may underrun the playout at any
        // moment (the audio engine's issue, not the switch's), so a switch whose window had
        // a gap is tried again, up to three times: a splice that really leaves a gap fails
        // every try.
        let mut switches = 0;
        for switch in 1..=2u32 {
            let mut gaps = Vec::new();
            loop {
                let before = wait_for_samples(&sink, sink.samples().len() + 2 * rate)
                    .await
                    .len();
                let baseline =
                    longest_gap_ms(&sink.samples()[before - 2 * rate..before], rate as u32);
                lab.control().fault_switch_ssrc(&leg.sid).await.unwrap();
                switches += 1;
                let samples = wait_for_samples(&sink, before + 2 * rate).await;
                let after = &samples[before..(before + 2 * rate).min(samples.len())];
                assert!(
                    after.len() >= 2 * rate,
                    "{codec:?}: the call stopped playing"
                );
                let f = offhook_dsp::analysis::dominant_frequency(
                    &after[after.len() - rate..],
                    rate as u32,
                );
                assert!(
                    (f - 1000.0).abs() < 15.0,
                    "{codec:?}: still the 1 kHz after the switch, got {f}"
                );
                let gap = longest_gap_ms(after, rate as u32);
                // No gap longer than one packet beyond what the baseline already had.
                if gap <= baseline.max(1.0) + 20.0 {
                    break;
                }
                gaps.push((gap, baseline));
                assert!(
                    gaps.len() < 3,
                    "{codec:?}: switch {switch} left a gap in the earpiece every time (gap, baseline ms): {gaps:?}"
                );
            }
        }
        let leg = wait_leg(&lab, &who, |l| {
            l.media
                .as_ref()
                .is_some_and(|m| m.ssrc_switches == switches)
        })
        .await;
        assert!(leg.end_reason.is_none());
        call.disconnect();
        wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
        device.force_destroy();
    }
    lab.shutdown().await;
}

/// A one-document TwiML app: every request gets `twiml`.
async fn twiml_app(twiml: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/voice", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut got = 0;
                // Headers, then the form body its Content-Length announces.
                loop {
                    let Ok(n) = s.read(&mut buf[got..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got += n;
                    let text = String::from_utf8_lossy(&buf[..got]).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                            })
                            .unwrap_or(0);
                        if got >= end + 4 + len || got == buf.len() {
                            break;
                        }
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{twiml}",
                    twiml.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn without_answer_on_bridge_the_answer_comes_without_ringing() {
    init_logs();
    // The seed's own app: `<Dial>` to a number, no answerOnBridge (seed lines 542–552: invite,
    // then answer with SDP and a new CallSid, no ringing). The far end rings for 3 s.
    let url = twiml_app(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial callerId=\"+12025550199\"><Number>+12025550106</Number></Dial></Response>",
    )
    .await;
    let credentials = offhook_lab::Credentials::generate();
    let mut config = offhook_lab::LabConfig::new(credentials);
    config.app_url = Some(url);
    let lab = offhook_lab::Lab::start(config).await.unwrap();
    answered_without_ringing(&lab, "carol").await;
    lab.shutdown().await;
}

/// The same order through the lab's control-API fault, with the lab's built-in routing (no
/// TwiML app): the fault's `<Dial>` runs Twilio's `answerOnBridge="false"` path, and turning
/// it off brings `ringing` back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_without_ringing_fault_answers_the_builtin_dial_at_once() {
    init_logs();
    let lab = start_lab().await;
    lab.control().fault_answer_without_ringing().await.unwrap();
    answered_without_ringing(&lab, "dora").await;
    lab.control().fault_ring_before_answer().await.unwrap();
    let (device, _events, _audio) = device_with_audio(&lab, "erin", lab_options(&lab), None);
    let call = device.connect(to(SLOW_ANSWER_NUMBER)).await.unwrap();
    let mut events = call.events();
    let seen = collect_until_accept(&mut events).await;
    assert!(
        seen.iter().any(|e| matches!(e, CallEvent::Ringing { .. })),
        "ringing again once the fault is off: {seen:?}"
    );
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
    lab.shutdown().await;
}

/// A call from `who` to the slow-answer number is answered with no `ringing` before it (the
/// client sees none, and the lab sent none), a real CallSid, and audio once the far end
/// answers after Twilio's ringback.
async fn answered_without_ringing(lab: &offhook_lab::LabHandle, who: &str) {
    let (device, _events, audio) = device_with_audio(lab, who, lab_options(lab), Some(700.0));
    let call = device.connect(to(SLOW_ANSWER_NUMBER)).await.unwrap();
    let mut events = call.events();
    let temp_sid = call.parameters().get("CallSid").cloned();
    let seen = collect_until_accept(&mut events).await;
    assert!(
        !seen.iter().any(|e| matches!(e, CallEvent::Ringing { .. })),
        "no ringing before the answer: {seen:?}"
    );
    let sid = call.parameters().get("CallSid").cloned().unwrap();
    assert!(sid.starts_with("CA"), "the answer's CallSid: {sid}");
    assert_ne!(Some(sid.clone()), temp_sid);
    // Twilio plays the ringback as media while the number rings, then the far end answers
    // (the slow number echoes).
    let sink = audio.sink(call.id()).unwrap();
    let (f, _) = wait_to_hear(&sink, 700.0, T).await;
    assert!(
        (f - 700.0).abs() < 15.0,
        "the far end's echo after the ringback, got {f}"
    );
    let frames = lab.control().connections().await.unwrap();
    let kinds: Vec<String> = frames
        .iter()
        .filter(|c| c.identity.as_deref() == Some(who))
        .flat_map(|c| c.frames.iter())
        .filter(|f| f.direction == "out")
        .map(|f| f.kind.clone())
        .collect();
    let answer_at = kinds.iter().position(|k| k == "answer").expect("an answer");
    assert!(
        !kinds[..answer_at].iter().any(|k| k == "ringing"),
        "{kinds:?}"
    );
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
}

/// The call's events up to and including `accept`.
async fn collect_until_accept(events: &mut twilio_voice::CallEvents) -> Vec<CallEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(e)) => {
                let done = matches!(e, CallEvent::Accept);
                seen.push(e);
                if done {
                    return seen;
                }
            }
            other => panic!("no accept ({other:?}); saw {seen:?}"),
        }
    }
}
