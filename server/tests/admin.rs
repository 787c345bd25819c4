//! The web interface under `/admin` and the provisioning API, on SQLite and PostgreSQL:
//! sessions (none, ended, signed out), CSRF, sign-in throttling, the setup link, a handset's
//! credentials kept to its own configuration and out of `/admin`, HTML escaping of what
//! callers and admins type, the configuration's `ETag`, status reports, the call log from
//! signed status callbacks, and the handsets' own pages.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use offhook_server::admin;
use offhook_server::store::Store;

/// An event comes within this.
const WITHIN: Duration = Duration::from_secs(5);
const ADMIN: &str = "admin";
const PASSWORD: &str = "correct horse battery";

/// A cheap Argon2id hash (the same code path as the server's).
fn cheap(password: &str) -> String {
    let params = offhook_server::secret::Params::new(8, 1, 1, None).unwrap();
    offhook_server::secret::hash_with(password, params).unwrap()
}

async fn add_admin(store: &Store, name: &str, password: &str) {
    store
        .add_admin(name, &cheap(password), NOW as i64, None)
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
}

fn store(f: &Fixture) -> Store {
    f.state.store.clone().expect("a store")
}

/// A browser: its cookies, and the CSRF token of the last page that had a form.
#[derive(Debug, Clone, Default)]
struct Browser {
    cookies: Vec<(String, String)>,
    csrf: String,
}

/// The value of `name="…" value="…"` (the first), as the page has it.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))? + name.len() + 15;
    Some(html[at..at + html[at..].find('"')?].to_string())
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Takes the `Set-Cookie`s of a reply (an empty value or `Max-Age=0` drops the cookie).
    fn keep(&mut self, reply: &Reply) {
        for value in reply.headers.get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() && !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
        if let Some(csrf) = input_value(&reply.text(), "csrf") {
            self.csrf = csrf;
        }
    }

    fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if !self.cookies.is_empty() {
            b = b.header("cookie", self.cookie_header());
        }
        b
    }

    async fn get(&mut self, app: &Router, path: &str) -> Reply {
        let reply = send(app, self.request("GET", path).body(Body::empty()).unwrap()).await;
        self.keep(&reply);
        reply
    }

    /// Posts a form (with this browser's CSRF token unless the fields name one).
    async fn post(&mut self, app: &Router, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut all: Vec<(&str, &str)> = Vec::new();
        if !fields.iter().any(|(k, _)| *k == "csrf") {
            all.push(("csrf", &self.csrf));
        }
        all.extend_from_slice(fields);
        let request = self
            .request("POST", path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form(&all)))
            .unwrap();
        let reply = send(app, request).await;
        self.keep(&reply);
        reply
    }

    fn session(&self) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == admin::SESSION_COOKIE)
            .map(|(_, v)| v.as_str())
    }
}

/// Signs in through the pages: the sign-in form, the post, the handsets page.
async fn sign_in(app: &Router, name: &str, password: &str) -> Browser {
    let mut browser = Browser::default();
    let page = browser.get(app, "/admin/login").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let reply = browser
        .post(
            app,
            "/admin/login",
            &[("username", name), ("password", password)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(reply.header("location"), Some("/admin/handsets"));
    let cookie = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(admin::SESSION_COOKIE))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(browser.session().is_some());
    let page = browser.get(app, "/admin/handsets").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    browser
}

/// Every page and form, with a form's fields where it has some.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin"),
    ("GET", "/admin/handsets"),
    ("GET", "/admin/new-handset"),
    ("POST", "/admin/new-handset"),
    ("GET", "/admin/handsets/desk"),
    ("POST", "/admin/handsets/desk/identity"),
    ("POST", "/admin/handsets/desk/calls"),
    ("POST", "/admin/handsets/desk/phone"),
    ("POST", "/admin/handsets/desk/speed-dials"),
    ("POST", "/admin/handsets/desk/contacts"),
    ("POST", "/admin/handsets/desk/secret"),
    ("GET", "/admin/handsets/desk/remove"),
    ("POST", "/admin/handsets/desk/remove"),
    ("GET", "/admin/voicemail"),
    ("GET", "/admin/voicemail/1/audio"),
    ("POST", "/admin/voicemail/1/delete"),
    ("GET", "/admin/calls"),
    ("GET", "/admin/system"),
    ("POST", "/admin/logout"),
];

/// Whether every route refuses `browser` (GET → the sign-in page, anything else → 403), with
/// nothing of the pages in the answer, and the desk still there.
async fn refused_everywhere(app: &Router, browser: &Browser, who: &str) {
    for (method, path) in ROUTES {
        let mut b = browser.clone();
        let reply = if *method == "GET" {
            b.get(app, path).await
        } else {
            b.post(app, path, &[("name", "Hacked"), ("extension", "555")])
                .await
        };
        let text = reply.text();
        if *method == "GET" {
            assert_eq!(
                reply.status,
                StatusCode::SEE_OTHER,
                "{who}: {method} {path}: {text}"
            );
            assert_eq!(
                reply.header("location"),
                Some("/admin/login"),
                "{who}: {path}"
            );
        } else {
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{who}: {method} {path}: {text}"
            );
        }
        assert!(
            !text.contains("Desk"),
            "{who}: {path} shows a handset: {text}"
        );
    }
}

on_both!(
    every_admin_route_refuses_without_a_live_session,
    |backend| {
        let db = database(backend, "nosession");
        let f = fixture_with_db_handsets(&db, &[]).await;
        let store = store(&f);
        add_admin(&store, ADMIN, PASSWORD).await;
        add_admin(&store, "other", "another long password").await;
        refused_everywhere(&f.app, &Browser::default(), "no cookie").await;
        let forged = Browser {
            cookies: vec![(admin::SESSION_COOKIE.into(), admin::new_token())],
            csrf: admin::new_token(),
        };
        refused_everywhere(&f.app, &forged, "a made-up session").await;

        // Another admin's session that sat unused past the idle limit.
        let idle = sign_in(&f.app, "other", "another long password").await;
        f.clock
            .advance(Duration::from_secs(admin::IDLE_TIMEOUT_SECS as u64 + 1));
        refused_everywhere(&f.app, &idle, "an idle session").await;

        // A session used all along still ends at the absolute limit.
        let busy = sign_in(&f.app, ADMIN, PASSWORD).await;
        let step = Duration::from_secs(admin::IDLE_TIMEOUT_SECS as u64 / 2);
        let mut lived = 0;
        while lived + step.as_secs() < admin::MAX_SESSION_SECS as u64 {
            f.clock.advance(step);
            lived += step.as_secs();
            let mut b = busy.clone();
            assert_eq!(
                b.get(&f.app, "/admin/handsets").await.status,
                StatusCode::OK,
                "{lived} s"
            );
        }
        f.clock.advance(step);
        refused_everywhere(&f.app, &busy, "a session past its absolute limit").await;
        // Nothing changed.
        let desk = store.handset("desk").await.unwrap().unwrap();
        assert_eq!(
            (desk.display_name.as_str(), desk.extension.as_str()),
            ("Desk", "101")
        );
    }
);

on_both!(signing_out_ends_the_session, |backend| {
    let db = database(backend, "signout");
    let f = fixture_with_db_handsets(&db, &[]).await;
    add_admin(&store(&f), ADMIN, PASSWORD).await;
    let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
    let before = browser.clone();
    // Signing out is a form like any other: without the token it does nothing.
    let reply = browser.post(&f.app, "/admin/logout", &[("csrf", "")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get(&f.app, "/admin/handsets").await.status,
        StatusCode::OK
    );
    let reply = browser.post(&f.app, "/admin/logout", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/admin/login"));
    assert!(browser.session().is_none(), "the cookie is cleared");
    // The old cookie is worth nothing now, on this instance or another.
    refused_everywhere(&f.app, &before, "a signed-out session").await;
    let other = fixture_with_db_handsets(&db, &[]).await;
    refused_everywhere(&other.app, &before, "a signed-out session elsewhere").await;
});

on_both!(a_session_works_on_every_instance, |backend| {
    let db = database(backend, "instances");
    let a = fixture_with_db_handsets(&db, &[]).await;
    let b = fixture_with_db_handsets(&db, &[]).await;
    add_admin(&store(&a), ADMIN, PASSWORD).await;
    let mut browser = sign_in(&a.app, ADMIN, PASSWORD).await;
    let page = browser.get(&b.app, "/admin/handsets/desk").await;
    assert_eq!(page.status, StatusCode::OK);
    let reply = browser
        .post(
            &b.app,
            "/admin/handsets/desk/calls",
            &[("dnd", "on"), ("forward_mode", "off")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert!(
        store(&a)
            .handset_settings("desk")
            .await
            .unwrap()
            .do_not_disturb
    );
});

on_both!(forged_or_missing_csrf_tokens_are_refused, |backend| {
    let db = database(backend, "csrf");
    let f = fixture_with_db_handsets(&db, &[]).await;
    let store = store(&f);
    add_admin(&store, ADMIN, PASSWORD).await;
    add_admin(&store, "other", "another long password").await;
    let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
    let other = sign_in(&f.app, "other", "another long password").await;
    let forged = admin::new_token();
    let mut wrong_length = browser.csrf.clone();
    wrong_length.pop();
    for token in [
        "",
        forged.as_str(),
        other.csrf.as_str(),
        wrong_length.as_str(),
    ] {
        for (path, fields) in [
            (
                "/admin/handsets/desk/calls",
                vec![("dnd", "on"), ("forward_mode", "off")],
            ),
            (
                "/admin/handsets/desk/identity",
                vec![("name", "Hacked"), ("extension", "101")],
            ),
            (
                "/admin/handsets/desk/speed-dials",
                vec![("key2", "+12025550100")],
            ),
            ("/admin/handsets/desk/remove", vec![]),
            (
                "/admin/new-handset",
                vec![
                    ("name", "X"),
                    ("device_id", "x"),
                    ("extension", "150"),
                    ("server_url", PUBLIC),
                ],
            ),
        ] {
            let mut all = vec![("csrf", token)];
            all.extend(fields);
            let reply = browser.post(&f.app, path, &all).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{path} with {token:?}: {}",
                reply.text()
            );
        }
    }
    // A form without the field at all.
    let request = Request::post("/admin/handsets/desk/calls")
        .header("host", "localhost")
        .header("cookie", browser.cookie_header())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("dnd=on&forward_mode=off"))
        .unwrap();
    assert_eq!(send(&f.app, request).await.status, StatusCode::FORBIDDEN);
    assert!(!store.handset_settings("desk").await.unwrap().do_not_disturb);
    assert!(store.speed_dials("desk").await.unwrap().is_empty());
    assert_eq!(
        store.handset("desk").await.unwrap().unwrap().display_name,
        "Desk"
    );
    assert_eq!(store.handset_entries().await.unwrap().len(), 2);
    // The sign-in form's own token: without its cookie, or a different one, refused.
    let mut stranger = Browser::default();
    let reply = stranger
        .post(
            &f.app,
            "/admin/login",
            &[
                ("csrf", &forged),
                ("username", ADMIN),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(stranger.session().is_none());
    stranger.get(&f.app, "/admin/login").await;
    let reply = stranger
        .post(
            &f.app,
            "/admin/login",
            &[
                ("csrf", &forged),
                ("username", ADMIN),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // With the right token it all works.
    let reply = browser
        .post(
            &f.app,
            "/admin/handsets/desk/calls",
            &[("dnd", "on"), ("forward_mode", "off")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(store.handset_settings("desk").await.unwrap().do_not_disturb);
});

on_both!(sign_in_throttling_holds, |backend| {
    let db = database(backend, "throttle");
    let f = fixture_with_db_handsets(&db, &[]).await;
    add_admin(&store(&f), ADMIN, PASSWORD).await;
    let mut browser = Browser::default();
    browser.get(&f.app, "/admin/login").await;
    let free = admin::SIGN_IN_POLICY.free_failures;
    for i in 0..=free {
        let reply = browser
            .post(
                &f.app,
                "/admin/login",
                &[("username", ADMIN), ("password", "wrong password")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "try {i}");
        assert!(reply.text().contains("not right"), "{}", reply.text());
    }
    // Locked: not even the right password passes, and the answer says when to come back.
    let reply = browser
        .post(
            &f.app,
            "/admin/login",
            &[("username", ADMIN), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text()
    );
    let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!(wait >= 1, "{wait}");
    assert!(browser.session().is_none());
    // Another address is not locked out with it.
    let mut elsewhere = Browser::default();
    let request = from_peer(
        elsewhere
            .request("GET", "/admin/login")
            .body(Body::empty())
            .unwrap(),
        "192.0.2.77:5000",
    );
    let page = send(&f.app, request).await;
    elsewhere.keep(&page);
    let request = from_peer(
        elsewhere
            .request("POST", "/admin/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form(&[
                ("csrf", &elsewhere.csrf),
                ("username", ADMIN),
                ("password", PASSWORD),
            ])))
            .unwrap(),
        "192.0.2.77:5000",
    );
    assert_eq!(send(&f.app, request).await.status, StatusCode::SEE_OTHER);
    // Past the lock, the right password signs in and clears the count.
    f.clock.advance(Duration::from_secs(wait));
    let reply = browser
        .post(
            &f.app,
            "/admin/login",
            &[("username", ADMIN), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    // An unknown user name is refused the same way.
    let mut b = Browser::default();
    b.get(&f.app, "/admin/login").await;
    let reply = b
        .post(
            &f.app,
            "/admin/login",
            &[("username", "nobody"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
});

on_both!(the_setup_link_makes_the_first_admin_once, |backend| {
    let db = database(backend, "setup");
    let f = fixture_with_db_handsets(&db, &[]).await;
    let store = store(&f);
    let page = Browser::default().get(&f.app, "/admin/login").await;
    assert!(
        page.text().contains(admin::SETUP_LINK_LOG),
        "{}",
        page.text()
    );
    let link = admin::new_setup_link(&store, "http://127.0.0.1:8080", NOW as i64)
        .await
        .unwrap()
        .unwrap();
    let path = link
        .strip_prefix("http://127.0.0.1:8080")
        .unwrap()
        .to_string();
    assert!(path.starts_with("/admin/setup?token="), "{path}");
    let token = path.split("token=").nth(1).unwrap().to_string();
    // A made-up token is refused.
    let mut b = Browser::default();
    let reply = b
        .get(
            &f.app,
            &format!("/admin/setup?token={}", admin::new_token()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = b.get(&f.app, &path).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(reply.header("referrer-policy") == Some("no-referrer"));
    // Passwords that do not match, or are short, are asked again.
    let reply = b
        .post(
            &f.app,
            "/admin/setup",
            &[
                ("token", &token),
                ("username", "owner"),
                ("password", "long enough 1"),
                ("password2", "long enough 2"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = b
        .post(
            &f.app,
            "/admin/setup",
            &[
                ("token", &token),
                ("username", "owner"),
                ("password", "short"),
                ("password2", "short"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = b
        .post(
            &f.app,
            "/admin/setup",
            &[
                ("token", &token),
                ("username", "owner"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert!(b.session().is_some(), "signed in at once");
    assert_eq!(
        b.get(&f.app, "/admin/handsets").await.status,
        StatusCode::OK
    );
    // Used up: neither the page nor the form works again, and no new link is made.
    let mut again = Browser::default();
    assert_eq!(again.get(&f.app, &path).await.status, StatusCode::FORBIDDEN);
    again.get(&f.app, "/admin/login").await;
    let reply = again
        .post(
            &f.app,
            "/admin/setup",
            &[
                ("token", &token),
                ("username", "intruder"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(store.admin_count().await.unwrap(), 1);
    assert_eq!(
        admin::new_setup_link(&store, "http://x", NOW as i64)
            .await
            .unwrap(),
        None
    );
    sign_in(&f.app, "owner", PASSWORD).await;

    // A link expires.
    let db = database(backend, "setup2");
    let f = fixture_with_db_handsets(&db, &[]).await;
    let link = admin::new_setup_link(&store_of(&f), "", NOW as i64)
        .await
        .unwrap()
        .unwrap();
    f.clock
        .advance(Duration::from_secs(admin::SETUP_LINK_TTL_SECS as u64 + 1));
    assert_eq!(
        Browser::default().get(&f.app, &link).await.status,
        StatusCode::FORBIDDEN
    );
});

fn store_of(f: &Fixture) -> Store {
    store(f)
}

fn handset_get(path: &str, id: &str, secret: &str) -> Request<Body> {
    Request::get(path)
        .header("host", "localhost")
        .header("authorization", basic(id, secret))
        .body(Body::empty())
        .unwrap()
}

on_both!(
    a_handsets_credentials_reach_only_its_own_configuration,
    |backend| {
        let db = database(backend, "ownconfig");
        let f = fixture_with_db_handsets(&db, &[]).await;
        let store = store(&f);
        add_admin(&store, ADMIN, PASSWORD).await;
        let desk = send(
            &f.app,
            handset_get("/api/handset/config", "desk", DESK_SECRET),
        )
        .await;
        assert_eq!(desk.status, StatusCode::OK, "{}", desk.text());
        assert_eq!(desk.json()["name"], "Desk");
        assert_eq!(desk.header("content-type"), Some("application/json"));
        // Naming the other handset anywhere in the request changes nothing.
        for path in [
            "/api/handset/config?device_id=kitchen-1",
            "/api/handset/config?id=kitchen-1",
        ] {
            let reply = send(&f.app, handset_get(path, "desk", DESK_SECRET)).await;
            assert_eq!(reply.json()["name"], "Desk", "{path}");
        }
        let kitchen = send(
            &f.app,
            handset_get("/api/handset/config", "kitchen-1", KITCHEN_SECRET),
        )
        .await;
        assert_eq!(kitchen.json()["name"], "Kitchen");
        for (id, secret) in [
            ("kitchen-1", DESK_SECRET),
            ("desk", KITCHEN_SECRET),
            ("admin", PASSWORD),
        ] {
            let reply = send(&f.app, handset_get("/api/handset/config", id, secret)).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{id}");
            assert!(!reply.text().contains("Kitchen"));
        }
        // A handset's credentials do not open /admin.
        let with_basic = Browser::default();
        for (method, path) in ROUTES {
            let request = Request::builder()
                .method(*method)
                .uri(*path)
                .header("host", "localhost")
                .header("authorization", basic("desk", DESK_SECRET))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("csrf=x&dnd=on"))
                .unwrap();
            let reply = send(&f.app, request).await;
            assert!(
                reply.status == StatusCode::SEE_OTHER || reply.status == StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                reply.status
            );
            assert!(!reply.text().contains("Kitchen"));
        }
        refused_everywhere(&f.app, &with_basic, "no cookie").await;
        // Nor does an admin's session open the handset API.
        let browser = sign_in(&f.app, ADMIN, PASSWORD).await;
        let request = browser
            .request("GET", "/api/handset/config")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&f.app, request).await.status, StatusCode::UNAUTHORIZED);
    }
);

on_both!(
    the_configuration_has_an_etag_and_changes_reach_the_stream,
    |backend| {
        let db = database(backend, "etag");
        let f = fixture_with_db_handsets(&db, &[]).await;
        add_admin(&store(&f), ADMIN, PASSWORD).await;
        let first = send(
            &f.app,
            handset_get("/api/handset/config", "desk", DESK_SECRET),
        )
        .await;
        assert_eq!(first.status, StatusCode::OK);
        let etag = first.header("etag").unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let body = first.json();
        assert_eq!(body["contacts"], serde_json::Value::Null);
        assert_eq!(body["speed_dial"], serde_json::Value::Null);
        assert_eq!(body["extension"], "101");
        assert_eq!(body["country"], "GB");
        let again = |tag: &str| {
            Request::get("/api/handset/config")
                .header("host", "localhost")
                .header("authorization", basic("desk", DESK_SECRET))
                .header("if-none-match", tag)
                .body(Body::empty())
                .unwrap()
        };
        let not_modified = send(&f.app, again(&etag)).await;
        assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
        assert!(not_modified.body.is_empty());
        assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
        assert_eq!(
            send(&f.app, again("\"something else\"")).await.status,
            StatusCode::OK
        );

        let mut events = Events::open(&f.app, "desk", DESK_SECRET)
            .await
            .map_err(|r| r.text())
            .unwrap();
        let mut told = None;
        for _ in 0..3 {
            let (event, data) = events.next(WITHIN).await.unwrap();
            if event == "config" {
                told = Some(data["etag"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(told.as_deref(), Some(etag.as_str()));
        // The admin sets a speed dial and a contact: the stream says so within a second.
        let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
        browser.get(&f.app, "/admin/handsets/desk").await;
        let reply = browser
            .post(
                &f.app,
                "/admin/handsets/desk/speed-dials",
                &[("key2", "+1 202 555 0100"), ("key3", "102")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
        let started = std::time::Instant::now();
        let (event, data) = events.next(WITHIN).await.unwrap();
        assert_eq!(event, "config");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let new_etag = data["etag"].as_str().unwrap().to_string();
        assert_ne!(new_etag, etag);
        let changed = send(&f.app, again(&etag)).await;
        assert_eq!(changed.status, StatusCode::OK);
        assert_eq!(changed.header("etag"), Some(new_etag.as_str()));
        assert_eq!(
            changed.json()["speed_dial"],
            serde_json::json!({"2": "+12025550100", "3": "102"})
        );
        // The kitchen's configuration did not move.
        let kitchen = send(
            &f.app,
            handset_get("/api/handset/config", "kitchen-1", KITCHEN_SECRET),
        )
        .await;
        assert_eq!(kitchen.json()["speed_dial"], serde_json::Value::Null);

        let reply = browser
            .post(
                &f.app,
                "/admin/handsets/desk/contacts",
                &[
                    ("contact_name", "Echo test"),
                    ("contact_number", "+12025550100"),
                    ("contact_name", ""),
                    ("contact_number", ""),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
        assert_eq!(events.next(WITHIN).await.unwrap().0, "config");
        let reply = browser
            .post(
                &f.app,
                "/admin/handsets/desk/phone",
                &[
                    ("ring_cadence", "uk"),
                    ("country", "US"),
                    ("volume_ring", "7"),
                    ("codecs", "pcmu opus"),
                    ("edges", "dublin roaming"),
                    ("digit_map", ""),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
        assert_eq!(events.next(WITHIN).await.unwrap().0, "config");
        let body = send(
            &f.app,
            handset_get("/api/handset/config", "desk", DESK_SECRET),
        )
        .await
        .json();
        assert_eq!(
            body["contacts"],
            serde_json::json!([{"name": "Echo test", "number": "+12025550100"}])
        );
        assert_eq!(body["ring_cadence"], "uk");
        assert_eq!(body["country"], "US");
        assert_eq!(body["volumes"]["ring"], 7);
        assert_eq!(
            body["codec_preferences"],
            serde_json::json!(["pcmu", "opus"])
        );
        assert_eq!(body["edges"], serde_json::json!(["dublin", "roaming"]));
        assert_eq!(body["digit_map"], serde_json::Value::Null);
        // A bad value is refused with the reason, and nothing changes.
        let reply = browser
            .post(
                &f.app,
                "/admin/handsets/desk/speed-dials",
                &[("key4", "not a number")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.text().contains("Key 4"), "{}", reply.text());
        assert_eq!(store(&f).speed_dials("desk").await.unwrap().len(), 2);
    }
);

on_both!(status_reports_are_stored_and_shown, |backend| {
    let db = database(backend, "status");
    let f = fixture_with_db_handsets(&db, &[]).await;
    add_admin(&store(&f), ADMIN, PASSWORD).await;
    let report = |body: &str| {
        Request::post("/api/handset/status")
            .header("host", "localhost")
            .header("authorization", basic("desk", DESK_SECRET))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let ok = r#"{"registration":"registered","edge":"ashburn","firmware_version":"0.1.0","address":"192.168.1.20","last_error":"31205 Token expired","uptime_secs":123}"#;
    let reply = send(&f.app, report(ok)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    for bad in [
        "{",
        "[]",
        r#"{"registration":"dancing","firmware_version":"1","uptime_secs":1}"#,
        r#"{"registration":"registered","uptime_secs":1}"#,
    ] {
        assert_eq!(
            send(&f.app, report(bad)).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let huge = format!(
        r#"{{"registration":"error","firmware_version":"1","uptime_secs":1,"x":"{}"}}"#,
        "x".repeat(5000)
    );
    assert_eq!(
        send(&f.app, report(&huge)).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let stranger = Request::post("/api/handset/status")
        .header("authorization", basic("desk", "wrong"))
        .header("content-type", "application/json")
        .body(Body::from(ok))
        .unwrap();
    assert_eq!(
        send(&f.app, stranger).await.status,
        StatusCode::UNAUTHORIZED
    );

    let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
    let page = browser.get(&f.app, "/admin/handsets").await.text();
    let desk_row = &page[page.find("id=\"handset-desk\"").unwrap()..];
    let desk_row = &desk_row[..desk_row.find("</tr>").unwrap()];
    for shown in [
        "online",
        "registered",
        "via ashburn",
        "0.1.0",
        "192.168.1.20",
        "31205 Token expired",
        "2026-11-21 12:00 UTC",
    ] {
        assert!(desk_row.contains(shown), "{shown}: {desk_row}");
    }
    let kitchen_row = &page[page.find("id=\"handset-kitchen-1\"").unwrap()..];
    assert!(kitchen_row[..kitchen_row.find("</tr>").unwrap()].contains("offline"));
    // Two and a half minutes without a report or a stream: offline.
    f.clock.advance(Duration::from_secs(151));
    let page = browser.get(&f.app, "/admin/handsets").await.text();
    let desk_row = &page[page.find("id=\"handset-desk\"").unwrap()..];
    assert!(desk_row[..desk_row.find("</tr>").unwrap()].contains("offline"));
    // An open event stream makes it online again.
    let _events = Events::open(&f.app, "desk", DESK_SECRET)
        .await
        .map_err(|r| r.text())
        .unwrap();
    let page = browser.get(&f.app, "/admin/handsets").await.text();
    let desk_row = &page[page.find("id=\"handset-desk\"").unwrap()..];
    assert!(
        desk_row[..desk_row.find("</tr>").unwrap()].contains(">online<"),
        "{desk_row}"
    );
});

/// A leg's status callback as Twilio posts it to the URL the TwiML named.
fn leg_params(
    leg: u32,
    parent: u32,
    to: &str,
    status: &str,
    secs: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("AccountSid", ACCOUNT_SID.to_string()),
        ("CallSid", sid("CA", leg)),
        ("ParentCallSid", sid("CA", parent)),
        ("To", to.to_string()),
        ("From", CALLER.to_string()),
        ("CallStatus", status.to_string()),
        ("CallDuration", secs.to_string()),
        ("Direction", "outbound-dial".to_string()),
        ("CallbackSource", "call-progress-events".to_string()),
    ]
}

on_both!(the_call_log_comes_from_signed_status_callbacks, |backend| {
    let db = database(backend, "calllog");
    let f = fixture_with_db_handsets(&db, &[]).await;
    add_admin(&store(&f), ADMIN, PASSWORD).await;
    // An incoming call: every noun of the Dial carries the callback.
    let params = call_params(&sid("CA", 1));
    let voice = twilio(&f.app, "/hooks/voice", &borrowed(&params)).await;
    let xml = voice.text();
    assert_eq!(
        xml.matches("statusCallbackEvent=\"completed\"").count(),
        2,
        "{xml}"
    );
    let callback = attr(&xml, "Client", "statusCallback").unwrap();
    assert!(
        callback.starts_with("/hooks/status?direction=incoming"),
        "{callback}"
    );
    // The kitchen's leg was not answered; the desk's was, for 42 s.
    let kitchen = leg_params(2, 1, "client:kitchen", "no-answer", "0");
    assert_eq!(
        twilio(&f.app, &callback, &borrowed(&kitchen)).await.status,
        StatusCode::OK
    );
    let desk = leg_params(3, 1, "client:desk", "completed", "42");
    assert_eq!(
        twilio(&f.app, &callback, &borrowed(&desk)).await.status,
        StatusCode::OK
    );
    // Retried, and a worse leg afterwards: nothing changes.
    assert_eq!(
        twilio(&f.app, &callback, &borrowed(&kitchen)).await.status,
        StatusCode::OK
    );
    // A forged callback (another signature, or a changed URL) is refused and not kept.
    let forged = leg_params(9, 8, "client:desk", "completed", "99");
    let request = webhook(
        &callback,
        "127.0.0.1:8080",
        &format!("{PUBLIC}/hooks/status?direction=outgoing"),
        &borrowed(&forged),
    );
    assert_eq!(send(&f.app, request).await.status, StatusCode::FORBIDDEN);
    let mut unsigned = webhook(
        &callback,
        "127.0.0.1:8080",
        &format!("{PUBLIC}{callback}"),
        &borrowed(&forged),
    );
    unsigned.headers_mut().remove("x-twilio-signature");
    assert_eq!(send(&f.app, unsigned).await.status, StatusCode::FORBIDDEN);

    let calls = store(&f).calls(&Default::default(), 0, 10).await.unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0].record;
    assert_eq!(call.call_sid, sid("CA", 1));
    assert_eq!(call.result, "completed");
    assert_eq!(call.handset.as_deref(), Some("desk"));
    assert_eq!(call.duration_seconds, 42);
    assert_eq!(call.from, CALLER);

    // An outgoing call from the kitchen.
    let outgoing = [
        ("AccountSid", ACCOUNT_SID.to_string()),
        ("CallSid", sid("CA", 20)),
        ("From", "client:kitchen".to_string()),
        ("To", "+12025550100".to_string()),
        ("phoneNumber", "+12025550100".to_string()),
    ];
    let connect = twilio(&f.app, "/hooks/call/connect", &borrowed(&outgoing))
        .await
        .text();
    let callback = attr(&connect, "Number", "statusCallback").unwrap();
    assert!(
        callback.contains("direction=outgoing") && callback.contains("handset=kitchen-1"),
        "{callback}"
    );
    let leg = leg_params(21, 20, "+12025550100", "busy", "0");
    assert_eq!(
        twilio(&f.app, &callback, &borrowed(&leg)).await.status,
        StatusCode::OK
    );

    let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
    let page = browser.get(&f.app, "/admin/calls").await.text();
    assert!(
        page.contains(CALLER) && page.contains("answered") && page.contains("42 s"),
        "{page}"
    );
    assert!(
        page.contains("outgoing") && page.contains("busy") && page.contains("Kitchen"),
        "{page}"
    );
    // Search: by a part of a number, by a handset's name.
    let page = browser.get(&f.app, "/admin/calls?q=50100").await.text();
    assert!(
        page.contains("+12025550100") && !page.contains(CALLER),
        "{page}"
    );
    let page = browser.get(&f.app, "/admin/calls?q=kitch").await.text();
    assert!(page.contains("busy") && !page.contains("42 s"), "{page}");
    let page = browser.get(&f.app, "/admin/calls?q=%25").await.text();
    assert!(
        page.contains("id=\"no-calls\""),
        "a % is searched for as itself: {page}"
    );
    // Paging: fifty a page.
    for n in 100..160 {
        let leg = leg_params(n + 1000, n, "client:desk", "completed", "1");
        let callback = "/hooks/status?direction=incoming&from=%2B15550001111&to=%2B447381234567";
        assert_eq!(
            twilio(&f.app, callback, &borrowed(&leg)).await.status,
            StatusCode::OK
        );
    }
    let page = browser.get(&f.app, "/admin/calls").await.text();
    // A row per call, and the head's.
    assert_eq!(page.matches("<tr>").count(), 50 + 1);
    assert!(page.contains("id=\"older\"") && !page.contains("id=\"newer\""));
    let page = browser.get(&f.app, "/admin/calls?page=2").await.text();
    assert_eq!(page.matches("<tr>").count(), 12 + 1);
    assert!(page.contains("id=\"newer\"") && !page.contains("id=\"older\""));
});

on_both!(what_callers_and_admins_type_is_shown_as_text, |backend| {
    let db = database(backend, "escape");
    let twilio_api = FakeTwilio::start().await;
    let f =
        fixture_with_db_handsets(&db, &[("OFFHOOK_TWILIO_API_URL", twilio_api.url.as_str())]).await;
    add_admin(&store(&f), ADMIN, PASSWORD).await;
    let script = "<script>alert(1)</script>";
    // A caller whose caller ID is a script leaves a message, and is logged.
    let call_sid = sid("CA", 7);
    let mut params = call_params(&call_sid);
    params[2].1 = script.to_string();
    let voice = twilio(&f.app, "/hooks/voice", &borrowed(&params)).await;
    let action = attr(&voice.text(), "Dial", "action").unwrap();
    let mut ended = params.clone();
    ended.push(("DialCallStatus", "no-answer".into()));
    let record = twilio(&f.app, &action, &borrowed(&ended)).await;
    let callback = attr(&record.text(), "Record", "recordingStatusCallback").unwrap();
    let stored = twilio(
        &f.app,
        &callback,
        &borrowed(&recording_params(&call_sid, 7)),
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text());
    let status_callback = attr(&voice.text(), "Client", "statusCallback").unwrap();
    let leg = leg_params(8, 7, "client:desk", "no-answer", "0");
    assert_eq!(
        twilio(&f.app, &status_callback, &borrowed(&leg))
            .await
            .status,
        StatusCode::OK
    );

    let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
    // An admin names a handset with markup and quotes.
    browser.get(&f.app, "/admin/handsets/desk").await;
    let name = "<b>Desk</b> \"&\" 'x'";
    let reply = browser
        .post(
            &f.app,
            "/admin/handsets/desk/identity",
            &[("name", name), ("extension", "101"), ("numbers", "")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let escaped_script = "&#60;script&#62;alert(1)&#60;/script&#62;";
    for path in [
        "/admin/voicemail",
        "/admin/calls",
        "/admin/handsets",
        "/admin/handsets/desk",
    ] {
        let page = browser.get(&f.app, path).await;
        let text = page.text();
        assert!(!text.contains("<script"), "{path}: {text}");
        assert!(!text.contains("<b>Desk"), "{path}: {text}");
        assert!(
            page.header("content-security-policy")
                .unwrap()
                .contains("default-src 'none'")
        );
        if path == "/admin/voicemail" || path == "/admin/calls" {
            assert!(text.contains(escaped_script), "{path}: {text}");
        }
        if path.starts_with("/admin/handsets") {
            assert!(
                text.contains("&#60;b&#62;Desk&#60;/b&#62;"),
                "{path}: {text}"
            );
        }
    }
    // The configuration carries the name as JSON text.
    let config = send(
        &f.app,
        handset_get("/api/handset/config", "desk", DESK_SECRET),
    )
    .await;
    assert_eq!(config.json()["name"], name);
    // A name with a line break (a header or log injection) is refused.
    let reply = browser
        .post(
            &f.app,
            "/admin/handsets/desk/identity",
            &[("name", "Desk\r\nSet-Cookie: x=1"), ("extension", "101")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.header("set-cookie").is_none());
    assert_eq!(
        store(&f)
            .handset("desk")
            .await
            .unwrap()
            .unwrap()
            .display_name,
        name
    );

    // The message plays through the server, with the account's credentials, as audio.
    let page = browser.get(&f.app, "/admin/voicemail").await.text();
    let at = page.find("/admin/voicemail/").unwrap();
    let audio_path = &page[at..at + page[at..].find('"').unwrap()];
    assert!(audio_path.ends_with("/audio"), "{audio_path}");
    let audio = browser.get(&f.app, audio_path).await;
    assert_eq!(audio.status, StatusCode::OK, "{}", audio.text());
    assert_eq!(audio.header("content-type"), Some("audio/x-wav"));
    assert_eq!(&audio.body[..], FAKE_AUDIO);
    let fetched = twilio_api.requests();
    assert!(
        fetched.iter().any(|r| r.method == "GET"
            && r.authorized
            && r.path.ends_with(&format!("{}.wav", sid("RE", 7)))),
        "{fetched:?}"
    );
    // Deleted from the page: gone from the mailbox at once, and at Twilio.
    let id: i64 = audio_path.split('/').nth(3).unwrap().parse().unwrap();
    let reply = browser
        .post(&f.app, &format!("/admin/voicemail/{id}/delete"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let page = browser.get(&f.app, "/admin/voicemail").await.text();
    assert!(!page.contains(escaped_script), "{page}");
    until("the recording is deleted at Twilio", || async {
        !twilio_api.deletes().is_empty()
    })
    .await;
    assert_eq!(
        browser.get(&f.app, audio_path).await.status,
        StatusCode::NOT_FOUND
    );
});

/// The secret a page shows once.
fn shown_secret(page: &str) -> String {
    let marker = "id=\"device-secret\">";
    let at = page.find(marker).unwrap() + marker.len();
    page[at..at + page[at..].find('<').unwrap()].to_string()
}

on_both!(
    handsets_are_added_changed_and_removed_in_the_pages,
    |backend| {
        let db = database(backend, "manage");
        let f = fixture_with_db_handsets(&db, &[]).await;
        let other = fixture_with_db_handsets(&db, &[]).await;
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let reloader =
            offhook_server::worker::spawn_handsets_reloader(other.state.clone(), stopping);
        add_admin(&store(&f), ADMIN, PASSWORD).await;
        let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
        // The pages link where the routes are.
        let list = browser.get(&f.app, "/admin/handsets").await.text();
        assert!(
            list.contains("id=\"add-handset\" href=\"/admin/new-handset\""),
            "{list}"
        );
        let page = browser.get(&f.app, "/admin/new-handset").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text().contains("action=\"/admin/new-handset\""));
        assert!(
            page.text().contains(&format!("value=\"{PUBLIC}\"")),
            "the public URL is offered"
        );
        // A clash is refused with the reason.
        let reply = browser
            .post(
                &f.app,
                "/admin/new-handset",
                &[
                    ("name", "Hall"),
                    ("device_id", "hall"),
                    ("extension", "101"),
                    ("numbers", ""),
                    ("server_url", PUBLIC),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.text().contains("extension"), "{}", reply.text());
        let reply = browser
            .post(
                &f.app,
                "/admin/new-handset",
                &[
                    ("name", "Hall"),
                    ("device_id", "hall"),
                    ("extension", "103"),
                    ("numbers", "+1 (203) 123-4567"),
                    ("server_url", PUBLIC),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let page = reply.text();
        let secret = shown_secret(&page);
        assert_eq!(secret.len(), 32);
        assert!(page.contains("id=\"qr-code\" src=\"data:image/svg+xml;base64,"));
        // The offhook.toml, as the page shows it (HTML-escaped).
        assert!(
            page.contains(&format!("device_secret = &#34;{secret}&#34;")),
            "{page}"
        );
        assert!(page.contains("device_id = &#34;hall&#34;"));
        // The new handset gets tokens, here at once and on the other instance within a second.
        let token = |app: &Router, secret: &str| {
            let app = app.clone();
            let secret = secret.to_string();
            async move {
                send(
                    &app,
                    token_request(Some(&basic("hall", &secret)))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .status
            }
        };
        assert_eq!(token(&f.app, &secret).await, StatusCode::OK);
        until("the other instance knows the new handset", || async {
            token(&other.app, &secret).await == StatusCode::OK
        })
        .await;
        let hall = store(&f).handset("hall").await.unwrap().unwrap();
        assert_eq!(hall.numbers[0].to_string(), "+12031234567");
        // A new secret: the old one stops working.
        browser.get(&f.app, "/admin/handsets/hall").await;
        let reply = browser
            .post(&f.app, "/admin/handsets/hall/secret", &[])
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let new_secret = shown_secret(&reply.text());
        assert_ne!(new_secret, secret);
        assert_eq!(token(&f.app, &secret).await, StatusCode::UNAUTHORIZED);
        assert_eq!(token(&f.app, &new_secret).await, StatusCode::OK);
        // Removed: it cannot sign in, its stream ends, and the file does not bring it back.
        let mut events = Events::open(&f.app, "hall", &new_secret)
            .await
            .map_err(|r| r.text())
            .unwrap();
        let page = browser.get(&f.app, "/admin/handsets/hall/remove").await;
        assert!(page.text().contains("id=\"confirm-remove\""));
        let reply = browser
            .post(&f.app, "/admin/handsets/hall/remove", &[])
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(!reply.text().contains("id=\"handset-hall\""));
        assert_eq!(token(&f.app, &new_secret).await, StatusCode::UNAUTHORIZED);
        assert!(
            events.ends(WITHIN).await,
            "the removed handset's stream ends"
        );
        let file_entry = offhook_server::handsets::HandsetEntry {
            id: "hall".into(),
            ..entry("hall", "103")
        };
        let imported = store(&f)
            .import_handsets(vec![file_entry], NOW as i64)
            .await
            .unwrap();
        assert_eq!(imported.removed_before, vec!["hall".to_string()]);
        assert!(store(&f).handset("hall").await.unwrap().is_none());
        stop.send_replace(true);
        reloader.await.unwrap();
    }
);

on_both!(
    the_system_page_checks_the_settings_and_the_database,
    |backend| {
        let db = database(backend, "system");
        let f = fixture_with_db_handsets(&db, &[]).await;
        add_admin(&store(&f), ADMIN, PASSWORD).await;
        let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
        let page = browser.get(&f.app, "/admin/system").await.text();
        for shown in [
            "https://phone.example.com/hooks/voice",
            "https://phone.example.com/hooks/call/connect",
            "answering",
            "migration 3",
            "one mailbox per number, calls ring 20 s",
            PHONE_NUMBER,
        ] {
            assert!(page.contains(shown), "{shown}: {page}");
        }
        // (The test auth token is a part of the test SIDs.)
        let without_sid = page
            .replace(ACCOUNT_SID, "")
            .replace(API_KEY, "")
            .replace(APP_SID, "");
        assert!(
            !without_sid.contains(AUTH_TOKEN) && !page.contains(API_SECRET),
            "no secrets"
        );
        let css = browser.get(&f.app, "/admin/static/admin.css").await;
        assert_eq!(css.status, StatusCode::OK);
        assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_page_shows_the_fetch_of_the_ice_servers() {
    let db = database(Backend::Sqlite, "system-ice");
    let twilio_api = FakeTwilio::start().await;
    twilio_api.fail_tokens(Some(503));
    let f = fixture_with_db_handsets(
        &db,
        &[
            ("OFFHOOK_TWILIO_API_URL", twilio_api.url.as_str()),
            ("OFFHOOK_ICE_SERVERS", "twilio"),
        ],
    )
    .await;
    add_admin(&store(&f), ADMIN, PASSWORD).await;
    let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
    let ask_for_a_token = || async {
        let reply = send(
            &f.app,
            token_request(Some(&basic("desk", DESK_SECRET)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    };
    // Twilio refuses: none yet, why, and when it is tried again.
    ask_for_a_token().await;
    let page = browser.get(&f.app, "/admin/system").await.text();
    for shown in [
        "id=\"ice-state\"><span class=\"bad\">none yet: Twilio&#39;s Network Traversal Service could not be reached: Twilio answered 503",
        "<dt>Failures in a row</dt><dd>1</dd>",
        "<dt>Next fetch</dt><dd>2026-11-21 12:00 UTC</dd>",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    // Back: the list, fresh; the last failure is still told.
    twilio_api.fail_tokens(None);
    f.clock.advance(offhook_server::ice::RETRY_MIN);
    ask_for_a_token().await;
    let page = browser.get(&f.app, "/admin/system").await.text();
    for shown in [
        "id=\"ice-state\"><span class=\"good\">2 servers, fresh</span>",
        "<dt>Failures in a row</dt><dd>0</dd>",
        "<dt>Credentials expire</dt><dd>2026-11-22 12:00 UTC</dd>",
        "id=\"ice-last-failure\">2026-11-21 12:00 UTC: Twilio answered 503",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    assert!(!page.contains("cred-1"), "no credentials on the page");

    // Off: said so.
    let db = database(Backend::Sqlite, "system-ice-off");
    let f = fixture_with_db_handsets(&db, &[("OFFHOOK_ICE_SERVERS", "off")]).await;
    add_admin(&store(&f), ADMIN, PASSWORD).await;
    let mut browser = sign_in(&f.app, ADMIN, PASSWORD).await;
    let page = browser.get(&f.app, "/admin/system").await.text();
    assert!(page.contains("<p id=\"ice-state\">Off ("), "{page}");
}
