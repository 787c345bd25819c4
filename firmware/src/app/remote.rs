//! offhook-server beyond tokens: the push channel's events into the phone, and the phone's
//! settings changes out to the server (`PUT /api/handset/settings`), answered back to it.

use std::time::Instant;

use crate::api::handset::put_settings;
use crate::phone::{PhoneInput, SettingsUpdate};
use crate::push::PushEvent;

use super::App;

impl App {
    pub(super) fn on_push_event(&mut self, event: PushEvent) {
        let now = Instant::now();
        let input = match event {
            // The client logs these itself; the phone carries on either way.
            PushEvent::Connected | PushEvent::Disconnected { .. } => return,
            PushEvent::Voicemail(count) => {
                tracing::info!(new = count.new, saved = count.saved, "voicemail");
                PhoneInput::Voicemail(count)
            }
            PushEvent::VoicemailList(list) => PhoneInput::VoicemailList(list),
            PushEvent::Settings(settings) => PhoneInput::ServerSettings(settings),
            PushEvent::Config { etag, config } => return self.on_provisioned(etag, *config),
        };
        self.phone.handle(input, now);
    }

    /// Sends a settings change; the answer comes back through `settings_tx`.
    pub(super) fn spawn_put_settings(&self, update: SettingsUpdate) {
        let endpoint = self.endpoint.clone();
        let tx = self.settings_tx.clone();
        tokio::spawn(async move {
            let answer = put_settings(&endpoint, &update).await.map_err(|e| {
                tracing::warn!(error = %e, ?update, "settings not saved on the server");
                e.short()
            });
            let _ = tx.send(answer);
        });
    }
}
