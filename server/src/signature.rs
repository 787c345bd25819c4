//! `X-Twilio-Signature`: how Twilio signs every webhook request it sends.
//!
//! The signed data is the full URL Twilio requested, followed by each POST parameter as
//! `name` + `value`, sorted by name; a name sent with several values contributes each
//! distinct value, sorted. The signature is base64(HMAC-SHA1(auth token, data)). This is
//! `twilio-node`'s `getExpectedTwilioSignature`/`validateRequest`, including its leniency
//! about the default port (`:443`/`:80`) being in the URL or not.

use std::cmp::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The request header that carries the signature.
pub const HEADER: &str = "x-twilio-signature";

/// The signature Twilio sends for a request to `url` with form parameters `params`.
pub fn expected_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut mac = hmac_sha1(auth_token);
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // JavaScript sorts strings by UTF-16 code unit; match it exactly.
    sorted.sort_by(|a, b| js_cmp(&a.0, &b.0).then_with(|| js_cmp(&a.1, &b.1)));
    sorted.dedup();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is what Twilio would send for `url` and `params`, comparing in
/// constant time. The URL is tried without its port and with the default port added, as
/// `twilio-node` does, because proxies differ on whether Twilio's URL had one.
pub fn is_valid(auth_token: &str, signature: &str, url: &str, params: &[(String, String)]) -> bool {
    let candidates = [without_port(url), with_default_port(url)];
    // Evaluate every candidate so the time taken does not depend on which one matched.
    candidates.iter().fold(false, |matched, candidate| {
        let expected = expected_signature(auth_token, candidate, params);
        matched | bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
    })
}

/// Lowercase hex SHA-256 of a request body, as Twilio puts it in `bodySHA256`.
pub fn body_sha256_hex(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Validates a request with a JSON body: Twilio signs the URL alone (which carries
/// `bodySHA256=<hex>`), and the body must hash to that value.
pub fn is_valid_with_body(auth_token: &str, signature: &str, url: &str, body: &[u8]) -> bool {
    let Some(claimed) = query_value(url, "bodySHA256") else {
        return false;
    };
    let body_ok = bool::from(body_sha256_hex(body).as_bytes().ct_eq(claimed.as_bytes()));
    is_valid(auth_token, signature, url, &[]) & body_ok
}

fn hmac_sha1(key: &str) -> Hmac<Sha1> {
    // HMAC accepts keys of any length, so this cannot fail.
    match Hmac::<Sha1>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

fn js_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A URL split as `twilio-node`'s `splitUrl` does it: without normalising anything, so
/// the path and query keep the exact characters Twilio signed.
struct UrlParts<'a> {
    scheme: &'a str, // including "://"
    user_info: &'a str,
    host: &'a str,
    port: &'a str, // including ':' when present
    rest: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let scheme_end = url.find("://")? + 3;
    let scheme = &url[..scheme_end];
    let mut scheme_chars = scheme[..scheme_end - 3].chars();
    let valid_scheme = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    if !valid_scheme {
        return None;
    }
    let after = &url[scheme_end..];
    let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(authority_len);
    let user_info_end = authority.rfind('@').map_or(0, |i| i + 1);
    let (user_info, host_and_port) = authority.split_at(user_info_end);
    // A colon only starts the port after the closing bracket of an IPv6 literal.
    let search_from = host_and_port.rfind(']').map_or(0, |i| i + 1);
    let (host, port) = match host_and_port[search_from..].find(':') {
        Some(i) => host_and_port.split_at(search_from + i),
        None => (host_and_port, ""),
    };
    Some(UrlParts {
        scheme,
        user_info,
        host,
        port,
        rest,
    })
}

fn without_port(url: &str) -> String {
    match split_url(url) {
        Some(p) => format!("{}{}{}{}", p.scheme, p.user_info, p.host, p.rest),
        None => url.to_string(),
    }
}

fn with_default_port(url: &str) -> String {
    match split_url(url) {
        Some(p) if p.port.is_empty() => {
            let port = if p.scheme.eq_ignore_ascii_case("https://") {
                ":443"
            } else {
                ":80"
            };
            format!("{}{}{}{}{}", p.scheme, p.user_info, p.host, port, p.rest)
        }
        _ => url.to_string(),
    }
}

fn query_value<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // The vectors of twilio-node's own validation tests (spec/validation.spec.js).
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    fn vector_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn published_form_vector() {
        let sig = expected_signature(TOKEN, URL, &vector_params());
        assert_eq!(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(is_valid(
            TOKEN,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            URL,
            &vector_params()
        ));
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut reversed = vector_params();
        reversed.reverse();
        assert!(is_valid(
            TOKEN,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            URL,
            &reversed
        ));
    }

    #[test]
    fn published_body_vector() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = body_sha256_hex(body);
        assert_eq!(
            hash,
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        let url = format!("{URL}&bodySHA256={hash}");
        assert_eq!(
            expected_signature(TOKEN, &url, &[]),
            "a9nBmqA0ju/hNViExpshrM61xv4="
        );
        assert!(is_valid_with_body(
            TOKEN,
            "a9nBmqA0ju/hNViExpshrM61xv4=",
            &url,
            body
        ));
        assert!(!is_valid_with_body(
            TOKEN,
            "a9nBmqA0ju/hNViExpshrM61xv4=",
            &url,
            b"{}"
        ));
        assert!(!is_valid_with_body(
            TOKEN,
            "a9nBmqA0ju/hNViExpshrM61xv4=",
            URL,
            body
        ));
    }

    #[test]
    fn changed_parameter_url_or_key_is_rejected() {
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let mut changed = vector_params();
        changed[2].1 = "1235".into();
        assert!(!is_valid(TOKEN, good, URL, &changed));
        let mut extra = vector_params();
        extra.push(("Extra".into(), String::new()));
        assert!(!is_valid(TOKEN, good, URL, &extra));
        assert!(!is_valid(
            TOKEN,
            good,
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &vector_params()
        ));
        assert!(!is_valid("12346", good, URL, &vector_params()));
        assert!(!is_valid(TOKEN, "", URL, &vector_params()));
    }

    #[test]
    fn default_port_either_way() {
        let sig = expected_signature(TOKEN, URL, &vector_params());
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(is_valid(TOKEN, &sig, with_port, &vector_params()));
        let sig_with_port = expected_signature(TOKEN, with_port, &vector_params());
        assert!(is_valid(TOKEN, &sig_with_port, URL, &vector_params()));
        // A non-default port is part of the URL Twilio used: it is tried as-is and without.
        let odd = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
        let sig_odd = expected_signature(TOKEN, odd, &vector_params());
        assert!(is_valid(TOKEN, &sig_odd, odd, &vector_params()));
        assert!(!is_valid(TOKEN, &sig_odd, with_port, &vector_params()));
    }

    #[test]
    fn url_splitting_keeps_everything_else() {
        assert_eq!(with_default_port("http://h/x?a=1"), "http://h:80/x?a=1");
        assert_eq!(with_default_port("https://u:p@h?a"), "https://u:p@h:443?a");
        assert_eq!(without_port("https://[::1]:8080/x"), "https://[::1]/x");
        assert_eq!(with_default_port("https://[::1]/x"), "https://[::1]:443/x");
        assert_eq!(without_port("not a url"), "not a url");
    }

    #[test]
    fn repeated_names_sign_each_distinct_value_sorted() {
        let a = pairs(&[("b", "2"), ("a", "y"), ("a", "x"), ("a", "y")]);
        let mut mac = hmac_sha1("k");
        mac.update(b"https://h/p");
        mac.update(b"axayb2");
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(expected_signature("k", "https://h/p", &a), expected);
    }

    #[test]
    fn names_sort_by_utf16_code_units_like_javascript() {
        // U+FF21 sorts before U+1F600 in UTF-8 byte order but after it in UTF-16
        // (U+1F600 is the surrogate pair D83D DE00).
        let p = pairs(&[("\u{FF21}", "2"), ("\u{1F600}", "1")]);
        let mut mac = hmac_sha1("k");
        mac.update("u\u{1F600}1\u{FF21}2".as_bytes());
        assert_eq!(
            expected_signature("k", "u", &p),
            STANDARD.encode(mac.finalize().into_bytes())
        );
    }
}
