//! SDP munging as `lib/twilio/rtc/sdp.ts` does it: codec order from `codecPreferences`
//! applied to remote descriptions, `maxaveragebitrate` added to the local Opus `fmtp`, and
//! reading which codec won.

/// Opus's payload type when an SDP has no `rtpmap` for it (`sdp.ts defaultOpusId`).
const DEFAULT_OPUS_PT: u32 = 111;
pub const BITRATE_MIN: u32 = 6000;
pub const BITRATE_MAX: u32 = 510_000;

fn payload_types_of_m_line(m_line: &str) -> Vec<u32> {
    // "m=<kind> <port> <proto> <pt1> <pt2> …": every run of digits, minus the port. The
    // proto (RTP/SAVPF, UDP/TLS/RTP/SAVPF) has no digits.
    let numbers: Vec<u32> = m_line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    numbers.into_iter().skip(1).collect()
}

fn codec_name_for(section: &str, pt: u32) -> String {
    let prefix = format!("a=rtpmap:{pt} ");
    for line in section.split("\r\n") {
        if let Some(rest) = line.strip_prefix(&prefix) {
            let name = rest.split('/').next().unwrap_or_default();
            return name.to_ascii_lowercase();
        }
    }
    match pt {
        0 => "pcmu".into(),
        8 => "pcma".into(),
        _ => String::new(),
    }
}

/// Rewrites one `m=` line's payload-type list.
fn set_payload_types(section: &str, pts: &[u32]) -> String {
    let mut lines = section.split("\r\n");
    let m_line = lines.next().unwrap_or_default();
    let old = payload_types_of_m_line(m_line);
    // Keep everything up to the payload types (kind, port, proto).
    let fields: Vec<&str> = m_line.split(' ').collect();
    let keep = fields.len().saturating_sub(old.len());
    let mut new_m: Vec<String> = fields[..keep].iter().map(|s| s.to_string()).collect();
    new_m.extend(pts.iter().map(u32::to_string));
    std::iter::once(new_m.join(" "))
        .chain(lines.map(String::from))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Puts the preferred codecs first in every audio section (others keep their order) and
/// drops `b=AS`/`b=TIAS` when the first codec is PCMU or PCMA (`sdp.ts setCodecPreferences`).
/// `preferred` holds codec names (`"pcmu"`, `"opus"`), compared case-insensitively.
pub fn set_codec_preferences(sdp: &str, preferred: &[&str]) -> String {
    let preferred: Vec<String> = preferred.iter().map(|c| c.to_ascii_lowercase()).collect();
    let trimmed = sdp
        .strip_suffix("\r\n\r\n")
        .map(|s| format!("{s}\r\n"))
        .unwrap_or_else(|| sdp.to_string());
    let mut parts = trimmed.split("\r\nm=");
    let session = parts.next().unwrap_or_default().to_string();
    let mut out = vec![session];
    for rest in parts {
        let section = format!("m={rest}");
        if !(section.starts_with("m=audio") || section.starts_with("m=video")) {
            out.push(section);
            continue;
        }
        let m_line = section.split("\r\n").next().unwrap_or_default();
        let pts = payload_types_of_m_line(m_line);
        // Codec name → its payload types, in first-seen order.
        let mut by_codec: Vec<(String, Vec<u32>)> = Vec::new();
        for pt in &pts {
            let name = codec_name_for(&section, *pt);
            match by_codec.iter_mut().find(|(n, _)| *n == name) {
                Some((_, list)) => list.push(*pt),
                None => by_codec.push((name, vec![*pt])),
            }
        }
        let mut ordered: Vec<u32> = Vec::new();
        for want in &preferred {
            if let Some((_, list)) = by_codec.iter().find(|(n, _)| n == want) {
                ordered.extend(list);
            }
        }
        for (name, list) in &by_codec {
            if !preferred.contains(name) {
                ordered.extend(list);
            }
        }
        let mut new_section = set_payload_types(&section, &ordered);
        let fixed_rate = section.starts_with("m=audio")
            && ordered.first().is_some_and(|first| {
                by_codec
                    .iter()
                    .any(|(n, list)| (n == "pcmu" || n == "pcma") && list.contains(first))
            });
        if fixed_rate {
            new_section = new_section
                .split("\r\n")
                .filter(|l| !(l.starts_with("b=AS:") || l.starts_with("b=TIAS:")))
                .collect::<Vec<_>>()
                .join("\r\n");
        }
        out.push(new_section);
    }
    out.join("\r\n")
}

/// Appends `;maxaveragebitrate=n` to the Opus `a=fmtp` line when 6000 ≤ n ≤ 510000
/// (`sdp.ts setMaxAverageBitrate`).
pub fn set_max_average_bitrate(sdp: &str, bitrate: Option<u32>) -> String {
    let Some(bitrate) = bitrate.filter(|b| (BITRATE_MIN..=BITRATE_MAX).contains(b)) else {
        return sdp.to_string();
    };
    let opus_pt = sdp
        .split('\n')
        .find_map(|l| {
            let rest = l.strip_prefix("a=rtpmap:")?;
            let (pt, codec) = rest.split_once(' ')?;
            codec
                .to_ascii_lowercase()
                .starts_with("opus")
                .then(|| pt.trim().parse::<u32>().ok())
                .flatten()
        })
        .unwrap_or(DEFAULT_OPUS_PT);
    let prefix = format!("a=fmtp:{opus_pt}");
    sdp.split('\n')
        .map(|line| {
            let bare = line.strip_suffix('\r').unwrap_or(line);
            let is_opus_fmtp = bare.strip_prefix(&prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(' ') || rest.starts_with(';')
            });
            if is_opus_fmtp {
                let cr = if line.ends_with('\r') { "\r" } else { "" };
                format!("{bare};maxaveragebitrate={bitrate}{cr}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first `rtpmap` codec of an SDP and its `fmtp` parameters (`getPreferredCodecInfo`).
pub fn preferred_codec_info(sdp: &str) -> Option<(String, String)> {
    let (pt, name) = sdp.lines().find_map(|l| {
        let rest = l.strip_prefix("a=rtpmap:")?;
        let (pt, name) = rest.split_once(' ')?;
        Some((
            pt.to_string(),
            name.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
        ))
    })?;
    let prefix = format!("a=fmtp:{pt} ");
    let params = sdp
        .lines()
        .find_map(|l| {
            l.strip_prefix(&prefix)
                .map(|p| p.split_whitespace().next().unwrap_or_default().to_string())
        })
        .unwrap_or_default();
    Some((name, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tests/lib/mocksdp.js makeSdpWithTracks('unified', {audio: […]})`, audio section.
    fn mock_sdp(b_line: Option<&str>) -> String {
        let b = b_line.map(|b| format!("{b}\r\n")).unwrap_or_default();
        format!(
            "v=0\r\no=- 0 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:0000\r\na=ice-pwd:0000000000000000000000\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\nc=IN IP4 0.0.0.0\r\n{b}a=sendrecv\r\n\
             a=rtpmap:109 opus/48000/2\r\na=rtpmap:9 G722/8000/1\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=mid:0\r\n"
        )
    }

    fn m_line_pts(sdp: &str) -> Vec<u32> {
        let m = sdp
            .split("\r\n")
            .find(|l| l.starts_with("m=audio"))
            .unwrap();
        payload_types_of_m_line(m)
    }

    #[test]
    fn codec_order_follows_sdp_js_vectors() {
        assert_eq!(
            m_line_pts(&set_codec_preferences(&mock_sdp(None), &["pcmu", "opus"])),
            vec![0, 109, 9, 8, 101]
        );
        assert_eq!(
            m_line_pts(&set_codec_preferences(&mock_sdp(None), &[])),
            vec![109, 9, 0, 8, 101]
        );
        assert_eq!(
            m_line_pts(&set_codec_preferences(&mock_sdp(None), &["OPUS", "PCMU"])),
            vec![109, 0, 9, 8, 101]
        );
    }

    #[test]
    fn fixed_rate_first_codec_drops_bandwidth_lines() {
        let with_b = mock_sdp(Some("b=TIAS:32000"));
        assert!(!set_codec_preferences(&with_b, &["pcmu", "opus"]).contains("b=TIAS"));
        assert!(set_codec_preferences(&with_b, &["opus", "pcmu"]).contains("b=TIAS:32000"));
    }

    #[test]
    fn twilio_answer_reordered_as_the_capture_shows() {
        let answer = "v=0\r\no=root 1 1 IN IP4 10.0.0.1\r\ns=Twilio Media Gateway\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n\
                      a=group:BUNDLE 0\r\na=ice-lite\r\nm=audio 10000 RTP/SAVPF 111 0 126\r\n\
                      a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\n";
        let out = set_codec_preferences(answer, &["pcmu", "opus"]);
        assert!(out.contains("m=audio 10000 RTP/SAVPF 0 111 126\r\n"));
        assert!(out.starts_with("v=0\r\no=root"));
    }

    #[test]
    fn max_average_bitrate_vectors() {
        let sdp = "foo=a\na=rtpmap:0 PCMU/8000\na=fmtp:111\nbar=b";
        assert_eq!(
            set_max_average_bitrate(sdp, Some(12345)),
            "foo=a\na=rtpmap:0 PCMU/8000\na=fmtp:111;maxaveragebitrate=12345\nbar=b"
        );
        let sdp = "foo=a\na=rtpmap:0 PCMU/8000\na=rtpmap:1337 opus/48000/2\na=fmtp:1337\nbar=b";
        assert_eq!(
            set_max_average_bitrate(sdp, Some(12345)),
            "foo=a\na=rtpmap:0 PCMU/8000\na=rtpmap:1337 opus/48000/2\na=fmtp:1337;maxaveragebitrate=12345\nbar=b"
        );
        assert_eq!(set_max_average_bitrate(sdp, Some(5999)), sdp);
        assert_eq!(set_max_average_bitrate(sdp, Some(510_001)), sdp);
        assert_eq!(set_max_average_bitrate(sdp, None), sdp);
        let crlf = "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n";
        assert_eq!(
            set_max_average_bitrate(crlf, Some(20000)),
            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1;maxaveragebitrate=20000\r\n"
        );
    }

    #[test]
    fn preferred_codec_info_vector() {
        let sdp = "foo=a\na=rtpmap:1337 opus/48000/2\na=rtpmap:0 PCMU/8000\na=fmtp:0\na=fmtp:1337 maxaveragebitrate=12000;usedtx=0\nbar=b";
        assert_eq!(
            preferred_codec_info(sdp),
            Some((
                "opus/48000/2".to_string(),
                "maxaveragebitrate=12000;usedtx=0".to_string()
            ))
        );
        assert_eq!(preferred_codec_info("v=0"), None);
    }

    proptest::proptest! {
        #[test]
        fn munging_never_panics(s in "\\PC{0,300}") {
            let _ = set_codec_preferences(&s, &["pcmu", "opus"]);
            let _ = set_max_average_bitrate(&s, Some(20000));
            let _ = preferred_codec_info(&s);
        }
    }
}
