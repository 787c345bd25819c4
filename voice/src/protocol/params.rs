//! Custom call parameters as they travel: `encodeURIComponent` pairs joined with `&`
//! (outgoing `invite.twilio.params`) and the SDK's `queryToJson` for incoming `Params`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// JavaScript's `encodeURIComponent`.
pub fn encode_uri_component(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// The `params` string of an outgoing `invite`: each key and value encoded, joined by `&`,
/// in the order given (the SDK iterates its `customParameters` Map in insertion order).
pub fn encode_params<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                encode_uri_component(k.as_ref()),
                encode_uri_component(v.as_ref())
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The SDK's `queryToJson`: split on `&`, then on `=` keeping only the first two pieces (a
/// value containing `=` is truncated, as in the SDK), `+` → space, percent-decode. Pairs
/// with an empty key are dropped; a later duplicate key wins. Undecodable escapes are kept
/// as written instead of failing the whole call (the SDK would throw).
pub fn query_to_pairs(query: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&') {
        let mut parts = pair.split('=');
        let key = parts.next().unwrap_or_default();
        let raw_value = parts.next().unwrap_or_default();
        if key.is_empty() {
            continue;
        }
        let spaced = raw_value.replace('+', "%20");
        let value = match percent_decode_str(&spaced).decode_utf8() {
            Ok(v) => v.into_owned(),
            Err(_) => raw_value.to_string(),
        };
        if let Some(existing) = out.iter_mut().find(|(k, _)| k == key) {
            existing.1 = value;
        } else {
            out.push((key.to_string(), value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_encode_uri_component() {
        assert_eq!(encode_uri_component("foo + bar"), "foo%20%2B%20bar");
        assert_eq!(
            encode_uri_component("a-b_c.d!e~f*g'h(i)j"),
            "a-b_c.d!e~f*g'h(i)j"
        );
        assert_eq!(encode_uri_component("+12025550100"), "%2B12025550100");
        assert_eq!(encode_uri_component("ünï"), "%C3%BCn%C3%AF");
        assert_eq!(
            encode_params(&[("To", "+1 202"), ("a&b", "c=d")]),
            "To=%2B1%20202&a%26b=c%3Dd"
        );
        assert_eq!(encode_params::<&str, &str>(&[]), "");
    }

    #[test]
    fn decodes_like_query_to_json() {
        let p = query_to_pairs("name=foo+bar&touser=john&x=a=b&=skip&empty&u=%C3%BC");
        assert_eq!(
            p,
            vec![
                ("name".into(), "foo bar".into()),
                ("touser".into(), "john".into()),
                ("x".into(), "a".into()),
                ("empty".into(), "".into()),
                ("u".into(), "ü".into()),
            ]
        );
        assert!(query_to_pairs("").is_empty());
        assert_eq!(
            query_to_pairs("bad=%E0%A4%A"),
            vec![("bad".into(), "%E0%A4%A".into())]
        );
    }

    proptest::proptest! {
        #[test]
        fn round_trips(pairs in proptest::collection::vec(("[a-zA-Z0-9_]{1,8}", "\\PC{0,12}"), 0..6)) {
            let mut dedup: Vec<(String, String)> = Vec::new();
            for (k, v) in pairs {
                if let Some(e) = dedup.iter_mut().find(|(ek, _)| *ek == k) { e.1 = v; } else { dedup.push((k, v)); }
            }
            let encoded = encode_params(&dedup);
            proptest::prop_assert_eq!(query_to_pairs(&encoded), dedup);
        }
    }
}
