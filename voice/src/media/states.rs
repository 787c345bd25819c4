//! The WebRTC state machines of a call's peer, kept from what the session observes: each
//! change is reported once, and the peer connection's own state is derived from the ICE and
//! DTLS transports the way browsers derive `connectionState`.

use crate::model::PeerState;

#[derive(Debug, Default)]
pub struct PeerStates {
    signaling: Option<PeerState>,
    gathering: Option<PeerState>,
    ice: Option<PeerState>,
    dtls: Option<PeerState>,
    connection: Option<PeerState>,
    closed: bool,
}

impl PeerStates {
    /// Records `state`; returns what changed, a derived connection state included.
    pub fn enter(&mut self, state: PeerState) -> Vec<PeerState> {
        if self.closed {
            return Vec::new();
        }
        self.set(state)
    }

    /// The peer is closed: every transport that was reported closes, signaling last.
    pub fn close(&mut self) -> Vec<PeerState> {
        if self.closed {
            return Vec::new();
        }
        self.closed = true;
        let mut changes = Vec::new();
        if self.dtls.is_some() {
            changes.extend(self.set(PeerState::DtlsClosed));
        }
        if self.ice.is_some() {
            changes.extend(self.set(PeerState::IceClosed));
        }
        if self.signaling.is_some() {
            changes.extend(self.set(PeerState::SignalingClosed));
        }
        changes
    }

    fn set(&mut self, state: PeerState) -> Vec<PeerState> {
        use PeerState::*;
        let slot = match state {
            HaveLocalOffer | HaveRemoteOffer | Stable | SignalingClosed => &mut self.signaling,
            Gathering | GatheringComplete => &mut self.gathering,
            IceChecking | IceConnected | IceDisconnected | IceFailed | IceClosed => &mut self.ice,
            DtlsNew | DtlsConnecting | DtlsConnected | DtlsClosed => &mut self.dtls,
            Connecting | Connected | Disconnected | Failed | Closed => &mut self.connection,
        };
        if *slot == Some(state) {
            return Vec::new();
        }
        *slot = Some(state);
        let mut changes = vec![state];
        let transport = matches!(
            state.group(),
            "ice-connection-state" | "dtls-transport-state"
        );
        if transport
            && let Some(c) = self.derive_connection()
            && self.connection != Some(c)
        {
            self.connection = Some(c);
            changes.push(c);
        }
        changes
    }

    /// `connectionState` for one ICE and one DTLS transport; `None` while both are new
    /// (browsers report no change for the initial state).
    fn derive_connection(&self) -> Option<PeerState> {
        use PeerState::*;
        if self.closed {
            return Some(Closed);
        }
        let ice = self.ice;
        let dtls = self.dtls.unwrap_or(DtlsNew);
        if ice == Some(IceFailed) {
            return Some(Failed);
        }
        if ice == Some(IceDisconnected) {
            return Some(Disconnected);
        }
        if ice.is_none() && dtls == DtlsNew {
            return None;
        }
        if matches!(ice, None | Some(IceChecking)) || matches!(dtls, DtlsNew | DtlsConnecting) {
            return Some(Connecting);
        }
        Some(Connected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PeerState::*;

    #[test]
    fn changes_are_reported_once_and_the_connection_follows_its_transports() {
        let mut s = PeerStates::default();
        assert_eq!(s.enter(HaveLocalOffer), vec![HaveLocalOffer]);
        assert_eq!(
            s.enter(DtlsNew),
            vec![DtlsNew],
            "both transports new: no change"
        );
        assert_eq!(s.enter(DtlsNew), vec![]);
        assert_eq!(s.enter(Stable), vec![Stable]);
        assert_eq!(s.enter(DtlsConnecting), vec![DtlsConnecting, Connecting]);
        assert_eq!(s.enter(IceChecking), vec![IceChecking]);
        assert_eq!(s.enter(IceConnected), vec![IceConnected]);
        assert_eq!(s.enter(DtlsConnected), vec![DtlsConnected, Connected]);
        assert_eq!(
            s.enter(IceDisconnected),
            vec![IceDisconnected, Disconnected]
        );
        assert_eq!(s.enter(IceFailed), vec![IceFailed, Failed]);
        assert_eq!(s.enter(IceChecking), vec![IceChecking, Connecting]);
        assert_eq!(s.enter(IceConnected), vec![IceConnected, Connected]);
        assert_eq!(
            s.close(),
            vec![DtlsClosed, Closed, IceClosed, SignalingClosed]
        );
        assert_eq!(s.close(), vec![]);
        assert_eq!(s.enter(IceConnected), vec![], "nothing after close");
    }

    #[test]
    fn closing_a_peer_that_never_negotiated_closes_only_what_existed() {
        let mut s = PeerStates::default();
        assert_eq!(s.enter(Gathering), vec![Gathering]);
        assert_eq!(s.close(), vec![]);
        let mut s = PeerStates::default();
        s.enter(HaveLocalOffer);
        assert_eq!(s.close(), vec![SignalingClosed]);
    }
}
