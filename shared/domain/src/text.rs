//! Small validated text values: bounded free text, country codes, SHA-256
//! digests and document references.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must be an assigned ISO 3166-1 alpha-2 country code in upper case, e.g. \"US\"")]
    CountryCode,
    #[error("must be an https URL with a host, in ASCII (percent-encode anything else)")]
    HttpsUrl,
    #[error("must be 64 hexadecimal characters (a SHA-256 digest)")]
    Sha256,
}

/// Non-empty text of at most `MAX` characters, trimmed, without control
/// characters other than newline and tab.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    pub fn parse(s: &str) -> Result<Self, TextError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(TextError::Empty);
        }
        if t.chars().count() > MAX {
            return Err(TextError::TooLong { max: MAX });
        }
        if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(TextError::ControlCharacter);
        }
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> fmt::Debug for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<const MAX: usize> Serialize for Text<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A short label: carrier, tracking number, bank fields, names.
pub type ShortText = Text<200>;
/// A description, a comment, the quality terms.
pub type LongText = Text<2000>;

/// The officially assigned ISO 3166-1 alpha-2 codes (249), sorted.
pub const ISO_3166_ALPHA2: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// ISO 3166-1 alpha-2 code, upper case (`US`, `CN`, `DE`): one of the
/// officially assigned codes (`XX`, `ZZ`, `EU` are refused).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub const US: CountryCode = CountryCode(*b"US");
    pub const CN: CountryCode = CountryCode(*b"CN");

    pub fn parse(s: &str) -> Result<Self, TextError> {
        match s.as_bytes() {
            [a, b] if ISO_3166_ALPHA2.binary_search(&s).is_ok() => Ok(Self([*a, *b])),
            _ => Err(TextError::CountryCode),
        }
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A SHA-256 digest as 64 lower-case hex characters (upper case is accepted
/// and folded).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn parse(s: &str) -> Result<Self, TextError> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(TextError::Sha256)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Hex({})", self.0)
    }
}

impl Serialize for Sha256Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An `https` URL with a host, at most 2,048 characters of printable ASCII
/// (anything else percent-encoded): no `javascript:`, `data:`, `http:` or
/// relative references can be stored and later shown as a link.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HttpsUrl(String);

impl HttpsUrl {
    pub const MAX: usize = 2048;

    pub fn parse(s: &str) -> Result<Self, TextError> {
        if s.is_empty() {
            return Err(TextError::Empty);
        }
        if s.len() > Self::MAX {
            return Err(TextError::TooLong { max: Self::MAX });
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TextError::HttpsUrl);
        }
        let Some(rest) = s
            .get(..8)
            .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
            .map(|_| &s[8..])
        else {
            return Err(TextError::HttpsUrl);
        };
        // The authority ends at the first '/', '?' or '#'; its host (after
        // any userinfo, before any port) must not be empty.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host_port.split(':').next().unwrap_or_default(),
        };
        if host.is_empty() || authority.contains('\\') {
            return Err(TextError::HttpsUrl);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HttpsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpsUrl({:?})", self.0)
    }
}

impl Serialize for HttpsUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HttpsUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A document held elsewhere (an `https` URL) with the digest of its
/// content, so both parties can prove which document they mean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRef {
    pub name: ShortText,
    pub url: HttpsUrl,
    pub sha256: Sha256Hex,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_assigned_country_codes_parse() {
        assert_eq!(ISO_3166_ALPHA2.len(), 249);
        assert!(ISO_3166_ALPHA2.windows(2).all(|w| w[0] < w[1]), "sorted");
        for ok in ["US", "CN", "DE", "GB", "ZW", "AX"] {
            assert!(CountryCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["XX", "ZZ", "EU", "UK", "us", "USA", "", "U"] {
            assert_eq!(
                CountryCode::parse(bad),
                Err(TextError::CountryCode),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_https_urls_with_a_host_parse() {
        for ok in [
            "https://docs.example.com/contract.pdf",
            "HTTPS://example.com",
            "https://user@example.com:8443/a?b=c#d",
            "https://[2001:db8::1]/x",
            "https://example.com/%E4%BD%A0",
        ] {
            assert!(HttpsUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "http://example.com/a",
            "data:text/html,<b>x</b>",
            "https://",
            "https:///path",
            "https://:443/x",
            "//example.com/a",
            "/relative/path",
            "s3://bucket/key",
            "https://exa mple.com",
            "https://example.com/你",
            "https://ex\\ample.com",
            "",
        ] {
            assert!(HttpsUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert_eq!(
            HttpsUrl::parse(&long),
            Err(TextError::TooLong { max: HttpsUrl::MAX })
        );
    }
}
