//! Voicemail through the router, on SQLite and on PostgreSQL: a call nobody answers leaves a
//! message, callbacks are checked, the `*97` menu's keys, deletion at Twilio (a local fake)
//! and its retries, and a database that goes away.

#[macro_use]
mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use offhook_server::voicemail::{greeting, menu};
use offhook_server::worker;

/// `*97` from the desk: the menu's first TwiML.
async fn dial_voicemail(app: &axum::Router) -> String {
    let params = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CA557a5d46438c324c7e1f9aa15e5f0dbb"),
        ("From", "client:desk"),
        ("To", ""),
        ("phoneNumber", "*97"),
    ];
    let reply = twilio(app, "/hooks/call/connect", &params).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.text()
}

/// A key at the menu: Twilio requests the `<Gather>` action with `Digits` (or, for no key
/// and for `#`, the `<Redirect>` after it, without).
async fn press(app: &axum::Router, twiml: &str, key: Option<&str>) -> String {
    let params = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CA557a5d46438c324c7e1f9aa15e5f0dbb"),
        ("From", "client:desk"),
    ];
    let reply = match key {
        Some(digits) => {
            let action = attr(twiml, "Gather", "action").expect("a Gather");
            let mut with_digits = params.to_vec();
            with_digits.push(("Digits", digits));
            twilio(app, &action, &with_digits).await
        }
        None => {
            let redirect = text_of(twiml, "Redirect").expect("a Redirect after the Gather");
            twilio(app, &redirect, &params).await
        }
    };
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.text()
}

async fn desk_voicemail(app: &axum::Router) -> serde_json::Value {
    let reply = send(app, desk("GET", "/api/handset/voicemail", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()
}

fn played(twiml: &str) -> Option<String> {
    text_of(twiml, "Play")
}

fn recording_url(n: u32) -> String {
    format!(
        "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{}",
        sid("RE", n)
    )
}

on_both!(
    an_unanswered_call_leaves_one_message_however_often_twilio_calls_back,
    |backend| {
        let db = database(backend, "leave");
        let f = fixture_with_store(&db, &[]).await;
        // The call rings both handsets, then (no answer) the greeting and <Record>.
        let params = call_params(&sid("CA", 1));
        let voice = twilio(&f.app, "/hooks/voice", &borrowed(&params)).await;
        let xml = voice.text();
        assert!(
            xml.contains("<Identity>desk</Identity>")
                && xml.contains("<Identity>kitchen</Identity>"),
            "{xml}"
        );
        assert_eq!(attr(&xml, "Dial", "timeout").as_deref(), Some("20"));
        let callback = unanswered_call(&f.app, &sid("CA", 1)).await;
        assert_eq!(
            callback,
            "/hooks/voicemail/recorded?mailbox=number%3A%2B447381234567&caller=%2B12025550123"
        );
        let recording = recording_params(&sid("CA", 1), 1);
        for _ in 0..3 {
            let reply = twilio(&f.app, &callback, &borrowed(&recording)).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        }
        let listing = desk_voicemail(&f.app).await;
        assert_eq!(listing["new"], 1);
        assert_eq!(listing["saved"], 0);
        let messages = listing["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["caller"], CALLER);
        assert_eq!(messages[0]["received_at"], NOW);
        assert_eq!(messages[0]["duration_secs"], 3);
        assert_eq!(messages[0]["state"], "new");
        assert!(messages[0]["id"].is_i64());
        // The <Record action> thanks the caller.
        let goodbye = twilio(&f.app, "/hooks/voicemail/goodbye", &borrowed(&params)).await;
        assert!(goodbye.text().contains("<Hangup/>"), "{}", goodbye.text());
        // An answered call just ends.
        let mut answered = params.clone();
        answered.push(("DialCallStatus", "completed".into()));
        let action = attr(&xml, "Dial", "action").unwrap();
        let reply = twilio(&f.app, &action, &borrowed(&answered)).await;
        assert!(
            reply.text().ends_with("<Response><Hangup/></Response>"),
            "{}",
            reply.text()
        );
    }
);

on_both!(
    a_forged_or_unknown_recording_callback_stores_nothing,
    |backend| {
        let db = database(backend, "forged");
        let f = fixture_with_store(&db, &[]).await;
        let callback = unanswered_call(&f.app, &sid("CA", 1)).await;
        let recording = recording_params(&sid("CA", 1), 1);
        // Signed with another key: 403.
        let forged = twilio_forged(&f.app, &callback, &borrowed(&recording)).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text());
        // Signed, but the URL was changed to another mailbox (the signature covers the query).
        let tampered = webhook(
            "/hooks/voicemail/recorded?mailbox=number%3A%2B12031234567",
            "127.0.0.1:8080",
            &format!("{PUBLIC}{callback}"),
            &borrowed(&recording),
        );
        assert_eq!(send(&f.app, tampered).await.status, StatusCode::FORBIDDEN);
        // Genuine, but for a call this server never sent to voicemail: 400.
        for unknown in [
            "/hooks/voicemail/recorded?mailbox=number%3A%2B15550000000&caller=x",
            "/hooks/voicemail/recorded",
        ] {
            let reply = twilio(&f.app, unknown, &borrowed(&recording)).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{unknown}: {}",
                reply.text()
            );
        }
        // Genuine and for this mailbox, but malformed: 400.
        let mut malformed = recording.clone();
        malformed.retain(|(k, _)| *k != "RecordingSid");
        let reply = twilio(&f.app, &callback, &borrowed(&malformed)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let listing = desk_voicemail(&f.app).await;
        assert_eq!(listing["new"], 0);
        assert_eq!(listing["messages"].as_array().unwrap().len(), 0);
        assert!(f.state.pending.is_empty());
    }
);

on_both!(
    the_menu_repeats_saves_skips_and_deletes_at_twilio,
    |backend| {
        let db = database(backend, "menu");
        let twilio_api = FakeTwilio::start().await;
        let f = fixture_with_store(&db, &[("OFFHOOK_TWILIO_API_URL", &twilio_api.url)]).await;
        for n in 1..=4 {
            f.clock.advance(Duration::from_secs(60));
            assert_eq!(leave_message(&f.app, n).await.status, StatusCode::OK);
        }
        // The first greeting: counts, then the oldest new message with its caller and date.
        let first = dial_voicemail(&f.app).await;
        assert!(
            first.contains("<Say>You have 4 new and 0 saved messages.</Say>"),
            "{first}"
        );
        assert!(
        first.contains("<Say>Message from +1 2 0 2 5 5 5 0 1 2 3, received November 21 at 12:01 PM UTC.</Say>"),
        "{first}"
    );
        assert!(
            first.contains(&format!("<Say>{}</Say>", menu::SAY_OPTIONS)),
            "{first}"
        );
        assert_eq!(played(&first), Some(recording_url(1)));
        assert_eq!(attr(&first, "Gather", "numDigits").as_deref(), Some("1"));
        // * repeats it.
        let again = press(&f.app, &first, Some("*")).await;
        assert_eq!(played(&again), Some(recording_url(1)));
        assert_eq!(desk_voicemail(&f.app).await["new"], 4);
        // A key that is no option says so and offers the keys again.
        let wrong = press(&f.app, &again, Some("5")).await;
        assert!(wrong.contains(menu::SAY_NOT_AN_OPTION), "{wrong}");
        assert_eq!(played(&wrong), None);
        // 9 saves it and plays the next.
        let second = press(&f.app, &wrong, Some("9")).await;
        assert!(second.contains(menu::SAY_SAVED), "{second}");
        assert_eq!(played(&second), Some(recording_url(2)));
        let listing = desk_voicemail(&f.app).await;
        assert_eq!(
            (listing["new"].as_u64(), listing["saved"].as_u64()),
            (Some(3), Some(1))
        );
        // # (which Twilio never passes to the action: the Redirect runs) keeps it as saved.
        let third = press(&f.app, &second, None).await;
        assert_eq!(played(&third), Some(recording_url(3)));
        let listing = desk_voicemail(&f.app).await;
        assert_eq!(
            (listing["new"].as_u64(), listing["saved"].as_u64()),
            (Some(2), Some(2))
        );
        // 7 deletes it here at once and at Twilio.
        let fourth = press(&f.app, &third, Some("7")).await;
        assert!(fourth.contains(menu::SAY_DELETED), "{fourth}");
        assert_eq!(played(&fourth), Some(recording_url(4)));
        let listing = desk_voicemail(&f.app).await;
        assert_eq!(
            (listing["new"].as_u64(), listing["saved"].as_u64()),
            (Some(1), Some(2))
        );
        until("Twilio was asked to delete the recording", || async {
            !twilio_api.deletes().is_empty()
        })
        .await;
        let request = &twilio_api.deletes()[0];
        assert_eq!(
            request.path,
            format!(
                "/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{}.json",
                sid("RE", 3)
            )
        );
        assert!(request.authorized, "HTTP Basic with the API key and secret");
        let store = f.state.store.clone().unwrap();
        until(
            "the message is forgotten once Twilio deleted it",
            || async { store.messages_being_deleted().await.unwrap().is_empty() },
        )
        .await;
        // After the last: goodbye.
        let end = press(&f.app, &fourth, Some("#")).await;
        assert!(
            end.contains(menu::SAY_NO_MORE) && end.ends_with("<Hangup/></Response>"),
            "{end}"
        );
        let listing = desk_voicemail(&f.app).await;
        assert_eq!(
            (listing["new"].as_u64(), listing["saved"].as_u64()),
            (Some(0), Some(3))
        );
        // Newest first in the listing.
        let ids: Vec<i64> = listing["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(ids, sorted);
        // Calling again: saved ones, oldest first.
        let next_call = dial_voicemail(&f.app).await;
        assert!(
            next_call.contains("You have 0 new and 3 saved messages."),
            "{next_call}"
        );
        assert_eq!(played(&next_call), Some(recording_url(1)));
    }
);

on_both!(
    the_owner_records_a_greeting_that_callers_then_hear,
    |backend| {
        let db = database(backend, "greeting");
        let f = fixture_with_store(&db, &[]).await;
        // An empty mailbox offers the greeting; 0 asks for it and records.
        let entry = dial_voicemail(&f.app).await;
        assert!(
            entry.contains("<Say>You have 0 new and 0 saved messages.</Say>"),
            "{entry}"
        );
        let asked = press(&f.app, &entry, Some("0")).await;
        assert!(asked.contains(greeting::SAY_RECORD_GREETING), "{asked}");
        let action = attr(&asked, "Record", "action").expect("a Record with an action");
        let url = recording_url(77);
        let recorded = [
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", "CA557a5d46438c324c7e1f9aa15e5f0dbb"),
            ("RecordingUrl", url.as_str()),
            ("RecordingDuration", "4"),
            ("Digits", "#"),
        ];
        // A forged request keeps nothing.
        let forged = twilio_forged(&f.app, &action, &recorded).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let caller_hears = |twiml: String| played(&twiml);
        let call = call_params(&sid("CA", 1));
        let voice = twilio(&f.app, "/hooks/voice", &borrowed(&call))
            .await
            .text();
        let dial_action = attr(&voice, "Dial", "action").expect("a Dial action");
        let mut ended = call.clone();
        ended.push(("DialCallStatus", "no-answer".into()));
        let before = twilio(&f.app, &dial_action, &borrowed(&ended)).await.text();
        assert_eq!(caller_hears(before), None, "the default greeting is spoken");
        let saved = twilio(&f.app, &action, &recorded).await;
        assert_eq!(saved.status, StatusCode::OK);
        assert!(
            saved.text().contains(greeting::SAY_SAVED),
            "{}",
            saved.text()
        );
        let after = twilio(&f.app, &dial_action, &borrowed(&ended)).await.text();
        assert_eq!(caller_hears(after.clone()), Some(url.clone()), "{after}");
        assert!(
            after.contains("<Record"),
            "the message is still recorded: {after}"
        );
        // A recording with nothing in it keeps the greeting there is.
        let empty = [
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", "CA557a5d46438c324c7e1f9aa15e5f0dbb"),
            ("RecordingUrl", "https://api.twilio.com/x/RE0"),
            ("RecordingDuration", "0"),
        ];
        let nothing = twilio(&f.app, &action, &empty).await.text();
        assert!(
            nothing.contains(greeting::SAY_NOTHING_RECORDED),
            "{nothing}"
        );
        let still = twilio(&f.app, &dial_action, &borrowed(&ended)).await.text();
        assert_eq!(caller_hears(still), Some(url));
    }
);

on_both!(
    a_message_whose_recording_twilio_lost_is_apologised_for_and_kept,
    |backend| {
        let db = database(backend, "lost");
        let twilio_api = FakeTwilio::start().await;
        let f = fixture_with_store(&db, &[("OFFHOOK_TWILIO_API_URL", &twilio_api.url)]).await;
        leave_message(&f.app, 1).await;
        leave_message(&f.app, 2).await;
        twilio_api.lose(&sid("RE", 1));
        let first = dial_voicemail(&f.app).await;
        assert!(first.contains(menu::SAY_CANNOT_PLAY), "{first}");
        assert_eq!(played(&first), None);
        // The next one plays as usual, and the lost one is kept (saved, as # keeps it).
        let second = press(&f.app, &first, None).await;
        assert!(!second.contains(menu::SAY_CANNOT_PLAY), "{second}");
        assert_eq!(played(&second), Some(recording_url(2)));
        let listing = desk_voicemail(&f.app).await;
        assert_eq!(listing["messages"].as_array().unwrap().len(), 2);
        assert!(twilio_api.deletes().is_empty(), "nothing deleted at Twilio");
        assert!(
            twilio_api
                .requests()
                .iter()
                .any(|r| r.method == "GET" && r.path.ends_with(&format!("{}.json", sid("RE", 1)))),
            "the menu asked Twilio about the recording"
        );
    }
);

on_both!(
    a_failed_delete_at_twilio_is_retried_and_a_404_counts_as_deleted,
    |backend| {
        let db = database(backend, "retry");
        let twilio_api = FakeTwilio::start().await;
        twilio_api.answer(&[500, 503]);
        let f = fixture_with_store(&db, &[("OFFHOOK_TWILIO_API_URL", &twilio_api.url)]).await;
        leave_message(&f.app, 1).await;
        leave_message(&f.app, 2).await;
        let first = dial_voicemail(&f.app).await;
        let second = press(&f.app, &first, Some("7")).await;
        press(&f.app, &second, Some("7")).await;
        until("both deletions were tried", || async {
            twilio_api.deletes().len() == 2
        })
        .await;
        let store = f.state.store.clone().unwrap();
        until("both failures are settled", || async {
            store.messages_being_deleted().await.unwrap().len() == 2
        })
        .await;
        // Gone from the mailbox already, though Twilio still has them.
        assert_eq!(
            desk_voicemail(&f.app).await["messages"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        // The next round: Twilio deletes one and no longer knows the other (404): both done.
        twilio_api.answer(&[204, 404]);
        let done = worker::retry(&f.state).await;
        assert_eq!(done.recordings_deleted, 2, "{done:?}");
        assert!(store.messages_being_deleted().await.unwrap().is_empty());
        assert_eq!(twilio_api.deletes().len(), 4);
        assert!(twilio_api.requests().iter().all(|r| r.authorized));
    }
);

on_both!(
    forwarding_and_do_not_disturb_set_by_the_handset_shape_the_call,
    |backend| {
        let db = database(backend, "forward");
        let f = fixture_with_store(&db, &[]).await;
        let params = call_params(&sid("CA", 1));
        // Both handsets on do-not-disturb: straight to the greeting.
        for (id, secret) in [("desk", DESK_SECRET), ("kitchen-1", KITCHEN_SECRET)] {
            let request = axum::http::Request::put("/api/handset/settings")
                .header("authorization", basic(id, secret))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(r#"{"dnd":true}"#))
                .unwrap();
            assert_eq!(send(&f.app, request).await.status, StatusCode::OK);
        }
        let voice = twilio(&f.app, "/hooks/voice", &borrowed(&params))
            .await
            .text();
        assert!(!voice.contains("<Dial"), "{voice}");
        assert!(voice.contains("<Record "), "{voice}");
        // The desk back, forwarding to the kitchen's extension when busy and to a number after
        // 12 s without an answer… one mode at a time: busy first.
        let reply = send(
            &f.app,
            desk(
                "PUT",
                "/api/handset/settings",
                Some(r#"{"dnd":false,"forwarding":{"mode":"busy","to":"+14155550100"}}"#),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let voice = twilio(&f.app, "/hooks/voice", &borrowed(&params))
            .await
            .text();
        let action = attr(&voice, "Dial", "action").unwrap();
        assert!(action.ends_with("&busy=%2B14155550100"), "{action}");
        let mut busy = params.clone();
        busy.push(("DialCallStatus", "busy".into()));
        let forwarded = twilio(&f.app, &action, &borrowed(&busy)).await.text();
        assert_eq!(
            text_of(&forwarded, "Number").as_deref(),
            Some("+14155550100")
        );
        // No answer after 12 s.
        let reply = send(
            &f.app,
            desk(
                "PUT",
                "/api/handset/settings",
                Some(r#"{"forwarding":{"mode":"no-answer","to":"+14155550100","after_secs":12}}"#),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let voice = twilio(&f.app, "/hooks/voice", &borrowed(&params))
            .await
            .text();
        assert_eq!(attr(&voice, "Dial", "timeout").as_deref(), Some("12"));
        assert!(
            attr(&voice, "Dial", "action")
                .unwrap()
                .ends_with("&noanswer=%2B14155550100")
        );
        // Always: the number rings in the desk's place (the kitchen is still on DND).
        send(
            &f.app,
            desk(
                "PUT",
                "/api/handset/settings",
                Some(r#"{"forwarding":{"mode":"always"}}"#),
            ),
        )
        .await;
        let voice = twilio(&f.app, "/hooks/voice", &borrowed(&params))
            .await
            .text();
        assert_eq!(text_of(&voice, "Number").as_deref(), Some("+14155550100"));
        assert!(!voice.contains("<Client"), "{voice}");
    }
);

on_both!(
    a_database_that_went_away_still_rings_the_handsets_and_holds_messages,
    |backend| {
        let db = database(backend, "away");
        let f = fixture_with_store(&db, &[]).await;
        let callback = unanswered_call(&f.app, &sid("CA", 1)).await;
        f.state.store.as_ref().unwrap().close().await;
        // Incoming calls ring every handset, with voicemail after.
        let voice = twilio(
            &f.app,
            "/hooks/voice",
            &borrowed(&call_params(&sid("CA", 2))),
        )
        .await;
        assert_eq!(voice.status, StatusCode::OK);
        let xml = voice.text();
        assert!(
            xml.contains("<Identity>desk</Identity>")
                && xml.contains("<Identity>kitchen</Identity>"),
            "{xml}"
        );
        assert!(attr(&xml, "Dial", "action").is_some(), "{xml}");
        // The dial's end still takes a message, with the default greeting.
        let mut ended = call_params(&sid("CA", 2));
        ended.push(("DialCallStatus", "no-answer".into()));
        let record = twilio(
            &f.app,
            &attr(&xml, "Dial", "action").unwrap(),
            &borrowed(&ended),
        )
        .await;
        assert_eq!(record.status, StatusCode::OK);
        assert!(record.text().contains("<Record "), "{}", record.text());
        // The recording is held for later, and Twilio is told it was taken.
        let reply = twilio(
            &f.app,
            &callback,
            &borrowed(&recording_params(&sid("CA", 1), 1)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(f.state.pending.len(), 1);
        let done = worker::retry(&f.state).await;
        assert_eq!(
            (done.messages_saved, f.state.pending.len()),
            (0, 1),
            "{done:?}"
        );
        // The menu apologises; the handset API says 503.
        let menu_twiml = dial_voicemail(&f.app).await;
        assert!(menu_twiml.contains(menu::SAY_UNAVAILABLE), "{menu_twiml}");
        let reply = send(&f.app, desk("GET", "/api/handset/voicemail", None)).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.json()["error"]["code"], "database_unavailable");
        // Twilio's retry of the callback, reaching an instance whose database answers, stores it.
        let g = fixture_with_store(&db, &[]).await;
        let held = twilio(
            &g.app,
            &callback,
            &borrowed(&recording_params(&sid("CA", 1), 1)),
        )
        .await;
        assert_eq!(held.status, StatusCode::OK);
        assert_eq!(desk_voicemail(&g.app).await["new"], 1);
    }
);

on_both!(
    a_message_held_while_the_database_is_locked_is_stored_when_it_is_free,
    |backend| {
        use sqlx::Executor as _;
        let db = database(backend, "locked");
        let f = fixture_with_store(&db, &[]).await;
        let callback = unanswered_call(&f.app, &sid("CA", 1)).await;
        // Another client holds the messages table: every write waits past the store deadline.
        sqlx::any::install_default_drivers();
        let mut locker = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        match backend {
            Backend::Sqlite => {
                locker.execute("BEGIN IMMEDIATE").await.unwrap();
            }
            Backend::Postgres => {
                locker.execute("BEGIN").await.unwrap();
                locker
                    .execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
                    .await
                    .unwrap();
            }
        }
        let reply = twilio(
            &f.app,
            &callback,
            &borrowed(&recording_params(&sid("CA", 1), 1)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.text(), "held\n");
        assert_eq!(f.state.pending.len(), 1);
        locker.execute("ROLLBACK").await.unwrap();
        drop(locker);
        // The store's connection may still be finishing the write it gave up on.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while worker::retry(&f.state).await.messages_saved == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the held message was never stored"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(f.state.pending.is_empty());
        assert_eq!(desk_voicemail(&f.app).await["new"], 1);
    }
);
