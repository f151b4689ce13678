//! What payment providers send: Standard Webhooks verification
//! (<https://www.standardwebhooks.com>) and the typed provider events of a
//! verified body.
//!
//! Verification never looks into the body: it only authenticates the raw
//! bytes as sent. A body is parsed into a [`ProviderEvent`] only after
//! [`verify`] / [`verify_any`] passed.
//!
//! Signed content: `{webhook-id}.{webhook-timestamp}.{body}`, HMAC-SHA256
//! keyed with the base64-decoded part of the `whsec_…` secret, sent base64
//! in `webhook-signature` as `v1,<sig>`; several space-separated entries may
//! be sent during a key rotation, and any `v1` entry that matches passes.
//! The timestamp must be within [`TOLERANCE_SECONDS`] of now, either side.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use domain::Usd;
use domain::ids::{ApplicationId, IdError, OrderId, PaymentId, RefundId, UserId};
use domain::order::{PaymentReport, RefundReport};
use domain::payment::PaymentSignal;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// How far the `webhook-timestamp` may be from now, either side (5 minutes).
pub const TOLERANCE_SECONDS: u64 = 5 * 60;
/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The longest `webhook-id` accepted (it is a de-duplication key).
pub const MAX_ID_LEN: usize = 256;
/// The signature version this verifier understands.
const VERSION: &str = "v1";
/// An HMAC-SHA256 tag is 32 bytes.
const SIGNATURE_LEN: usize = 32;

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

/// Why a webhook secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretError {
    #[error("a webhook secret must start with \"whsec_\"")]
    MissingPrefix,
    #[error("a webhook secret must be base64 after \"whsec_\"")]
    NotBase64,
    #[error("a webhook secret must not be empty")]
    Empty,
    #[error("a webhook secret's key cannot be used for HMAC-SHA256")]
    UnusableKey,
    #[error("the secret must be a JSON object with the keys echeck, card, bank and paylater")]
    NotAnObject,
}

/// A provider's signing key, from its `whsec_<base64>` form, keyed once
/// (cheap to use per request). The key bytes are never printed.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
    keyed: HmacSha256,
}

impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for WebhookSecret {}

impl WebhookSecret {
    /// Parse `whsec_<base64>` (standard alphabet; padding optional).
    /// Anything else is refused: no prefix, not base64, or an empty key.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let encoded = s
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = STANDARD_PAD_INDIFFERENT
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        Self::from_bytes(key)
    }

    /// A secret from raw key bytes (e.g. generated), refusing an empty key.
    pub fn from_bytes(key: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let key = key.into();
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        let keyed =
            <HmacSha256 as KeyInit>::new_from_slice(&key).map_err(|_| SecretError::UnusableKey)?;
        Ok(WebhookSecret { key, keyed })
    }

    /// The `whsec_<base64>` form.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// The MAC over the signed content, ready to finalize or verify.
    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl FromStr for WebhookSecret {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Self, SecretError> {
        WebhookSecret::parse(s)
    }
}

// ---------------------------------------------------------------------------
// Signing and verification
// ---------------------------------------------------------------------------

/// The `webhook-signature` header value (`v1,<base64>`) for a message: what
/// a provider sends. Used by the local provider simulator and the tests.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret
        .mac(id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{VERSION},{}", STANDARD.encode(tag))
}

/// Why a webhook was not authenticated (all answer 401).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    #[error("no webhook secret is configured for this provider")]
    NoSecret,
    #[error("the webhook-id header is missing or empty")]
    MissingId,
    #[error("the webhook-id header is longer than {max} characters")]
    IdTooLong { max: usize },
    #[error("the webhook-timestamp header is missing or empty")]
    MissingTimestamp,
    #[error("the webhook-timestamp header is not a whole number of seconds")]
    InvalidTimestamp,
    #[error("the webhook-timestamp is more than {tolerance} seconds in the past")]
    TimestampTooOld { tolerance: u64 },
    #[error("the webhook-timestamp is more than {tolerance} seconds in the future")]
    TimestampTooNew { tolerance: u64 },
    #[error("the webhook-signature header is missing or empty")]
    MissingSignature,
    #[error("the webhook-signature header holds no well-formed v1 signature")]
    MalformedSignature,
    #[error("the webhook-signature header holds no v1 signature")]
    UnsupportedVersion,
    #[error("no signature matches")]
    SignatureMismatch,
}

/// Verify a webhook against one secret. See [`verify_any`].
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    verify_any(
        std::slice::from_ref(secret),
        id,
        timestamp,
        signatures,
        body,
        now_unix,
    )
}

/// Verify a webhook against any of several secrets (rotation on our side):
/// the headers `webhook-id`, `webhook-timestamp`, `webhook-signature` as
/// received, the raw body, and the real time now in Unix seconds.
///
/// Checks, in order: the id is present (and not absurdly long); the
/// timestamp is a whole number of seconds within 5 minutes of now, either
/// side; the signature header holds at least one well-formed `v1` entry;
/// one of them matches under one of the secrets (constant-time comparison).
/// Entries of other versions are ignored; a malformed entry next to a
/// matching one does not spoil it.
pub fn verify_any(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    if id.is_empty() {
        return Err(VerifyError::MissingId);
    }
    if id.chars().count() > MAX_ID_LEN {
        return Err(VerifyError::IdTooLong { max: MAX_ID_LEN });
    }
    let sent_at = parse_timestamp(timestamp)?;
    if sent_at < now_unix && now_unix.abs_diff(sent_at) > TOLERANCE_SECONDS {
        return Err(VerifyError::TimestampTooOld {
            tolerance: TOLERANCE_SECONDS,
        });
    }
    if sent_at > now_unix && now_unix.abs_diff(sent_at) > TOLERANCE_SECONDS {
        return Err(VerifyError::TimestampTooNew {
            tolerance: TOLERANCE_SECONDS,
        });
    }

    let candidates = parse_signatures(signatures)?;
    let macs: Vec<HmacSha256> = secrets.iter().map(|s| s.mac(id, timestamp, body)).collect();
    // Every candidate is compared under every secret (no early exit on the
    // comparison itself; `verify_slice` is constant-time).
    let mut matched = false;
    for candidate in &candidates {
        for mac in &macs {
            matched |= mac.clone().verify_slice(candidate).is_ok();
        }
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

/// A whole, non-negative number of seconds: ASCII digits only (no sign,
/// spaces or fraction), as Standard Webhooks sends it.
fn parse_timestamp(s: &str) -> Result<i64, VerifyError> {
    if s.is_empty() {
        return Err(VerifyError::MissingTimestamp);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    s.parse::<i64>().map_err(|_| VerifyError::InvalidTimestamp)
}

/// The decoded `v1` signatures of a header. Entries are separated by
/// spaces; each is `<version>,<base64>`. Other versions are skipped.
fn parse_signatures(header: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    let entries: Vec<&str> = header.split(' ').filter(|e| !e.is_empty()).collect();
    if entries.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let mut v1 = Vec::new();
    let mut malformed = false;
    for entry in entries {
        let Some((version, encoded)) = entry.split_once(',') else {
            malformed = true;
            continue;
        };
        if version.is_empty() {
            malformed = true;
            continue;
        }
        if version != VERSION {
            continue;
        }
        match STANDARD_PAD_INDIFFERENT.decode(encoded) {
            Ok(bytes) if bytes.len() == SIGNATURE_LEN => v1.push(bytes),
            _ => malformed = true,
        }
    }
    match (v1.is_empty(), malformed) {
        (false, _) => Ok(v1),
        (true, true) => Err(VerifyError::MalformedSignature),
        (true, false) => Err(VerifyError::UnsupportedVersion),
    }
}

// ---------------------------------------------------------------------------
// Provider events
// ---------------------------------------------------------------------------

/// A verified provider webhook body, typed (the webhook contract: docs/api.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    /// `payment.processing`
    PaymentProcessing {
        payment_id: PaymentId,
        order_id: OrderId,
        provider_reference: Option<String>,
    },
    /// `payment.succeeded`: the amount and currency the provider confirms.
    /// The currency is kept as sent, so a non-USD confirmation reaches the
    /// domain and is flagged there rather than refused here.
    PaymentSucceeded {
        payment_id: PaymentId,
        order_id: OrderId,
        amount: Usd,
        currency: String,
        provider_reference: Option<String>,
    },
    /// `payment.failed`
    PaymentFailed {
        payment_id: PaymentId,
        order_id: OrderId,
        provider_reference: Option<String>,
    },
    /// `loan.agreement_completed` (Pay Later): names the payment.
    LoanAgreementCompleted {
        payment_id: PaymentId,
        order_id: OrderId,
    },
    /// `refund.succeeded`: names the refund part and the amount returned.
    RefundSucceeded {
        refund_id: RefundId,
        order_id: OrderId,
        amount: Usd,
    },
    /// `refund.failed`
    RefundFailed {
        refund_id: RefundId,
        order_id: OrderId,
    },
    /// `credit_line.approved`: the lender's limit for the application.
    CreditLineApproved {
        buyer_id: UserId,
        application_id: ApplicationId,
        limit: Usd,
    },
    /// `credit_line.declined`
    CreditLineDeclined {
        buyer_id: UserId,
        application_id: ApplicationId,
    },
}

/// Why a verified body is not a well-formed event (answers 400). `path`
/// names the field: `body` for the whole document, else e.g. `type`,
/// `data`, `data.amount`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventParseError {
    #[error("body: not valid JSON: {0}")]
    NotJson(String),
    #[error("{path}: is required")]
    Missing { path: String },
    #[error("{path}: must be {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
    #[error("type: unknown event type {0:?}")]
    UnknownType(String),
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl EventParseError {
    /// The field the error is about.
    pub fn path(&self) -> &str {
        match self {
            EventParseError::NotJson(_) => "body",
            EventParseError::UnknownType(_) => "type",
            EventParseError::Missing { path }
            | EventParseError::WrongType { path, .. }
            | EventParseError::Invalid { path, .. } => path,
        }
    }
}

/// The longest currency code kept (ISO 4217 codes are 3 letters).
const MAX_CURRENCY_LEN: usize = 16;

impl ProviderEvent {
    /// Every event type, as sent in `type`.
    pub const TYPES: [&'static str; 8] = [
        "payment.processing",
        "payment.succeeded",
        "payment.failed",
        "loan.agreement_completed",
        "refund.succeeded",
        "refund.failed",
        "credit_line.approved",
        "credit_line.declined",
    ];

    /// Parse a verified body: `{"type": "...", "data": {...}}`. Each field
    /// the type needs must be present and of its type (ids in their domain
    /// shape, amounts as decimal strings); an optional field may be absent
    /// or `null`. Other members (e.g. a top-level `timestamp`) are ignored.
    pub fn parse(body: &[u8]) -> Result<ProviderEvent, EventParseError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| EventParseError::NotJson(e.to_string()))?;
        let root = value.as_object().ok_or(EventParseError::WrongType {
            path: "body".to_owned(),
            expected: "a JSON object",
        })?;
        let kind = match root.get("type") {
            None | Some(Value::Null) => {
                return Err(EventParseError::Missing {
                    path: "type".to_owned(),
                });
            }
            Some(Value::String(s)) => s.as_str(),
            Some(_) => {
                return Err(EventParseError::WrongType {
                    path: "type".to_owned(),
                    expected: "a string",
                });
            }
        };
        if !Self::TYPES.contains(&kind) {
            return Err(EventParseError::UnknownType(
                kind.chars().take(100).collect(),
            ));
        }
        let data = match root.get("data") {
            None | Some(Value::Null) => {
                return Err(EventParseError::Missing {
                    path: "data".to_owned(),
                });
            }
            Some(Value::Object(m)) => Data(m),
            Some(_) => {
                return Err(EventParseError::WrongType {
                    path: "data".to_owned(),
                    expected: "an object",
                });
            }
        };
        let event = match kind {
            "payment.processing" => ProviderEvent::PaymentProcessing {
                payment_id: data.id("payment_id", PaymentId::parse)?,
                order_id: data.id("order_id", OrderId::parse)?,
                provider_reference: data.optional_str("provider_reference")?,
            },
            "payment.succeeded" => ProviderEvent::PaymentSucceeded {
                payment_id: data.id("payment_id", PaymentId::parse)?,
                order_id: data.id("order_id", OrderId::parse)?,
                amount: data.amount("amount")?,
                currency: data.currency("currency")?,
                provider_reference: data.optional_str("provider_reference")?,
            },
            "payment.failed" => ProviderEvent::PaymentFailed {
                payment_id: data.id("payment_id", PaymentId::parse)?,
                order_id: data.id("order_id", OrderId::parse)?,
                provider_reference: data.optional_str("provider_reference")?,
            },
            "loan.agreement_completed" => ProviderEvent::LoanAgreementCompleted {
                payment_id: data.id("payment_id", PaymentId::parse)?,
                order_id: data.id("order_id", OrderId::parse)?,
            },
            "refund.succeeded" => ProviderEvent::RefundSucceeded {
                refund_id: data.id("refund_id", RefundId::parse)?,
                order_id: data.id("order_id", OrderId::parse)?,
                amount: data.amount("amount")?,
            },
            "refund.failed" => ProviderEvent::RefundFailed {
                refund_id: data.id("refund_id", RefundId::parse)?,
                order_id: data.id("order_id", OrderId::parse)?,
            },
            "credit_line.approved" => ProviderEvent::CreditLineApproved {
                buyer_id: data.id("buyer_id", UserId::parse)?,
                application_id: data.id("application_id", ApplicationId::parse)?,
                limit: data.amount("limit")?,
            },
            "credit_line.declined" => ProviderEvent::CreditLineDeclined {
                buyer_id: data.id("buyer_id", UserId::parse)?,
                application_id: data.id("application_id", ApplicationId::parse)?,
            },
            other => return Err(EventParseError::UnknownType(other.to_owned())),
        };
        Ok(event)
    }

    /// The `type` this event was sent as.
    pub fn event_type(&self) -> &'static str {
        match self {
            ProviderEvent::PaymentProcessing { .. } => "payment.processing",
            ProviderEvent::PaymentSucceeded { .. } => "payment.succeeded",
            ProviderEvent::PaymentFailed { .. } => "payment.failed",
            ProviderEvent::LoanAgreementCompleted { .. } => "loan.agreement_completed",
            ProviderEvent::RefundSucceeded { .. } => "refund.succeeded",
            ProviderEvent::RefundFailed { .. } => "refund.failed",
            ProviderEvent::CreditLineApproved { .. } => "credit_line.approved",
            ProviderEvent::CreditLineDeclined { .. } => "credit_line.declined",
        }
    }

    /// The order the event is about (payment and refund events).
    pub fn order_id(&self) -> Option<&OrderId> {
        match self {
            ProviderEvent::PaymentProcessing { order_id, .. }
            | ProviderEvent::PaymentSucceeded { order_id, .. }
            | ProviderEvent::PaymentFailed { order_id, .. }
            | ProviderEvent::LoanAgreementCompleted { order_id, .. }
            | ProviderEvent::RefundSucceeded { order_id, .. }
            | ProviderEvent::RefundFailed { order_id, .. } => Some(order_id),
            ProviderEvent::CreditLineApproved { .. } | ProviderEvent::CreditLineDeclined { .. } => {
                None
            }
        }
    }

    /// What the domain takes from a payment event (`Order::apply_payment_report`):
    /// `None` for refund and credit-line events.
    pub fn payment_report(&self) -> Option<(OrderId, PaymentReport)> {
        let (payment_id, order_id, signal, confirmed, provider_reference) = match self {
            ProviderEvent::PaymentProcessing {
                payment_id,
                order_id,
                provider_reference,
            } => (
                payment_id,
                order_id,
                PaymentSignal::Processing,
                None,
                provider_reference.clone(),
            ),
            ProviderEvent::PaymentSucceeded {
                payment_id,
                order_id,
                amount,
                currency,
                provider_reference,
            } => (
                payment_id,
                order_id,
                PaymentSignal::Succeeded,
                Some((*amount, currency.clone())),
                provider_reference.clone(),
            ),
            ProviderEvent::PaymentFailed {
                payment_id,
                order_id,
                provider_reference,
            } => (
                payment_id,
                order_id,
                PaymentSignal::Failed,
                None,
                provider_reference.clone(),
            ),
            ProviderEvent::LoanAgreementCompleted {
                payment_id,
                order_id,
            } => (
                payment_id,
                order_id,
                PaymentSignal::AgreementCompleted,
                None,
                None,
            ),
            _ => return None,
        };
        Some((
            order_id.clone(),
            PaymentReport {
                payment_id: payment_id.clone(),
                signal,
                confirmed,
                provider_reference,
            },
        ))
    }

    /// What the domain takes from a refund event: `None` for the others.
    pub fn refund_report(&self) -> Option<(OrderId, RefundReport)> {
        match self {
            ProviderEvent::RefundSucceeded {
                refund_id,
                order_id,
                amount,
            } => Some((
                order_id.clone(),
                RefundReport {
                    refund_id: refund_id.clone(),
                    succeeded: true,
                    amount: Some(*amount),
                },
            )),
            ProviderEvent::RefundFailed {
                refund_id,
                order_id,
            } => Some((
                order_id.clone(),
                RefundReport {
                    refund_id: refund_id.clone(),
                    succeeded: false,
                    amount: None,
                },
            )),
            _ => None,
        }
    }
}

/// The `data` object, read field by field with paths for errors.
struct Data<'a>(&'a Map<String, Value>);

impl Data<'_> {
    fn path(field: &str) -> String {
        format!("data.{field}")
    }

    fn required_str(&self, field: &str) -> Result<&str, EventParseError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Err(EventParseError::Missing {
                path: Self::path(field),
            }),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(EventParseError::WrongType {
                path: Self::path(field),
                expected: "a string",
            }),
        }
    }

    fn optional_str(&self, field: &str) -> Result<Option<String>, EventParseError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(EventParseError::WrongType {
                path: Self::path(field),
                expected: "a string",
            }),
        }
    }

    fn id<T>(
        &self,
        field: &str,
        parse: impl FnOnce(String) -> Result<T, IdError>,
    ) -> Result<T, EventParseError> {
        let s = self.required_str(field)?;
        parse(s.to_owned()).map_err(|e| EventParseError::Invalid {
            path: Self::path(field),
            reason: e.to_string(),
        })
    }

    fn amount(&self, field: &str) -> Result<Usd, EventParseError> {
        let s = match self.0.get(field) {
            Some(Value::Number(_)) => {
                return Err(EventParseError::WrongType {
                    path: Self::path(field),
                    expected: "a decimal string such as \"1500.00\"",
                });
            }
            _ => self.required_str(field)?,
        };
        Usd::parse(s).map_err(|e| EventParseError::Invalid {
            path: Self::path(field),
            reason: e.to_string(),
        })
    }

    fn currency(&self, field: &str) -> Result<String, EventParseError> {
        let s = self.required_str(field)?;
        if s.is_empty() || s.chars().count() > MAX_CURRENCY_LEN {
            return Err(EventParseError::Invalid {
                path: Self::path(field),
                reason: format!("must be a currency code of 1 to {MAX_CURRENCY_LEN} characters"),
            });
        }
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(
            secret.map(|s| format!("{s:?}")),
            Ok("WebhookSecret(<redacted>)".to_owned())
        );
    }

    #[test]
    fn timestamp_must_be_plain_digits() {
        assert_eq!(parse_timestamp("1614265330"), Ok(1_614_265_330));
        for bad in [
            "+1614265330",
            "-1",
            " 1",
            "1.5",
            "1e9",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                Err(VerifyError::InvalidTimestamp),
                "{bad}"
            );
        }
    }

    #[test]
    fn signature_entries_are_classified() {
        assert_eq!(parse_signatures("  "), Err(VerifyError::MissingSignature));
        assert_eq!(
            parse_signatures("v2,abc v1a,xyz"),
            Err(VerifyError::UnsupportedVersion)
        );
        assert_eq!(
            parse_signatures("nocomma"),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            parse_signatures("v1,AAAA"),
            Err(VerifyError::MalformedSignature),
            "a tag of the wrong length"
        );
        assert_eq!(
            parse_signatures("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=").map(|v| v.len()),
            Ok(1)
        );
    }
}
