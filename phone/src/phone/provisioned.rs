//! A new configuration while the phone runs (offhook-server provisioned it). Contacts, speed
//! dials, the dial plan and ring cadences apply at once, and so do new volumes; a new edge list
//! or codec order waits for a moment without a call, because the Device reconnects to change
//! them. A provisioned value that changes replaces what the user picked for it in the menu:
//! the last change wins.

use super::config::{PhoneConfig, Volumes};
use super::io::{PhoneOutput, VolumePath};
use super::{Activity, Phone};

/// Device options changed by a new config, waiting for the phone to be idle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct PendingDevice {
    pub edge: bool,
    pub codecs: bool,
}

const PATHS: [VolumePath; 3] = [VolumePath::Handset, VolumePath::Speaker, VolumePath::Ringer];

impl Phone {
    pub(super) fn on_config(&mut self, cfg: PhoneConfig) {
        if cfg == self.cfg {
            return;
        }
        let old = std::mem::replace(&mut self.cfg, cfg);
        let mut user_changed = false;
        if old.ring_cadences.first() != self.cfg.ring_cadences.first() {
            user_changed |= self.user.ring_cadence.take().is_some();
        }
        if old.edges != self.cfg.edges {
            user_changed |= self.user.edge.take().is_some();
            self.pending_device.edge = true;
        }
        if old.codecs != self.cfg.codecs {
            user_changed |= self.user.codecs.take().is_some();
            self.pending_device.codecs = true;
        }
        if self.ringing {
            // Ringing now: the new cadence from the next ring on.
            let cadence = self.ring_cadence().cadence;
            self.emit(PhoneOutput::Ringer(Some(cadence)));
        }
        if let Some(volumes) = self.take_provisioned_volumes() {
            for path in PATHS {
                let level = volumes.get(path);
                self.emit(PhoneOutput::Volume { path, level });
            }
            user_changed = true;
        }
        if user_changed {
            self.emit(PhoneOutput::SettingsChanged);
        }
        self.view_dirty = true;
    }

    /// The configured volumes, when they are not the ones last applied: they become the
    /// user's (returned, for the glue to set).
    pub(super) fn take_provisioned_volumes(&mut self) -> Option<Volumes> {
        let volumes = self.cfg.volumes?;
        if self.user.provisioned_volumes == Some(volumes) {
            return None;
        }
        self.user.provisioned_volumes = Some(volumes);
        for path in PATHS {
            self.user.volumes.set(path, volumes.get(path));
        }
        Some(volumes)
    }

    /// Hands a changed edge list or codec order to the Device once no call is up, ringing or
    /// waiting (and the handset is down: a number may be about to be dialed).
    pub(super) fn apply_pending_device(&mut self) {
        if self.pending_device == PendingDevice::default()
            || !matches!(self.activity, Activity::Idle)
            || self.waiting.is_some()
            || self.is_off_hook()
        {
            return;
        }
        let pending = std::mem::take(&mut self.pending_device);
        if pending.edge
            && let Some(edge) = self.device_edge().map(str::to_string)
        {
            self.emit(PhoneOutput::SetEdge(edge));
        }
        if pending.codecs {
            let codecs = self.device_codecs();
            self.emit(PhoneOutput::SetCodecPreferences(codecs));
        }
    }
}
