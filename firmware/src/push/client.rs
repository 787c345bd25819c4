//! The push channel's task: holds `GET /api/handset/events` open, turns its events into
//! [`PushEvent`]s, reconnects on the [`PushSchedule`], and while disconnected polls the mailbox,
//! the settings and the config whenever the token is refreshed. A `voicemail` event also
//! fetches the mailbox's messages (for the history screen), one fetch at a time, the newest
//! wins. The provisioned config has a fetcher of its own: at start, on a `config` event with
//! an ETag the handset does not have, and at each poll, always `If-None-Match` its copy.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::schedule::{Closed, PushSchedule};
use super::sse::{SseItem, SseParser};
use super::{PushConfig, PushEvent};
use crate::api::ServerEndpoint;
use crate::api::handset::{self, ApiError, EVENTS_PATH};
use crate::api::provisioning::{self, ConfigAnswer};
use crate::api::stream;

/// What the glue tells the task.
#[derive(Debug)]
pub(super) enum Command {
    TokenRefreshed,
}

type Events = mpsc::UnboundedSender<PushEvent>;

/// The task: runs until the command channel closes.
pub(super) async fn run(
    endpoint: Arc<ServerEndpoint>,
    config: PushConfig,
    seed: u64,
    config_etag: Option<String>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: Events,
) {
    let (want_list, list_fetcher) = spawn_list_fetcher(endpoint.clone(), events.clone());
    let _fetcher = AbortOnDrop(list_fetcher);
    let (want_config, config_fetcher) =
        spawn_config_fetcher(endpoint.clone(), events.clone(), config_etag);
    let _config_fetcher = AbortOnDrop(config_fetcher);
    let wanted = Wanted {
        list: &want_list,
        config: &want_config,
    };
    let mut schedule = PushSchedule::new(config.backoff, seed, Instant::now());
    loop {
        if config.enabled && schedule.poll_connect(Instant::now()) {
            let closed = session(
                &endpoint,
                &config,
                &mut schedule,
                &mut commands,
                &events,
                &wanted,
            )
            .await;
            let Some((how, reason)) = closed else {
                return;
            };
            let retry_in = schedule.on_closed(how, Instant::now());
            tracing::info!(%reason, ?retry_in, "push channel closed");
            if events
                .send(PushEvent::Disconnected { reason, retry_in })
                .is_err()
            {
                return;
            }
            continue;
        }
        let deadline = if config.enabled {
            schedule.poll_timeout()
        } else {
            None
        };
        tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(Command::TokenRefreshed) => {
                    poll(&endpoint, &events).await;
                    wanted.config.send_modify(|w| w.ask(None));
                    schedule.reconnect_now(Instant::now());
                }
            },
            _ = sleep_until(deadline) => {}
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// The fallback: the mailbox and the settings, fetched once.
async fn poll(endpoint: &ServerEndpoint, events: &Events) {
    match handset::get_voicemail(endpoint).await {
        Ok(list) => {
            let _ = events.send(PushEvent::VoicemailList(list));
        }
        Err(e) => tracing::warn!(error = %e, "cannot poll the mailbox"),
    }
    match handset::get_settings(endpoint).await {
        Ok(settings) => {
            let _ = events.send(PushEvent::Settings(settings));
        }
        Err(e) => tracing::warn!(error = %e, "cannot poll the settings"),
    }
}

/// What the session asks the fetchers for.
struct Wanted<'a> {
    /// The mailbox (bumped on each `voicemail` event).
    list: &'a watch::Sender<u64>,
    config: &'a watch::Sender<ConfigWanted>,
}

/// One connection, until it ends (`Some(how, why)`) or the glue goes (`None`).
async fn session(
    endpoint: &ServerEndpoint,
    config: &PushConfig,
    schedule: &mut PushSchedule,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &Events,
    wanted: &Wanted<'_>,
) -> Option<(Closed, String)> {
    let opened = match tokio::time::timeout(
        endpoint.timeout(),
        stream::open(endpoint, EVENTS_PATH, "text/event-stream"),
    )
    .await
    {
        Err(_) => return Some((Closed::Failed, "no answer in time".into())),
        Ok(Err(e)) => return Some((Closed::Failed, e.to_string())),
        Ok(Ok(opened)) => opened,
    };
    if opened.status != 200 {
        let refused = handset::answer(opened.status, b"", |_| Ok(()))
            .err()
            .filter(ApiError::is_refusal);
        let how = if refused.is_some() {
            Closed::Refused
        } else {
            Closed::Failed
        };
        return Some((how, format!("the server answered HTTP {}", opened.status)));
    }
    let content_type = opened
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("text/event-stream") {
        return Some((
            Closed::Failed,
            format!("not an event stream ({content_type:?})"),
        ));
    }
    let mut body = opened.body;
    schedule.on_connected();
    tracing::info!("push channel connected");
    events.send(PushEvent::Connected).ok()?;
    let mut parser = SseParser::new(config.limits);
    let mut items = Vec::new();
    loop {
        tokio::select! {
            chunk = tokio::time::timeout(config.idle_timeout, body.next_chunk()) => {
                let bytes = match chunk {
                    Err(_) => {
                        return Some((
                            Closed::Failed,
                            format!("nothing for {} s", config.idle_timeout.as_secs()),
                        ));
                    }
                    Ok(None) => return Some((Closed::Failed, "the server ended the stream".into())),
                    Ok(Some(Err(e))) => return Some((Closed::Failed, e)),
                    Ok(Some(Ok(bytes))) => bytes,
                };
                parser.feed(&bytes, &mut items);
                for item in items.drain(..) {
                    on_item(item, schedule, events, wanted).ok()?;
                }
            }
            command = commands.recv() => match command {
                // Connected: the events say what polling would.
                Some(Command::TokenRefreshed) => {}
                None => return None,
            },
        }
    }
}

/// The glue is gone.
struct Gone;

fn on_item(
    item: SseItem,
    schedule: &mut PushSchedule,
    events: &Events,
    wanted: &Wanted<'_>,
) -> Result<(), Gone> {
    let event = match item {
        SseItem::Retry(wait) => {
            schedule.on_retry_hint(wait);
            return Ok(());
        }
        SseItem::Skipped(why) => {
            tracing::warn!(%why, "push channel: skipped an event");
            return Ok(());
        }
        SseItem::Event(event) => event,
    };
    let parsed = match event.event.as_str() {
        "voicemail" => handset::parse_count(event.data.as_bytes()).map(PushEvent::Voicemail),
        "settings" => handset::parse_settings(event.data.as_bytes()).map(PushEvent::Settings),
        "config" => {
            match provisioning::parse_config_event(event.data.as_bytes()) {
                Ok(etag) => {
                    schedule.on_event();
                    wanted.config.send_modify(|w| w.ask(Some(etag)));
                }
                Err(why) => {
                    tracing::warn!(%why, "push channel: skipped a malformed config event")
                }
            }
            return Ok(());
        }
        other => {
            tracing::debug!(event = %other, "push channel: an event this handset does not use");
            return Ok(());
        }
    };
    match parsed {
        Ok(push) => {
            schedule.on_event();
            let voicemail = matches!(push, PushEvent::Voicemail(_));
            events.send(push).map_err(|_| Gone)?;
            if voicemail {
                wanted.list.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
        Err(why) => {
            tracing::warn!(event = %event.event, %why, "push channel: skipped a malformed event")
        }
    }
    Ok(())
}

/// A task that fetches the mailbox each time the watch changes; a list fetched while another
/// change came in is dropped (it may be older than the count already shown) and fetched again.
fn spawn_list_fetcher(
    endpoint: Arc<ServerEndpoint>,
    events: Events,
) -> (watch::Sender<u64>, JoinHandle<()>) {
    let (tx, mut rx) = watch::channel(0u64);
    let task = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            loop {
                let asked = *rx.borrow_and_update();
                let result = handset::get_voicemail(&endpoint).await;
                if *rx.borrow() != asked {
                    continue;
                }
                match result {
                    Ok(list) => {
                        if events.send(PushEvent::VoicemailList(list)).is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot fetch the mailbox"),
                }
                break;
            }
        }
    });
    (tx, task)
}

/// A fetch of the config asked for: each ask bumps `asked`; `etag` is the server's from a
/// `config` event (`None`: fetch anyway, conditionally).
#[derive(Debug, Clone, Default)]
struct ConfigWanted {
    asked: u64,
    etag: Option<String>,
}

impl ConfigWanted {
    fn ask(&mut self, etag: Option<String>) {
        self.asked = self.asked.wrapping_add(1);
        self.etag = etag;
    }
}

/// A task that fetches the provisioned config at start and then whenever asked, unless the
/// server's ETag is the one of the copy the handset has (or of a document already refused).
/// Every fetch sends `If-None-Match` with that copy's ETag.
fn spawn_config_fetcher(
    endpoint: Arc<ServerEndpoint>,
    events: Events,
    etag: Option<String>,
) -> (watch::Sender<ConfigWanted>, JoinHandle<()>) {
    let (tx, mut rx) = watch::channel(ConfigWanted::default());
    let task = tokio::spawn(async move {
        let mut current = etag;
        let mut refused: Option<String> = None;
        loop {
            let wanted = rx.borrow_and_update().etag.clone();
            if already_have(wanted.as_deref(), current.as_deref(), refused.as_deref()) {
                tracing::debug!(etag = ?wanted, "provisioned config: already have it");
            } else {
                match provisioning::get_config(&endpoint, current.as_deref()).await {
                    Ok(ConfigAnswer::NotModified) => {
                        tracing::debug!(etag = ?current, "provisioned config unchanged")
                    }
                    Ok(ConfigAnswer::Config { etag, config }) => {
                        current = etag.or(wanted);
                        tracing::info!(etag = ?current, "provisioned config fetched");
                        let event = PushEvent::Config {
                            etag: current.clone(),
                            config,
                        };
                        if events.send(event).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        if matches!(e, ApiError::BadResponse(_)) {
                            refused = wanted;
                        }
                        tracing::warn!(error = %e, "cannot use the provisioned config; keeping the last good one");
                    }
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
    (tx, task)
}

/// Whether the server's ETag names the copy the handset has, or a document it refused (a
/// fetch without an ETag to go by is always made, conditionally).
fn already_have(wanted: Option<&str>, current: Option<&str>, refused: Option<&str>) -> bool {
    wanted.is_some() && (wanted == current || wanted == refused)
}

/// Aborts a helper task when its owner ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::already_have;

    #[test]
    fn a_config_is_fetched_unless_its_etag_is_known() {
        let (v1, v2) = (Some("\"v1\""), Some("\"v2\""));
        assert!(already_have(v1, v1, None));
        assert!(already_have(v2, v1, v2), "refused before");
        assert!(!already_have(v2, v1, None));
        assert!(!already_have(v1, None, None));
        assert!(!already_have(None, v1, None), "start and polls ask anyway");
    }
}
