//! Edges, regions and the signaling URLs built from them (`lib/twilio/regions.ts`).

/// The edge used when none is given: Twilio's Global Low Latency routing.
pub const DEFAULT_EDGE: &str = "roaming";

/// Edge names Twilio publishes (any string is accepted; these are the known ones).
pub const KNOWN_EDGES: &[&str] = &[
    "sydney",
    "sao-paulo",
    "dublin",
    "frankfurt",
    "tokyo",
    "singapore",
    "ashburn",
    "umatilla",
    "roaming",
    "ashburn-ix",
    "san-jose-ix",
    "london-ix",
    "frankfurt-ix",
    "singapore-ix",
    "sydney-ix",
    "tokyo-ix",
    "sao-paulo-ix",
];

/// The signaling host for an edge: `voice-js.<edge>.twilio.com`.
pub fn edge_host(edge: &str) -> String {
    format!("voice-js.{edge}.twilio.com")
}

/// `wss://<host>/signal`, as the SDK builds every signaling URL.
pub fn signaling_url(host: &str) -> String {
    format!("wss://{host}/signal")
}

/// The region shortcode for a `connected.region` value (`regionShortcodes`).
pub fn region_shortcode(region: &str) -> Option<&'static str> {
    Some(match region {
        "ASIAPAC_SINGAPORE" => "sg1",
        "ASIAPAC_SYDNEY" => "au1",
        "ASIAPAC_TOKYO" => "jp1",
        "EU_FRANKFURT" => "de1",
        "EU_IRELAND" => "ie1",
        "SOUTH_AMERICA_SAO_PAULO" => "br1",
        "US_EAST_VIRGINIA" => "us1",
        "US_WEST_OREGON" => "us2",
        _ => return None,
    })
}

/// The edge a region shortcode belongs to (`regionToEdge`).
pub fn region_to_edge(shortcode: &str) -> Option<&'static str> {
    Some(match shortcode {
        "au1" => "sydney",
        "br1" => "sao-paulo",
        "ie1" => "dublin",
        "de1" => "frankfurt",
        "jp1" => "tokyo",
        "sg1" => "singapore",
        "us1" => "ashburn",
        "us2" => "umatilla",
        "gll" => "roaming",
        "us1-ix" => "ashburn-ix",
        "us2-ix" => "san-jose-ix",
        "ie1-ix" => "london-ix",
        "de1-ix" => "frankfurt-ix",
        "sg1-ix" => "singapore-ix",
        "au1-ix" => "sydney-ix",
        "jp1-ix" => "tokyo-ix",
        "us1-tnx" => "ashburn-ix",
        "us2-tnx" => "san-jose-ix",
        "ie1-tnx" => "london-ix",
        "sg1-tnx" => "singapore-ix",
        _ => return None,
    })
}

/// The edge the Device reports after `connected`: the frame's `edge`, else the region's
/// edge, else the raw region (`device.ts _onSignalingConnected`).
pub fn edge_for_connected(edge: Option<&str>, region: Option<&str>) -> Option<String> {
    if let Some(e) = edge {
        return Some(e.to_string());
    }
    let region = region?;
    let short = region_shortcode(region).unwrap_or(region);
    Some(
        region_to_edge(short)
            .map(String::from)
            .unwrap_or_else(|| region.to_string()),
    )
}

/// The IP a signaling URL names, when it names one (an IP literal, or `localhost`): before
/// the socket is open, the route media will take is the route to it.
pub fn signaling_ip(url: &str) -> Option<std::net::IpAddr> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return Some(std::net::Ipv4Addr::LOCALHOST.into());
    }
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ip_a_signaling_url_names() {
        use super::signaling_ip;
        assert_eq!(
            signaling_ip("wss://127.0.0.1:8443/signal"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            signaling_ip("wss://[::1]:8443/signal"),
            Some("::1".parse().unwrap())
        );
        assert_eq!(
            signaling_ip("wss://localhost:9/signal"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            signaling_ip("wss://voice-js.roaming.twilio.com/signal"),
            None
        );
        assert_eq!(signaling_ip(""), None);
    }

    use super::*;

    #[test]
    fn urls_and_region_mapping() {
        assert_eq!(
            signaling_url(&edge_host("roaming")),
            "wss://voice-js.roaming.twilio.com/signal"
        );
        assert_eq!(
            signaling_url("127.0.0.1:8443"),
            "wss://127.0.0.1:8443/signal"
        );
        assert_eq!(
            edge_for_connected(None, Some("EU_IRELAND")).as_deref(),
            Some("dublin")
        );
        assert_eq!(
            edge_for_connected(Some("ashburn"), Some("EU_IRELAND")).as_deref(),
            Some("ashburn")
        );
        assert_eq!(
            edge_for_connected(None, Some("MARS_1")).as_deref(),
            Some("MARS_1")
        );
        assert_eq!(edge_for_connected(None, None), None);
    }
}
