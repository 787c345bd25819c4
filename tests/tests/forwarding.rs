//! Forwarding and do-not-disturb end to end: the lab plays Twilio and fetches its TwiML from
//! the in-process `offhook-server`; the handsets are voice Devices registered at the lab; the
//! desk handset's settings go to the server through the handset's own API client, exactly as
//! its menu sends them.
//!
//! - busy: the desk declines, and the call goes on to the kitchen's extension;
//! - no answer: the desk rings out, and the call goes on to a number (the lab's echo);
//! - do-not-disturb: the desk never rings, and the caller reaches voicemail.

use std::path::Path;
use std::time::Duration;

use offhook::api::ServerEndpoint;
use offhook::demo::{DemoEnv, DemoOptions, ExtraHandset};
use offhook::phone::remote::{ForwardMode, Forwarding, SettingsUpdate};
use offhook_e2e::{device, init_logs, lab_options, wait_device, wait_until};
use offhook_lab::control::types::{CallInfo, LegInfo};
use twilio_voice::{Device, DeviceEvent, DeviceEvents};

const T: Duration = Duration::from_secs(15);
const CALLER: &str = "+12025550170";
/// The lab's echo number: a number that answers at once.
const ECHO: &str = "+12025550100";

struct Office {
    env: DemoEnv,
    desk: (Device, DeviceEvents),
    kitchen: (Device, DeviceEvents),
}

async fn office(dir: &Path) -> Office {
    let _ = std::fs::remove_dir_all(dir);
    let options = DemoOptions {
        dial_timeout_secs: 5,
        extra_handsets: vec![ExtraHandset {
            device_id: "kitchen-1".into(),
            identity: "kitchen".into(),
            extension: "102".into(),
            name: "Kitchen".into(),
            // Its own number: a call to the account's number rings only the desk.
            numbers: vec!["+12025550142".into()],
        }],
        ..Default::default()
    };
    let env = offhook::demo::start(dir, &options)
        .await
        .expect("server and lab start");
    let desk = device(
        &env.lab,
        offhook::demo::DEMO_IDENTITY,
        lab_options(&env.lab),
    );
    let kitchen = device(&env.lab, "kitchen", lab_options(&env.lab));
    desk.0.register().await.expect("the desk registers");
    kitchen.0.register().await.expect("the kitchen registers");
    Office { env, desk, kitchen }
}

impl Office {
    /// The desk handset's settings, changed through its API client.
    async fn desk_settings(&self, update: SettingsUpdate) {
        let config = self.env.config().expect("the demo config");
        let endpoint = ServerEndpoint::new(&config.server, T).expect("the server endpoint");
        offhook::api::handset::put_settings(&endpoint, &update)
            .await
            .expect("the server takes the settings");
    }

    async fn call_in(&self) -> String {
        self.env
            .call_in(CALLER, 440.0, 60)
            .await
            .expect("the lab calls")
    }

    async fn finish(self) {
        self.desk.0.force_destroy();
        self.kitchen.0.force_destroy();
        self.env.shutdown().await;
    }
}

fn forwarding(mode: ForwardMode, to: &str, after_secs: u32) -> SettingsUpdate {
    SettingsUpdate {
        forwarding: Some(Forwarding {
            mode,
            to: Some(to.to_string()),
            after_secs,
        }),
        ..Default::default()
    }
}

/// Waits until a leg of call `sid` matching `leg` is in progress; returns the call.
async fn wait_for_leg(
    env: &DemoEnv,
    sid: &str,
    what: &str,
    leg: impl Fn(&LegInfo) -> bool,
) -> CallInfo {
    wait_until(T, what, || async {
        let call = env
            .lab
            .control()
            .get_call(sid)
            .await
            .map_err(|e| e.to_string())?;
        if call.legs.iter().any(|l| leg(l) && l.state == "in-progress") {
            Ok(call)
        } else {
            Err(format!("{:#?}", call.legs))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_handset_forwards_to_another_extension() {
    init_logs();
    let mut office =
        office(&std::env::temp_dir().join(format!("offhook-forward-busy-{}", std::process::id())))
            .await;
    office
        .desk_settings(forwarding(ForwardMode::Busy, "102", 20))
        .await;
    let sid = office.call_in().await;
    // The desk declines: Twilio reports busy, and the server forwards to extension 102.
    let DeviceEvent::Incoming(at_desk) = wait_device(&mut office.desk.1, T, |e| {
        matches!(e, DeviceEvent::Incoming(_))
    })
    .await
    else {
        unreachable!()
    };
    at_desk.reject();
    let DeviceEvent::Incoming(in_kitchen) = wait_device(&mut office.kitchen.1, T, |e| {
        matches!(e, DeviceEvent::Incoming(_))
    })
    .await
    else {
        unreachable!()
    };
    assert!(
        in_kitchen
            .custom_parameters()
            .contains(&("callerNumber".to_string(), CALLER.to_string())),
        "the kitchen sees who calls: {:?}",
        in_kitchen.custom_parameters()
    );
    in_kitchen.accept();
    wait_for_leg(&office.env, &sid, "the kitchen talks to the caller", |l| {
        l.identity.as_deref() == Some("kitchen")
    })
    .await;
    office.env.lab.control().hangup_call(&sid).await.unwrap();
    office.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_handset_forwards_to_a_number() {
    init_logs();
    let mut office = office(
        &std::env::temp_dir().join(format!("offhook-forward-no-answer-{}", std::process::id())),
    )
    .await;
    office
        .desk_settings(forwarding(ForwardMode::NoAnswer, ECHO, 5))
        .await;
    let sid = office.call_in().await;
    // The desk rings and nobody lifts; after 5 s the call goes to the number.
    wait_device(&mut office.desk.1, T, |e| {
        matches!(e, DeviceEvent::Incoming(_))
    })
    .await;
    let call = wait_for_leg(
        &office.env,
        &sid,
        "the number answers the forwarded call",
        |l| l.to == ECHO,
    )
    .await;
    let desk_leg = call
        .legs
        .iter()
        .find(|l| l.identity.as_deref() == Some(offhook::demo::DEMO_IDENTITY))
        .expect("the desk was rung first");
    assert_ne!(desk_leg.state, "in-progress", "{desk_leg:?}");
    office.env.lab.control().hangup_call(&sid).await.unwrap();
    office.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_disturb_sends_callers_straight_to_voicemail() {
    init_logs();
    let office =
        office(&std::env::temp_dir().join(format!("offhook-forward-dnd-{}", std::process::id())))
            .await;
    office
        .desk_settings(SettingsUpdate {
            dnd: Some(true),
            ..Default::default()
        })
        .await;
    // Only the desk rings for the account's number: nobody is rung.
    let sid = office.call_in().await;
    wait_until(T, "the caller is recording a message", || async {
        let call = office
            .env
            .lab
            .control()
            .get_call(&sid)
            .await
            .map_err(|e| e.to_string())?;
        let recording = call
            .legs
            .iter()
            .filter_map(|l| l.media.as_ref()?.recording_ms)
            .max()
            .unwrap_or(0);
        if recording > 0 {
            Ok(())
        } else {
            Err(format!("{:#?}", call.legs))
        }
    })
    .await;
    let call = office.env.lab.control().get_call(&sid).await.unwrap();
    assert!(
        call.legs.iter().all(|l| l.identity.is_none()),
        "no handset was rung: {:#?}",
        call.legs
    );
    office.env.lab.control().hangup_call(&sid).await.unwrap();
    office.finish().await;
}
