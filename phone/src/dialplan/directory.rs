//! The contacts list and handsets directory: names for numbers, extensions for handsets.

use serde::{Deserialize, Serialize};

use super::e164::{Country, Normalized, normalize};

/// One entry of the directory (`[[contacts]]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    /// What to call: a phone number (any form the home country understands) or
    /// `client:<identity>` for another handset.
    pub number: String,
    /// A short number that dials this contact (for handsets: their extension).
    #[serde(default)]
    pub extension: Option<String>,
}

/// Names for numbers, looked up in both directions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    contacts: Vec<Contact>,
    /// Each contact's number in canonical form (E.164 or `client:…`), same order.
    canonical: Vec<String>,
}

/// The canonical form used to compare numbers: E.164 where possible, `client:<id>` for
/// handsets, otherwise the string as given.
pub fn canonical_number(number: &str, country: &Country) -> String {
    let trimmed = number.trim();
    if let Some(identity) = trimmed.strip_prefix("client:") {
        return format!("client:{identity}");
    }
    let compact: String = trimmed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    match normalize(&compact, country) {
        Normalized::E164(n) => n,
        Normalized::Local(_) => trimmed.to_string(),
    }
}

impl Directory {
    pub fn new(contacts: Vec<Contact>, country: &Country) -> Directory {
        let canonical = contacts
            .iter()
            .map(|c| canonical_number(&c.number, country))
            .collect();
        Directory {
            contacts,
            canonical,
        }
    }

    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// The contact for a caller or callee number (`+1415…`, `client:kitchen` or a bare identity).
    pub fn lookup(&self, number: &str, country: &Country) -> Option<&Contact> {
        let wanted = canonical_number(number, country);
        let as_client = format!("client:{}", number.trim());
        self.contacts
            .iter()
            .zip(&self.canonical)
            .find(|(_, canon)| **canon == wanted || **canon == as_client)
            .map(|(contact, _)| contact)
    }

    /// The contact dialed by an extension.
    pub fn by_extension(&self, extension: &str) -> Option<&Contact> {
        self.contacts
            .iter()
            .find(|c| c.extension.as_deref() == Some(extension))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_match_any_written_form() {
        let us = Country::by_iso("US").expect("US");
        let dir = Directory::new(
            vec![
                Contact {
                    name: "Mum".into(),
                    number: "(415) 555-0100".into(),
                    extension: None,
                },
                Contact {
                    name: "Kitchen".into(),
                    number: "client:kitchen".into(),
                    extension: Some("101".into()),
                },
            ],
            us,
        );
        assert_eq!(
            dir.lookup("+14155550100", us).map(|c| c.name.as_str()),
            Some("Mum")
        );
        assert_eq!(
            dir.lookup("4155550100", us).map(|c| c.name.as_str()),
            Some("Mum")
        );
        assert_eq!(
            dir.lookup("client:kitchen", us).map(|c| c.name.as_str()),
            Some("Kitchen")
        );
        assert_eq!(
            dir.lookup("kitchen", us).map(|c| c.name.as_str()),
            Some("Kitchen")
        );
        assert!(dir.lookup("+14155550199", us).is_none());
        assert_eq!(
            dir.by_extension("101").map(|c| c.number.as_str()),
            Some("client:kitchen")
        );
    }
}
