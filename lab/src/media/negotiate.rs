//! The gateway's offer/answer, with no socket: str0m configured as Twilio's Media Gateway
//! (ICE-lite, Opus 107, PCMU 0, telephone-event/8000 101, no RTP header extensions) and its
//! SDP reshaped as Twilio writes it ([`super::sdp`]).

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid};
use str0m::{IceCreds, Rtc, RtcConfig};

use super::sdp::{self, GatewaySdp};
use crate::error::LabError;
use crate::sid;

/// Payload types of the gateway's own offers, as in Twilio's (`107 0 101`).
pub(super) const PT_OPUS: u8 = 107;
pub(super) const PT_PCMU: u8 = 0;
pub(super) const PT_TELEPHONE_EVENT: u8 = 101;
/// The mid Twilio's offers use.
pub(super) const OFFER_MID: &str = "audio";

/// RustCrypto's DTLS and SRTP, as the handset's (Twilio's crypto, when on, is added by the
/// leg: see `super::dtls`).
pub(super) fn rtc_config() -> RtcConfig {
    let mut config = RtcConfig::new()
        .set_crypto_provider(offhook_rtc_crypto::provider())
        .set_ice_lite(true)
        .set_local_ice_credentials(IceCreds {
            ufrag: sid::hex32(),
            pass: sid::hex32(),
        })
        .clear_codecs()
        .clear_extension_map();
    let codecs = config.codec_config();
    codecs.add_config(
        PT_OPUS.into(),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams {
            min_p_time: Some(10),
            use_inband_fec: Some(true),
            ..FormatParams::default()
        },
    );
    codecs.add_config(
        PT_PCMU.into(),
        None,
        Codec::PCMU,
        Frequency::EIGHT_KHZ,
        None,
        FormatParams::default(),
    );
    codecs.add_config(
        PT_TELEPHONE_EVENT.into(),
        None,
        Codec::Tele,
        Frequency::EIGHT_KHZ,
        None,
        FormatParams::parse_line("0-16"),
    );
    config
}

/// The gateway's answer to a client's offer (an outgoing call, or an ICE restart).
pub(super) fn answer_offer(
    rtc: &mut Rtc,
    shaper: &mut GatewaySdp,
    offer: &str,
) -> Result<String, LabError> {
    let prepared = sdp::prepare_remote(offer, true)?;
    let offer = SdpOffer::from_sdp_string(&prepared).map_err(|source| LabError::SdpParse {
        what: "invalid SDP offer",
        source,
    })?;
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|source| LabError::Rtc {
            what: "cannot answer the offer",
            source,
        })?;
    shaper.shape(&answer.to_sdp_string(), None)
}

/// The gateway's offer to a client it rings (`actpass`, mid `audio`).
pub(super) fn make_offer(
    rtc: &mut Rtc,
    shaper: &mut GatewaySdp,
) -> Result<(String, SdpPendingOffer, Mid), LabError> {
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = api.apply().ok_or(LabError::Media("str0m made no offer"))?;
    Ok((
        shaper.shape(&offer.to_sdp_string(), Some(OFFER_MID))?,
        pending,
        mid,
    ))
}

/// Applies a client's answer to the gateway's offer; the client must be the DTLS client.
pub(super) fn apply_answer(
    rtc: &mut Rtc,
    pending: SdpPendingOffer,
    mid: Mid,
    answer: &str,
) -> Result<(), LabError> {
    sdp::require_active_answer(answer)?;
    let prepared = sdp::rename_mid(
        &sdp::prepare_remote(answer, false)?,
        OFFER_MID,
        &mid.to_string(),
    );
    let answer = SdpAnswer::from_sdp_string(&prepared).map_err(|source| LabError::SdpParse {
        what: "invalid SDP answer",
        source,
    })?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|source| LabError::Rtc {
            what: "cannot use the answer",
            source,
        })
}

#[cfg(test)]
mod tests {
    //! The seed capture's SDPs through the gateway's side: a browser's offer (line 448) as
    //! Twilio answered it (line 546), and a browser's answer (line 1213) to Twilio's offer.
    use std::net::IpAddr;
    use std::time::Instant;

    use str0m::Candidate;

    use super::*;

    /// The SDP string of the frame at `line` of the seed capture.
    fn seed_sdp(line: usize) -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/seeds/000_d74093c7acc83100.txt"
        );
        let text = std::fs::read_to_string(path).expect("the seed capture beside the repository");
        let l = text.lines().nth(line - 1).expect("line in the seed");
        let json = l
            .trim()
            .trim_start_matches("\"sdp\":")
            .trim()
            .trim_end_matches(',');
        serde_json::from_str(json).expect("an SDP string")
    }

    fn gateway() -> (Rtc, GatewaySdp) {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut rtc = rtc_config().build(Instant::now());
        rtc.add_local_candidate(Candidate::host((ip, 40_000).into(), "udp").unwrap());
        (rtc, GatewaySdp::new(ip, 40_000))
    }

    fn m_line(sdp: &str) -> Vec<String> {
        let m = sdp.lines().find(|l| l.starts_with("m=audio")).unwrap();
        m.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn a_browsers_offer_is_answered_as_twilio_answered_it() {
        let offer = seed_sdp(448);
        assert!(offer.contains("a=extmap:") && offer.contains("UDP/TLS/RTP/SAVPF"));
        let (mut rtc, mut shaper) = gateway();
        let answer = answer_offer(&mut rtc, &mut shaper, &offer).unwrap();
        let twilio = seed_sdp(546);
        // Same shape as Twilio's: proto, payload types (Opus, PCMU, telephone-event/8000),
        // DTLS client, the offer's mid, no header extensions.
        let (ours, theirs) = (m_line(&answer), m_line(&twilio));
        assert_eq!(ours[2], theirs[2], "{answer}");
        let mut pts = ours[3..].to_vec();
        let mut want = theirs[3..].to_vec();
        pts.sort();
        want.sort();
        assert_eq!(pts, want, "{answer}");
        for line in [
            "a=setup:active",
            "a=mid:0",
            "a=rtpmap:126 telephone-event/8000",
            "a=fmtp:126 0-16",
            "a=ice-lite",
            "a=rtcp-mux",
        ] {
            assert!(answer.contains(line), "{line} missing from {answer}");
            assert!(twilio.contains(line), "{line} missing from the seed");
        }
        assert!(!answer.contains("a=extmap"), "{answer}");
        // An answer names the RTP component only.
        assert!(
            !answer
                .lines()
                .any(|l| l.starts_with("a=candidate:") && l.contains(" 2 UDP "))
        );
    }

    #[test]
    fn the_gateways_offer_has_twilios_shape() {
        let (mut rtc, mut shaper) = gateway();
        let (offer, _, _) = make_offer(&mut rtc, &mut shaper).unwrap();
        let twilio = seed_sdp(1013);
        assert_eq!(m_line(&offer)[2..], m_line(&twilio)[2..], "{offer}");
        for line in [
            "a=setup:actpass",
            "a=mid:audio",
            "a=group:BUNDLE audio",
            "a=rtpmap:101 telephone-event/8000",
            "a=rtpmap:107 opus/48000/2",
            "a=end-of-candidates",
            "a=connection:new",
        ] {
            assert!(offer.contains(line), "{line} missing from {offer}");
            assert!(twilio.contains(line), "{line} missing from the seed");
        }
        let components = |sdp: &str| -> Vec<String> {
            sdp.lines()
                .filter(|l| l.starts_with("a=candidate:"))
                .map(|l| l.split(' ').nth(1).unwrap().to_string())
                .collect()
        };
        assert_eq!(components(&offer), components(&twilio));
        assert!(!offer.contains("a=extmap"));
    }

    #[test]
    fn a_browsers_answer_to_the_offer_is_applied() {
        let (mut rtc, mut shaper) = gateway();
        let (_, pending, mid) = make_offer(&mut rtc, &mut shaper).unwrap();
        apply_answer(&mut rtc, pending, mid, &seed_sdp(1213)).unwrap();
        let media = rtc.media(mid).unwrap();
        let mut remote: Vec<u8> = media.remote_pts().iter().map(|p| **p).collect();
        remote.sort();
        assert_eq!(remote, vec![0, 101, 107]);
        let te = rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec.is_tele())
            .unwrap();
        assert_eq!((*te.pt(), te.spec().clock_rate.get()), (101, 8000));
    }

    #[test]
    fn an_answer_that_is_not_the_dtls_client_fails_the_leg() {
        for setup in ["passive", "actpass"] {
            let (mut rtc, mut shaper) = gateway();
            let (_, pending, mid) = make_offer(&mut rtc, &mut shaper).unwrap();
            let answer = seed_sdp(1213).replace("a=setup:active", &format!("a=setup:{setup}"));
            let err = apply_answer(&mut rtc, pending, mid, &answer).unwrap_err();
            assert!(matches!(err, LabError::Sdp(_)), "{err:?}");
            assert!(err.to_string().contains("a=setup:active"), "{err}");
        }
    }
}
