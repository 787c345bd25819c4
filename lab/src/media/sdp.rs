//! SDP as Twilio's media gateway writes it, made from str0m's SDP.
//!
//! str0m negotiates; this module only rewrites text. What the lab sends must still describe
//! str0m's state exactly: the same ICE credentials, fingerprint, payload types, SSRC and DTLS
//! role. The role is arranged before str0m sees an offer (`a=setup:actpass` → `passive`, so
//! str0m answers as the DTLS client, `a=setup:active`, as Twilio does).

use std::net::IpAddr;

use crate::error::LabError;

/// Parts of an SDP the lab needs, read from str0m's text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SdpFacts {
    pub mid: String,
    pub port: u16,
    pub payload_types: Vec<String>,
    pub rtpmaps: Vec<(String, String)>,
    pub fmtps: Vec<(String, String)>,
    pub ufrag: String,
    pub pwd: String,
    pub fingerprint: String,
    pub setup: String,
    pub direction: String,
    pub ssrc: Option<(String, String)>,
    pub msid: Option<String>,
}

/// The ICE username fragment of a description (session or media level, the first one).
pub fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .filter(|u| !u.is_empty())
}

/// Reads the facts from an SDP with exactly one audio m-line.
pub fn facts(sdp: &str) -> Result<SdpFacts, LabError> {
    let mut f = SdpFacts {
        direction: "sendrecv".into(),
        ..SdpFacts::default()
    };
    let mut in_audio = false;
    let mut audio_lines = 0;
    let mut cname = None;
    let mut ssrc_id = None;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_whitespace();
            let kind = parts.next().unwrap_or_default();
            in_audio = kind == "audio";
            if in_audio {
                audio_lines += 1;
                f.port = parts.next().and_then(|p| p.parse().ok()).unwrap_or(9);
                let _proto = parts.next();
                f.payload_types = parts.map(str::to_string).collect();
            }
            continue;
        }
        let Some(attr) = line.strip_prefix("a=") else {
            continue;
        };
        let (name, value) = attr.split_once(':').unwrap_or((attr, ""));
        match name {
            // Credentials and fingerprint may sit at session level.
            "ice-ufrag" => f.ufrag = value.to_string(),
            "ice-pwd" => f.pwd = value.to_string(),
            "fingerprint" => f.fingerprint = value.to_string(),
            "setup" => f.setup = value.to_string(),
            _ if !in_audio => {}
            "mid" => f.mid = value.to_string(),
            "rtpmap" => {
                if let Some((pt, codec)) = value.split_once(' ') {
                    f.rtpmaps.push((pt.to_string(), codec.to_string()));
                }
            }
            "fmtp" => {
                if let Some((pt, params)) = value.split_once(' ') {
                    f.fmtps.push((pt.to_string(), params.to_string()));
                }
            }
            "sendrecv" | "sendonly" | "recvonly" | "inactive" => f.direction = name.to_string(),
            "msid" => f.msid = Some(value.to_string()),
            "ssrc" => {
                if let Some((id, rest)) = value.split_once(' ') {
                    ssrc_id.get_or_insert_with(|| id.to_string());
                    if let Some(c) = rest.strip_prefix("cname:") {
                        cname.get_or_insert_with(|| c.to_string());
                    }
                    if f.msid.is_none()
                        && let Some(m) = rest.strip_prefix("msid:")
                    {
                        f.msid = Some(m.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    if audio_lines != 1 {
        return Err(LabError::Sdp(format!(
            "expected one audio m-line, found {audio_lines}"
        )));
    }
    if f.ufrag.is_empty() || f.pwd.is_empty() || f.fingerprint.is_empty() {
        return Err(LabError::Sdp(
            "missing ICE credentials or fingerprint".into(),
        ));
    }
    if let (Some(id), Some(c)) = (ssrc_id, cname) {
        f.ssrc = Some((id, c));
    }
    Ok(f)
}

/// Makes a client's SDP digestible for str0m: CRLF line ends, `UDP/TLS/RTP/SAVPF` for the
/// `RTP/SAVPF` proto Twilio-era SDPs use, and (for offers) `a=setup:passive` in place of
/// `actpass` so that str0m takes the DTLS client role, as Twilio's gateway does.
pub fn prepare_remote(sdp: &str, is_offer: bool) -> Result<String, LabError> {
    if !sdp.trim_start().starts_with("v=0") {
        return Err(LabError::Sdp("not an SDP (no v=0 line)".into()));
    }
    let mut out = String::with_capacity(sdp.len() + 64);
    for line in sdp.lines().map(str::trim_end) {
        if line.is_empty() {
            continue;
        }
        let line = if let Some(m) = line.strip_prefix("m=") {
            let mut parts: Vec<&str> = m.split(' ').collect();
            if parts.len() > 2 && parts[2] == "RTP/SAVPF" {
                parts[2] = "UDP/TLS/RTP/SAVPF";
            }
            format!("m={}", parts.join(" "))
        } else if is_offer && line == "a=setup:actpass" {
            "a=setup:passive".to_string()
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push_str("\r\n");
    }
    Ok(out)
}

/// Checks a client's answer to the gateway's `actpass` offer: Twilio expects the client to
/// be the DTLS client (`a=setup:active`, as browsers answer), and fails the leg otherwise.
pub fn require_active_answer(answer: &str) -> Result<(), LabError> {
    let setup = answer
        .lines()
        .map(str::trim_end)
        .find_map(|l| l.strip_prefix("a=setup:"));
    match setup {
        Some("active") => Ok(()),
        Some(other) => Err(LabError::Sdp(format!(
            "the answer says a=setup:{other}; Twilio's gateway offers actpass and expects the \
             client to answer a=setup:active (the DTLS client)"
        ))),
        None => Err(LabError::Sdp(
            "the answer has no a=setup line; Twilio expects a=setup:active".into(),
        )),
    }
}

/// Renames the mid in an SDP (str0m's own mid ↔ the `audio` mid Twilio's offers carry).
pub fn rename_mid(sdp: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.lines().map(str::trim_end) {
        if line == format!("a=mid:{from}") {
            out.push_str(&format!("a=mid:{to}"));
        } else if let Some(group) = line.strip_prefix("a=group:BUNDLE") {
            let mids: Vec<&str> = group
                .split_whitespace()
                .map(|m| if m == from { to } else { m })
                .collect();
            out.push_str(&format!("a=group:BUNDLE {}", mids.join(" ")));
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    out
}

/// Session identity of the gateway's SDPs for one leg (`o=root <id> <version>`).
#[derive(Debug, Clone)]
pub struct GatewaySdp {
    pub ip: IpAddr,
    pub port: u16,
    pub session_id: u32,
    pub version: u32,
}

impl GatewaySdp {
    pub fn new(ip: IpAddr, port: u16) -> Self {
        let session_id = rand::random::<u32>() >> 1;
        GatewaySdp {
            ip,
            port,
            session_id,
            version: session_id,
        }
    }

    /// Writes str0m's SDP in Twilio's shape. `mid` overrides the mid (offers use `audio`).
    pub fn shape(&mut self, str0m_sdp: &str, mid: Option<&str>) -> Result<String, LabError> {
        let f = facts(str0m_sdp)?;
        let mid = mid.unwrap_or(&f.mid);
        let ip_kind = if self.ip.is_ipv4() { "IP4" } else { "IP6" };
        let setup = match f.setup.as_str() {
            "active" | "actpass" => f.setup.as_str(),
            other => {
                return Err(LabError::Sdp(format!(
                    "gateway must be DTLS client or offerer, str0m chose setup:{other}"
                )));
            }
        };
        let mut s = String::with_capacity(1500);
        let mut line = |l: String| {
            s.push_str(&l);
            s.push_str("\r\n");
        };
        line("v=0".into());
        line(format!(
            "o=root {} {} IN {ip_kind} {}",
            self.session_id, self.version, self.ip
        ));
        self.version = self.version.wrapping_add(1);
        line("s=Twilio Media Gateway".into());
        line(format!("c=IN {ip_kind} {}", self.ip));
        line("t=0 0".into());
        line(format!("a=group:BUNDLE {mid}"));
        line("a=ice-lite".into());
        line(format!(
            "m=audio {} RTP/SAVPF {}",
            self.port,
            f.payload_types.join(" ")
        ));
        for pt in &f.payload_types {
            if let Some((_, codec)) = f.rtpmaps.iter().find(|(p, _)| p == pt) {
                line(format!("a=rtpmap:{pt} {codec}"));
            }
        }
        for pt in &f.payload_types {
            let is_te = f
                .rtpmaps
                .iter()
                .any(|(p, c)| p == pt && c.to_ascii_lowercase().starts_with("telephone-event"));
            if is_te {
                line(format!("a=fmtp:{pt} 0-16"));
            }
        }
        line("a=ptime:20".into());
        line("a=maxptime:20".into());
        line(format!("a=ice-ufrag:{}", f.ufrag));
        line(format!("a=ice-pwd:{}", f.pwd));
        line(format!(
            "a=candidate:{} 1 UDP 2130706431 {} {} typ host",
            foundation(self.ip),
            self.ip,
            self.port
        ));
        if setup == "actpass" {
            // Twilio's offers also name an RTCP port (component 2, port + 1) that nobody
            // answers on: rtcp-mux is used. Clients must ignore it.
            line(format!(
                "a=candidate:{} 2 UDP 2130706430 {} {} typ host",
                foundation(self.ip),
                self.ip,
                self.port.wrapping_add(1)
            ));
        }
        line("a=end-of-candidates".into());
        line("a=connection:new".into());
        line(format!("a=setup:{setup}"));
        line(format!("a=fingerprint:{}", f.fingerprint));
        line(format!("a=mid:{mid}"));
        if let Some(msid) = &f.msid {
            line(format!("a=msid:{msid}"));
        }
        if let Some((id, _)) = &f.ssrc
            && let Some(msid) = &f.msid
        {
            let mut parts = msid.split_whitespace();
            let (stream, track) = (parts.next().unwrap_or("-"), parts.next().unwrap_or("-"));
            line(format!("a=ssrc:{id} msid:{stream} {track}"));
            line(format!("a=ssrc:{id} mslabel:{stream}"));
            line(format!("a=ssrc:{id} label:{track}"));
        }
        line("a=rtcp-mux".into());
        if let Some((id, cname)) = &f.ssrc {
            line(format!("a=ssrc:{id} cname:{cname}"));
        }
        line(format!("a={}", f.direction));
        Ok(s)
    }
}

/// Twilio's candidate foundation: `H` and the IPv4 address in hex (`H34d77fd3` = 52.215.127.211).
fn foundation(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("H{:08x}", u32::from(v4)),
        IpAddr::V6(v6) => format!(
            "H{:08x}",
            v6.octets()[12..]
                .iter()
                .fold(0u32, |a, b| (a << 8) | u32::from(*b))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED_ANSWER: &str = "v=0\r\no=root 1709099785 1709099785 IN IP4 172.18.229.113\r\ns=Twilio Media Gateway\r\nc=IN IP4 52.215.127.211\r\nt=0 0\r\na=group:BUNDLE 0\r\na=ice-lite\r\nm=audio 16626 RTP/SAVPF 111 0 126\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-16\r\na=ptime:20\r\na=maxptime:20\r\na=ice-ufrag:45e63bbd58637940164232cb5dbac951\r\na=ice-pwd:6819ab0e4374895e42e73438696f22ac\r\na=candidate:H34d77fd3 1 UDP 2130706431 52.215.127.211 16626 typ host\r\na=end-of-candidates\r\na=connection:new\r\na=setup:active\r\na=fingerprint:sha-256 6D:83:72:CE:7B:76:76:A2:FD:47:0D:DA:02:FF:51:83:C9:E4:34:5D:80:AA:89:4C:4B:F7:75:35:30:00:74:86\r\na=mid:0\r\na=msid:52bbb57e-aac8-4c9c-a178-b6a3fd7126aa 97ffcc1d-aea3-4e41-a330-ab172b326e33\r\na=ssrc:2019513664 msid:52bbb57e-aac8-4c9c-a178-b6a3fd7126aa 97ffcc1d-aea3-4e41-a330-ab172b326e33\r\na=ssrc:2019513664 mslabel:52bbb57e-aac8-4c9c-a178-b6a3fd7126aa\r\na=ssrc:2019513664 label:97ffcc1d-aea3-4e41-a330-ab172b326e33\r\na=rtcp-mux\r\na=ssrc:2019513664 cname:55a073f2-aafd-44a0-9afb-0ea879b49e59\r\na=sendrecv\r\n";

    #[test]
    fn foundation_is_the_ip_in_hex() {
        assert_eq!(foundation("52.215.127.211".parse().unwrap()), "H34d77fd3");
    }

    #[test]
    fn reshaping_the_captured_answer_reproduces_it() {
        let mut g = GatewaySdp {
            ip: "52.215.127.211".parse().unwrap(),
            port: 16626,
            session_id: 1709099785,
            version: 1709099785,
        };
        let shaped = g.shape(CAPTURED_ANSWER, None).unwrap();
        // Identical except the o= line's address (the capture shows a private one).
        let expected = CAPTURED_ANSWER.replace("IN IP4 172.18.229.113", "IN IP4 52.215.127.211");
        assert_eq!(shaped, expected);
    }

    #[test]
    fn prepare_remote_normalises() {
        let out = prepare_remote("v=0\nm=audio 9 RTP/SAVPF 0\na=setup:actpass\n", true).unwrap();
        assert_eq!(
            out,
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=setup:passive\r\n"
        );
        let out = prepare_remote("v=0\r\na=setup:actpass\r\n", false).unwrap();
        assert_eq!(out, "v=0\r\na=setup:actpass\r\n");
        assert!(prepare_remote("hello", true).is_err());
    }

    #[test]
    fn rename_mid_touches_mid_and_bundle_only() {
        let out = rename_mid(
            "a=group:BUNDLE x1\r\na=mid:x1\r\na=msid:x1 y\r\n",
            "x1",
            "audio",
        );
        assert_eq!(
            out,
            "a=group:BUNDLE audio\r\na=mid:audio\r\na=msid:x1 y\r\n"
        );
    }

    #[test]
    fn facts_refuse_bad_sdp() {
        assert!(facts("v=0\r\n").is_err());
        assert!(facts("v=0\r\nm=audio 1 X 0\r\nm=audio 2 X 0\r\n").is_err());
    }
}
