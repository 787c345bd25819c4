//! The same store tests on SQLite and on a real PostgreSQL (a throw-away cluster).

use super::handsets::{ForwardWhen, HandsetSettings, HandsetStatus};
use super::test_postgres::TestDatabase;
use super::voicemail::{Counts, Greeting, MessageState, NewMessage};
use super::*;

/// A temp dir removed on drop (the SQLite file's home).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh_sqlite(name: &str) -> (TempDir, String) {
    let dir = std::env::temp_dir().join(format!(
        "offhook-store-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = Store::default_url(&dir.join("handsets.toml"));
    (TempDir(dir), url)
}

/// Runs `$body` (an async block using `store`) once on SQLite and once on PostgreSQL.
macro_rules! on_both {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            use super::*;

            async fn run($store: Store) $body

            #[tokio::test]
            async fn sqlite() {
                let (_dir, url) = fresh_sqlite(stringify!($name));
                let store = Store::open(&url).await.expect("open SQLite");
                assert_eq!(store.dialect(), Dialect::Sqlite);
                run(store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let database = TestDatabase::create(stringify!($name));
                let store = Store::open(&database.url).await.expect("open PostgreSQL");
                assert_eq!(store.dialect(), Dialect::Postgres);
                run(store).await;
            }
        }
    };
}

fn message(sid: &str, at: i64) -> NewMessage {
    NewMessage {
        mailbox: "number:+14155550100".into(),
        recording_sid: sid.into(),
        recording_url: format!("https://api.twilio.com/recordings/{sid}"),
        duration_seconds: 3,
        call_sid: format!("CA{sid}"),
        caller: "+12025550123".into(),
        received_at: at,
    }
}

on_both!(
    migrations_are_applied_once_and_reopening_keeps_data,
    |store| {
        assert_eq!(store.schema_version().await.unwrap(), 3);
        store.check().await.unwrap();
        assert!(store.save_message(&message("RE1", 100)).await.unwrap());
        let reopened = Store::open(&reopen_url(&store)).await.unwrap();
        assert_eq!(reopened.schema_version().await.unwrap(), 3);
        assert_eq!(
            reopened.counts("number:+14155550100").await.unwrap(),
            Counts { new: 1, saved: 0 }
        );
    }
);

on_both!(a_retried_recording_callback_stores_one_message, |store| {
    assert!(store.save_message(&message("RE1", 100)).await.unwrap());
    assert!(!store.save_message(&message("RE1", 100)).await.unwrap());
    assert_eq!(
        store.messages("number:+14155550100").await.unwrap().len(),
        1
    );
});

on_both!(
    messages_play_new_first_then_saved_each_oldest_first,
    |store| {
        for (sid, at) in [("RE3", 300), ("RE1", 100), ("RE2", 200)] {
            store.save_message(&message(sid, at)).await.unwrap();
        }
        let all = store.messages("number:+14155550100").await.unwrap();
        let first = all.iter().find(|m| m.recording_sid == "RE1").unwrap().id;
        assert!(store.mark_saved(first).await.unwrap());
        let order: Vec<_> = store
            .messages("number:+14155550100")
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.recording_sid, m.state))
            .collect();
        assert_eq!(
            order,
            [
                ("RE2".to_string(), MessageState::New),
                ("RE3".to_string(), MessageState::New),
                ("RE1".to_string(), MessageState::Saved),
            ]
        );
        assert_eq!(
            store.counts("number:+14155550100").await.unwrap(),
            Counts { new: 2, saved: 1 }
        );
        assert_eq!(
            store.counts("number:+19995550000").await.unwrap(),
            Counts::default()
        );
    }
);

on_both!(
    deleting_leaves_the_mailbox_at_once_and_is_forgotten_after_twilio,
    |store| {
        store.save_message(&message("RE1", 100)).await.unwrap();
        let id = store.messages("number:+14155550100").await.unwrap()[0].id;
        assert_eq!(
            store.start_deleting(id).await.unwrap().as_deref(),
            Some("RE1")
        );
        assert!(
            store
                .messages("number:+14155550100")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.counts("number:+14155550100").await.unwrap(),
            Counts::default()
        );
        // A deleted message cannot be saved back.
        assert!(!store.mark_saved(id).await.unwrap());
        // Until Twilio confirms, the deletion is kept for retrying.
        let pending = store.messages_being_deleted().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].state, MessageState::Deleting);
        store.forget_message(id).await.unwrap();
        assert!(store.messages_being_deleted().await.unwrap().is_empty());
        assert_eq!(store.message(id).await.unwrap(), None);
        assert_eq!(store.start_deleting(id).await.unwrap(), None);
    }
);

on_both!(greetings_default_to_nothing_and_are_replaced, |store| {
    assert_eq!(
        store.greeting("handset:desk").await.unwrap(),
        Greeting::default()
    );
    let spoken = Greeting {
        text: Some("You have reached the desk.".into()),
        recording_url: None,
    };
    store.set_greeting("handset:desk", &spoken).await.unwrap();
    assert_eq!(store.greeting("handset:desk").await.unwrap(), spoken);
    let recorded = Greeting {
        text: None,
        recording_url: Some("https://api.twilio.com/greeting".into()),
    };
    store.set_greeting("handset:desk", &recorded).await.unwrap();
    assert_eq!(store.greeting("handset:desk").await.unwrap(), recorded);
});

on_both!(handset_settings_default_round_trip_and_clamp, |store| {
    assert_eq!(
        store.handset_settings("desk").await.unwrap(),
        HandsetSettings::default()
    );
    let busy = HandsetSettings {
        do_not_disturb: true,
        forward_when: ForwardWhen::NoAnswer,
        forward_to: Some("102".into()),
        no_answer_seconds: 15,
    };
    store.set_handset_settings("desk", &busy).await.unwrap();
    assert_eq!(store.handset_settings("desk").await.unwrap(), busy);
    // An absurd ring time is brought into what <Dial timeout> accepts.
    let absurd = HandsetSettings {
        no_answer_seconds: 100_000,
        ..busy.clone()
    };
    store.set_handset_settings("desk", &absurd).await.unwrap();
    assert_eq!(
        store
            .handset_settings("desk")
            .await
            .unwrap()
            .no_answer_seconds,
        600
    );
    assert_eq!(
        store.handset_settings("kitchen").await.unwrap(),
        HandsetSettings::default()
    );
});

on_both!(every_change_a_handset_hears_of_moves_the_version, |store| {
    let mut last = store.change_version().await.unwrap();
    assert!(store.save_message(&message("RE1", 100)).await.unwrap());
    let now = store.change_version().await.unwrap();
    assert!(now > last, "a new message");
    last = now;
    // A retried callback changes nothing.
    assert!(!store.save_message(&message("RE1", 100)).await.unwrap());
    assert_eq!(store.change_version().await.unwrap(), last);
    let id = store.messages("number:+14155550100").await.unwrap()[0].id;
    assert!(store.mark_saved(id).await.unwrap());
    let now = store.change_version().await.unwrap();
    assert!(now > last, "saved");
    last = now;
    assert!(store.start_deleting(id).await.unwrap().is_some());
    let now = store.change_version().await.unwrap();
    assert!(now > last, "deleted");
    last = now;
    assert!(!store.mark_saved(id).await.unwrap());
    assert_eq!(store.change_version().await.unwrap(), last);
    store
        .set_handset_settings("desk", &HandsetSettings::default())
        .await
        .unwrap();
    assert!(store.change_version().await.unwrap() > last, "settings");
});

on_both!(all_settings_and_counts_over_several_mailboxes, |store| {
    let busy = HandsetSettings {
        do_not_disturb: false,
        forward_when: ForwardWhen::Busy,
        forward_to: Some("102".into()),
        no_answer_seconds: 20,
    };
    store.set_handset_settings("desk", &busy).await.unwrap();
    let all = store.all_handset_settings().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all["desk"], busy);
    store.save_message(&message("RE1", 100)).await.unwrap();
    let mut other = message("RE2", 200);
    other.mailbox = "number:+14155550111".into();
    store.save_message(&other).await.unwrap();
    let both = [
        "number:+14155550100".to_string(),
        "number:+14155550111".to_string(),
    ];
    assert_eq!(
        store.counts_in(&both).await.unwrap(),
        Counts { new: 2, saved: 0 }
    );
    assert_eq!(store.messages_in(&both).await.unwrap().len(), 2);
    // A closed store fails at once instead of waiting.
    store.close().await;
    assert!(store.counts_in(&both).await.is_err());
});

on_both!(handset_status_keeps_the_last_report, |store| {
    let first = HandsetStatus {
        last_seen: 1_000,
        registered: true,
        address: Some("192.0.2.10".into()),
        firmware: Some("1.0".into()),
        last_error: None,
        registration: Some("registered".into()),
        edge: Some("ashburn".into()),
        uptime_secs: Some(12),
    };
    store.record_handset_status("desk", &first).await.unwrap();
    let later = HandsetStatus {
        last_seen: 2_000,
        registered: false,
        last_error: Some("31205: token expired".into()),
        ..first.clone()
    };
    store.record_handset_status("desk", &later).await.unwrap();
    store.record_handset_status("attic", &first).await.unwrap();
    assert_eq!(
        store.handset_statuses().await.unwrap(),
        [("attic".to_string(), first), ("desk".to_string(), later)]
    );
});

on_both!(a_value_the_server_never_writes_is_a_clear_error, |store| {
    sqlx::query(
        "INSERT INTO handset_settings (device_id, no_answer_seconds) VALUES ('desk', 99999)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let error = store
        .handset_settings("desk")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("no_answer_seconds 99999"), "{error}");
});

fn file_entry(id: &str, extension: &str) -> crate::handsets::HandsetEntry {
    crate::handsets::tests::entry(id, extension, "s")
}

on_both!(
    importing_the_handsets_file_adds_only_what_the_database_never_had,
    |store| {
        let first = store
            .import_handsets(
                vec![file_entry("desk", "101"), file_entry("hall", "103")],
                10,
            )
            .await
            .unwrap();
        assert_eq!(first.added, ["desk", "hall"]);
        let version = store.handsets_version().await.unwrap();
        let changes = store.change_version().await.unwrap();
        assert!(version > 0);
        store.remove_handset("hall", 11).await.unwrap();
        let mut renamed = file_entry("desk", "101");
        renamed.display_name = "Renamed in the file".into();
        let again = store
            .import_handsets(
                vec![
                    renamed,
                    file_entry("hall", "103"),
                    // Another id with the desk's extension clashes.
                    file_entry("attic", "101"),
                    file_entry("cellar", "104"),
                ],
                12,
            )
            .await
            .unwrap();
        assert_eq!(again.added, ["cellar"]);
        assert_eq!(again.differing, ["desk"]);
        assert_eq!(again.removed_before, ["hall"]);
        assert_eq!(again.refused.len(), 1);
        assert_eq!(again.refused[0].0, "attic");
        let handsets = store.load_handsets().await.unwrap();
        let ids: Vec<&str> = handsets.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["desk", "cellar"], "in the order they came");
        assert_eq!(handsets.by_id("desk").unwrap().display_name, "Phone desk");
        assert!(store.handsets_version().await.unwrap() > version);
        assert!(store.change_version().await.unwrap() > changes);
        // Nothing new: nothing moves.
        let version = store.handsets_version().await.unwrap();
        store
            .import_handsets(vec![file_entry("cellar", "104")], 13)
            .await
            .unwrap();
        assert_eq!(store.handsets_version().await.unwrap(), version);
    }
);

on_both!(a_call_keeps_its_best_leg, |store| {
    use crate::call_log::{CallRecord, Direction};
    let leg = |result: &str, handset: Option<&str>, secs: i64| CallRecord {
        call_sid: "CA1".into(),
        started_at: 1000 - secs,
        direction: Direction::Incoming,
        from: "+12025550123".into(),
        to: "+447381234567".into(),
        handset: handset.map(str::to_string),
        answered_by: handset.map(str::to_string),
        duration_seconds: secs,
        result: result.into(),
    };
    store.log_call(&leg("no-answer", None, 0)).await.unwrap();
    store
        .log_call(&leg("completed", Some("desk"), 42))
        .await
        .unwrap();
    store.log_call(&leg("canceled", None, 0)).await.unwrap();
    store.log_call(&leg("busy", None, 0)).await.unwrap();
    let calls = store.calls(&Default::default(), 0, 10).await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].record, leg("completed", Some("desk"), 42));
    let search = |text: &str| crate::store::call_log::CallSearch {
        text: Some(text.into()),
        handsets: vec![],
    };
    assert_eq!(store.calls(&search("0123"), 0, 10).await.unwrap().len(), 1);
    assert_eq!(store.calls(&search("DESK"), 0, 10).await.unwrap().len(), 1);
    assert_eq!(store.calls(&search("_"), 0, 10).await.unwrap().len(), 0);
    assert_eq!(
        store.calls(&Default::default(), 1, 10).await.unwrap().len(),
        0
    );
});

on_both!(admins_sessions_and_setup_links, |store| {
    use crate::store::admin::AddAdminError;
    assert_eq!(store.admin_count().await.unwrap(), 0);
    store.add_setup_token("link", 100).await.unwrap();
    assert!(store.setup_token_valid("link", 99).await.unwrap());
    assert!(
        !store.setup_token_valid("link", 100).await.unwrap(),
        "expired"
    );
    assert!(matches!(
        store.add_admin("late", "h", 100, Some("link")).await,
        Err(AddAdminError::SetupLinkInvalid)
    ));
    let id = store
        .add_admin("owner", "h", 50, Some("link"))
        .await
        .unwrap();
    assert!(
        !store.setup_token_valid("link", 50).await.unwrap(),
        "used up"
    );
    assert!(matches!(
        store.add_admin("owner", "h2", 51, None).await,
        Err(AddAdminError::Exists)
    ));
    store.add_session("s1", id, "csrf", 60).await.unwrap();
    store.add_session("s2", id, "csrf2", 60).await.unwrap();
    let session = store.session("s1").await.unwrap().unwrap();
    assert_eq!(
        (session.username.as_str(), session.csrf_token.as_str()),
        ("owner", "csrf")
    );
    store.touch_session("s1", 70).await.unwrap();
    assert_eq!(
        store.expire_sessions(65, 0, 70).await.unwrap(),
        1,
        "s2 was idle"
    );
    assert!(store.session("s1").await.unwrap().is_some());
    // A new password ends the admin's sessions.
    assert!(store.set_admin_password("owner", "h3").await.unwrap());
    assert!(store.session("s1").await.unwrap().is_none());
    assert!(!store.set_admin_password("nobody", "h").await.unwrap());
});

/// The URL `store` was opened with (passwords are not used in the tests).
fn reopen_url(store: &Store) -> String {
    store.url().to_string()
}

#[tokio::test]
async fn an_unreachable_database_names_the_url_without_its_password() {
    let dir = std::env::temp_dir().join(format!("offhook-nopg-{}", std::process::id()));
    let url = format!(
        "postgres://offhook:hunter2@localhost/postgres?host={}&connect_timeout=2",
        dir.display()
    );
    let error = Store::open(&url).await.unwrap_err().to_string();
    assert!(
        error.contains("postgres://offhook:***@localhost"),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}

#[tokio::test]
async fn a_url_of_another_kind_is_refused() {
    let error = Store::open("mysql://root:pw@db/offhook").await.unwrap_err();
    assert!(matches!(error, Error::DatabaseUrl { .. }), "{error}");
    assert!(!error.to_string().contains("pw@"), "{error}");
}

#[test]
fn the_default_database_sits_beside_the_handsets_file() {
    assert_eq!(
        Store::default_url(Path::new("/etc/offhook/handsets.toml")),
        "sqlite:///etc/offhook/offhook.db?mode=rwc"
    );
    assert_eq!(
        Store::default_url(Path::new("handsets.toml")),
        "sqlite://./offhook.db?mode=rwc"
    );
}
