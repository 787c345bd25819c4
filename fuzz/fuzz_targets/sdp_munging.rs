//! Remote SDP munging never panics on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twilio_voice::protocol::sdp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = sdp::set_codec_preferences(text, &["pcmu", "opus"]);
    let _ = sdp::set_max_average_bitrate(text, Some(20_000));
    let _ = sdp::preferred_codec_info(text);
    let _ = twilio_voice::media::rtc::normalise_remote_sdp(text);
});
