//! Standard Webhooks verification against the specification's published
//! test vector and hostile headers, and the typed provider events.
//!
//! The vector is the one in the standard-webhooks repository's library
//! tests (`libraries/python/tests/test_webhooks.py::test_sign_function`,
//! `libraries/javascript/src/webhook.test.ts` "sign function works").

use app::provider_events::{
    EventParseError, ProviderEvent, SecretError, TOLERANCE_SECONDS, VerifyError, WebhookSecret,
    sign, verify, verify_any,
};
use domain::Usd;
use domain::ids::{ApplicationId, OrderId, PaymentId, RefundId, UserId};
use domain::order::{PaymentReport, RefundReport};
use domain::payment::PaymentSignal;

const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_TS: i64 = 1_614_265_330;
const VECTOR_TS_STR: &str = "1614265330";
const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
/// A v1 signature from the upstream multi-signature test: well-formed, wrong.
const UPSTREAM_WRONG: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
/// The local stack's default secret (docs/api.md, the local stack).
const LOCAL_SECRET: &str = "whsec_bG9jYWwtd2ViaG9vay1zZWNyZXQ=";

fn secret(s: &str) -> WebhookSecret {
    WebhookSecret::parse(s).unwrap_or_else(|e| panic!("secret {s}: {e}"))
}

fn vector_secret() -> WebhookSecret {
    secret(VECTOR_SECRET)
}

fn verify_vector(signatures: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
    verify(
        &vector_secret(),
        VECTOR_ID,
        VECTOR_TS_STR,
        signatures,
        body,
        now,
    )
}

// --- the published vector -------------------------------------------------

#[test]
fn sign_reproduces_the_published_vector() {
    assert_eq!(
        sign(&vector_secret(), VECTOR_ID, VECTOR_TS, VECTOR_BODY),
        VECTOR_SIGNATURE
    );
}

#[test]
fn verify_accepts_the_published_vector() {
    assert_eq!(
        verify_vector(VECTOR_SIGNATURE, VECTOR_BODY, VECTOR_TS),
        Ok(())
    );
}

#[test]
fn upstream_multi_signature_header_passes() {
    // The upstream "multi sig payload is valid" header shape.
    let header = format!(
        "{UPSTREAM_WRONG} v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {VECTOR_SIGNATURE} {UPSTREAM_WRONG}"
    );
    assert_eq!(verify_vector(&header, VECTOR_BODY, VECTOR_TS), Ok(()));
}

#[test]
fn upstream_invalid_signature_is_refused() {
    // The upstream "invalid signature" case: the last character changed.
    assert_eq!(
        verify_vector(
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
            VECTOR_BODY,
            VECTOR_TS
        ),
        Err(VerifyError::SignatureMismatch)
    );
}

// --- hostile headers and bodies ------------------------------------------

#[test]
fn hostile_cases_are_refused_with_their_reason() {
    let other = secret("whsec_c29tZS1vdGhlci1wcm92aWRlci1zZWNyZXQ=");
    let now = VECTOR_TS;
    let sig_at = |ts: i64| sign(&vector_secret(), VECTOR_ID, ts, VECTOR_BODY);
    type Case<'a> = (
        &'a str,
        &'a WebhookSecret,
        String,
        String,
        &'a [u8],
        VerifyError,
    );
    let vs = vector_secret();
    let cases: Vec<Case<'_>> = vec![
        (
            "wrong secret",
            &other,
            VECTOR_TS_STR.into(),
            VECTOR_SIGNATURE.into(),
            VECTOR_BODY,
            VerifyError::SignatureMismatch,
        ),
        (
            "tampered body",
            &vs,
            VECTOR_TS_STR.into(),
            VECTOR_SIGNATURE.into(),
            br#"{"test": 2432232315}"#,
            VerifyError::SignatureMismatch,
        ),
        (
            "re-serialised body (whitespace differs)",
            &vs,
            VECTOR_TS_STR.into(),
            VECTOR_SIGNATURE.into(),
            br#"{"test":2432232314}"#,
            VerifyError::SignatureMismatch,
        ),
        (
            "stale: now - 301 s",
            &vs,
            (now - 301).to_string(),
            sig_at(now - 301),
            VECTOR_BODY,
            VerifyError::TimestampTooOld {
                tolerance: TOLERANCE_SECONDS,
            },
        ),
        (
            "future: now + 301 s",
            &vs,
            (now + 301).to_string(),
            sig_at(now + 301),
            VECTOR_BODY,
            VerifyError::TimestampTooNew {
                tolerance: TOLERANCE_SECONDS,
            },
        ),
        (
            "timestamp changed after signing",
            &vs,
            (now + 1).to_string(),
            VECTOR_SIGNATURE.into(),
            VECTOR_BODY,
            VerifyError::SignatureMismatch,
        ),
        (
            "empty header",
            &vs,
            VECTOR_TS_STR.into(),
            String::new(),
            VECTOR_BODY,
            VerifyError::MissingSignature,
        ),
        (
            "blank header",
            &vs,
            VECTOR_TS_STR.into(),
            "   ".into(),
            VECTOR_BODY,
            VerifyError::MissingSignature,
        ),
        (
            "v1, with nothing",
            &vs,
            VECTOR_TS_STR.into(),
            "v1,".into(),
            VECTOR_BODY,
            VerifyError::MalformedSignature,
        ),
        (
            "v1, with garbage base64",
            &vs,
            VECTOR_TS_STR.into(),
            "v1,!!not*base64??".into(),
            VECTOR_BODY,
            VerifyError::MalformedSignature,
        ),
        (
            "v1, with a truncated signature",
            &vs,
            VECTOR_TS_STR.into(),
            VECTOR_SIGNATURE[..8].into(),
            VECTOR_BODY,
            VerifyError::MalformedSignature,
        ),
        (
            "upstream short v1 signature",
            &vs,
            VECTOR_TS_STR.into(),
            "v1,dawfeoifkpqwoekfpqoekf".into(),
            VECTOR_BODY,
            VerifyError::MalformedSignature,
        ),
        (
            "no version at all",
            &vs,
            VECTOR_TS_STR.into(),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
            VECTOR_BODY,
            VerifyError::MalformedSignature,
        ),
        (
            "a v2 only header (the right bytes, another version)",
            &vs,
            VECTOR_TS_STR.into(),
            VECTOR_SIGNATURE.replacen("v1,", "v2,", 1),
            VECTOR_BODY,
            VerifyError::UnsupportedVersion,
        ),
        (
            "v1a is not v1",
            &vs,
            VECTOR_TS_STR.into(),
            VECTOR_SIGNATURE.replacen("v1,", "v1a,", 1),
            VECTOR_BODY,
            VerifyError::UnsupportedVersion,
        ),
        (
            "upper-case version",
            &vs,
            VECTOR_TS_STR.into(),
            VECTOR_SIGNATURE.replacen("v1,", "V1,", 1),
            VECTOR_BODY,
            VerifyError::UnsupportedVersion,
        ),
        (
            "non-numeric timestamp",
            &vs,
            "hello".into(),
            VECTOR_SIGNATURE.into(),
            VECTOR_BODY,
            VerifyError::InvalidTimestamp,
        ),
        (
            "signed timestamp",
            &vs,
            format!("+{VECTOR_TS_STR}"),
            VECTOR_SIGNATURE.into(),
            VECTOR_BODY,
            VerifyError::InvalidTimestamp,
        ),
        (
            "fractional timestamp",
            &vs,
            format!("{VECTOR_TS_STR}.0"),
            VECTOR_SIGNATURE.into(),
            VECTOR_BODY,
            VerifyError::InvalidTimestamp,
        ),
        (
            "timestamp in milliseconds",
            &vs,
            format!("{VECTOR_TS_STR}000"),
            VECTOR_SIGNATURE.into(),
            VECTOR_BODY,
            VerifyError::TimestampTooNew {
                tolerance: TOLERANCE_SECONDS,
            },
        ),
        (
            "empty timestamp",
            &vs,
            String::new(),
            VECTOR_SIGNATURE.into(),
            VECTOR_BODY,
            VerifyError::MissingTimestamp,
        ),
    ];
    for (name, key, ts, sigs, body, want) in cases {
        assert_eq!(
            verify(key, VECTOR_ID, &ts, &sigs, body, now),
            Err(want),
            "{name}"
        );
    }
}

#[test]
fn empty_or_overlong_id_is_refused() {
    let s = vector_secret();
    assert_eq!(
        verify(
            &s,
            "",
            VECTOR_TS_STR,
            VECTOR_SIGNATURE,
            VECTOR_BODY,
            VECTOR_TS
        ),
        Err(VerifyError::MissingId)
    );
    let long = "m".repeat(257);
    let sig = sign(&s, &long, VECTOR_TS, VECTOR_BODY);
    assert_eq!(
        verify(&s, &long, VECTOR_TS_STR, &sig, VECTOR_BODY, VECTOR_TS),
        Err(VerifyError::IdTooLong { max: 256 })
    );
}

#[test]
fn the_signed_id_is_bound() {
    assert_eq!(
        verify(
            &vector_secret(),
            "msg_other",
            VECTOR_TS_STR,
            VECTOR_SIGNATURE,
            VECTOR_BODY,
            VECTOR_TS
        ),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn tolerance_is_five_minutes_inclusive_either_side() {
    for now in [VECTOR_TS - 300, VECTOR_TS, VECTOR_TS + 300] {
        assert_eq!(
            verify_vector(VECTOR_SIGNATURE, VECTOR_BODY, now),
            Ok(()),
            "now = ts {:+}",
            now - VECTOR_TS
        );
    }
    assert_eq!(
        verify_vector(VECTOR_SIGNATURE, VECTOR_BODY, VECTOR_TS + 301),
        Err(VerifyError::TimestampTooOld {
            tolerance: TOLERANCE_SECONDS
        })
    );
    assert_eq!(
        verify_vector(VECTOR_SIGNATURE, VECTOR_BODY, VECTOR_TS - 301),
        Err(VerifyError::TimestampTooNew {
            tolerance: TOLERANCE_SECONDS
        })
    );
}

#[test]
fn several_signatures_pass_when_only_the_last_is_right() {
    let other = secret(LOCAL_SECRET);
    let wrong = sign(&other, VECTOR_ID, VECTOR_TS, VECTOR_BODY);
    let header = format!("{wrong} {UPSTREAM_WRONG} v2,abcd {VECTOR_SIGNATURE}");
    assert_eq!(verify_vector(&header, VECTOR_BODY, VECTOR_TS), Ok(()));
    // Extra spaces between entries are tolerated.
    let spaced = format!("  {wrong}   {VECTOR_SIGNATURE}  ");
    assert_eq!(verify_vector(&spaced, VECTOR_BODY, VECTOR_TS), Ok(()));
}

#[test]
fn a_garbled_entry_does_not_spoil_a_matching_one() {
    let header = format!("v1,!!garbage nocomma {VECTOR_SIGNATURE}");
    assert_eq!(verify_vector(&header, VECTOR_BODY, VECTOR_TS), Ok(()));
}

#[test]
fn several_wrong_signatures_are_refused() {
    let header = format!("{UPSTREAM_WRONG} {UPSTREAM_WRONG} v2,abcd");
    assert_eq!(
        verify_vector(&header, VECTOR_BODY, VECTOR_TS),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn verify_any_accepts_either_of_our_rotated_secrets() {
    let old = secret(LOCAL_SECRET);
    let current = vector_secret();
    let both = [old.clone(), current.clone()];
    for signer in [&old, &current] {
        let sig = sign(signer, VECTOR_ID, VECTOR_TS, VECTOR_BODY);
        assert_eq!(
            verify_any(
                &both,
                VECTOR_ID,
                VECTOR_TS_STR,
                &sig,
                VECTOR_BODY,
                VECTOR_TS
            ),
            Ok(())
        );
    }
    let retired = sign(&old, VECTOR_ID, VECTOR_TS, VECTOR_BODY);
    assert_eq!(
        verify_any(
            std::slice::from_ref(&current),
            VECTOR_ID,
            VECTOR_TS_STR,
            &retired,
            VECTOR_BODY,
            VECTOR_TS
        ),
        Err(VerifyError::SignatureMismatch)
    );
    assert_eq!(
        verify_any(
            &[],
            VECTOR_ID,
            VECTOR_TS_STR,
            VECTOR_SIGNATURE,
            VECTOR_BODY,
            VECTOR_TS
        ),
        Err(VerifyError::NoSecret)
    );
}

#[test]
fn sign_then_verify_round_trips_with_the_local_secret() {
    let s = secret(LOCAL_SECRET);
    let body = br#"{"type":"payment.processing","data":{"payment_id":"pay_1","order_id":"ord_1"}}"#;
    let sig = sign(&s, "msg_local_1", 1_700_000_000, body);
    assert!(sig.starts_with("v1,"));
    assert_eq!(
        verify(&s, "msg_local_1", "1700000000", &sig, body, 1_700_000_010),
        Ok(())
    );
}

// --- secrets ---------------------------------------------------------------

#[test]
fn secrets_parse_only_from_whsec_base64() {
    assert!(WebhookSecret::parse(VECTOR_SECRET).is_ok());
    assert!(WebhookSecret::parse(LOCAL_SECRET).is_ok());
    assert!(
        WebhookSecret::parse("whsec_bG9jYWwtd2ViaG9vay1zZWNyZXQ").is_ok(),
        "padding is optional"
    );
    let cases: [(&str, SecretError); 7] = [
        (
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            SecretError::MissingPrefix,
        ),
        ("", SecretError::MissingPrefix),
        (
            "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            SecretError::MissingPrefix,
        ),
        ("whsec_", SecretError::Empty),
        ("whsec_not base64!", SecretError::NotBase64),
        (
            "whsec_MfKQ9r8G-KYqrTwjUPD8ILPZIo2LaLaSw",
            SecretError::NotBase64,
        ),
        ("whsec_====", SecretError::NotBase64),
    ];
    for (input, want) in cases {
        assert_eq!(WebhookSecret::parse(input).err(), Some(want), "{input:?}");
    }
}

#[test]
fn secret_round_trips_through_its_whsec_form() {
    let s = vector_secret();
    assert_eq!(s.to_whsec(), VECTOR_SECRET);
    assert_eq!(VECTOR_SECRET.parse::<WebhookSecret>(), Ok(s));
    assert_eq!(
        WebhookSecret::from_bytes(Vec::new()).err(),
        Some(SecretError::Empty)
    );
}

// --- provider events -------------------------------------------------------

fn pay() -> PaymentId {
    PaymentId::parse("pay_01J9ZQ").unwrap_or_else(|e| panic!("{e}"))
}
fn ord() -> OrderId {
    OrderId::parse("ord_01J9ZQ").unwrap_or_else(|e| panic!("{e}"))
}
fn refund() -> RefundId {
    RefundId::parse("ref_pay_01J9ZQ_1").unwrap_or_else(|e| panic!("{e}"))
}
fn usd(s: &str) -> Usd {
    Usd::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn parse(body: &str) -> Result<ProviderEvent, EventParseError> {
    ProviderEvent::parse(body.as_bytes())
}

#[test]
fn every_event_type_parses() {
    let cases: Vec<(&str, ProviderEvent)> = vec![
        (
            r#"{"type":"payment.processing","data":{"payment_id":"pay_01J9ZQ","order_id":"ord_01J9ZQ"}}"#,
            ProviderEvent::PaymentProcessing {
                payment_id: pay(),
                order_id: ord(),
                provider_reference: None,
            },
        ),
        (
            r#"{"type":"payment.processing","data":{"payment_id":"pay_01J9ZQ","order_id":"ord_01J9ZQ","provider_reference":"ch_1"}}"#,
            ProviderEvent::PaymentProcessing {
                payment_id: pay(),
                order_id: ord(),
                provider_reference: Some("ch_1".into()),
            },
        ),
        (
            r#"{"type": "payment.succeeded",
                "data": {"payment_id": "pay_01J9ZQ", "order_id": "ord_01J9ZQ",
                         "amount": "1500.00", "currency": "USD",
                         "provider_reference": "ch_123"}}"#,
            ProviderEvent::PaymentSucceeded {
                payment_id: pay(),
                order_id: ord(),
                amount: usd("1500.00"),
                currency: "USD".into(),
                provider_reference: Some("ch_123".into()),
            },
        ),
        (
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_01J9ZQ","order_id":"ord_01J9ZQ","amount":"1500.5","currency":"EUR","provider_reference":null}}"#,
            ProviderEvent::PaymentSucceeded {
                payment_id: pay(),
                order_id: ord(),
                amount: usd("1500.50"),
                currency: "EUR".into(),
                provider_reference: None,
            },
        ),
        (
            r#"{"type":"payment.failed","data":{"payment_id":"pay_01J9ZQ","order_id":"ord_01J9ZQ"}}"#,
            ProviderEvent::PaymentFailed {
                payment_id: pay(),
                order_id: ord(),
                provider_reference: None,
            },
        ),
        (
            r#"{"type":"loan.agreement_completed","data":{"payment_id":"pay_01J9ZQ","order_id":"ord_01J9ZQ"}}"#,
            ProviderEvent::LoanAgreementCompleted {
                payment_id: pay(),
                order_id: ord(),
            },
        ),
        (
            r#"{"type":"refund.succeeded","data":{"refund_id":"ref_pay_01J9ZQ_1","order_id":"ord_01J9ZQ","amount":"200.00"}}"#,
            ProviderEvent::RefundSucceeded {
                refund_id: refund(),
                order_id: ord(),
                amount: usd("200.00"),
            },
        ),
        (
            r#"{"type":"refund.failed","data":{"refund_id":"ref_pay_01J9ZQ_1","order_id":"ord_01J9ZQ"}}"#,
            ProviderEvent::RefundFailed {
                refund_id: refund(),
                order_id: ord(),
            },
        ),
        (
            r#"{"type":"credit_line.approved","data":{"buyer_id":"buyer-1","application_id":"app_7","limit":"150000.00"}}"#,
            ProviderEvent::CreditLineApproved {
                buyer_id: UserId::parse("buyer-1").unwrap_or_else(|e| panic!("{e}")),
                application_id: ApplicationId::parse("app_7").unwrap_or_else(|e| panic!("{e}")),
                limit: usd("150000.00"),
            },
        ),
        (
            r#"{"type":"credit_line.declined","data":{"buyer_id":"buyer-1","application_id":"app_7"}}"#,
            ProviderEvent::CreditLineDeclined {
                buyer_id: UserId::parse("buyer-1").unwrap_or_else(|e| panic!("{e}")),
                application_id: ApplicationId::parse("app_7").unwrap_or_else(|e| panic!("{e}")),
            },
        ),
        (
            // Standard Webhooks payloads carry a top-level timestamp; other
            // members, in the envelope or in data, are ignored.
            r#"{"type":"refund.failed","timestamp":"2024-01-01T00:00:00Z","data":{"refund_id":"ref_pay_01J9ZQ_1","order_id":"ord_01J9ZQ","reason":"closed account"}}"#,
            ProviderEvent::RefundFailed {
                refund_id: refund(),
                order_id: ord(),
            },
        ),
    ];
    for (body, want) in cases {
        let got = parse(body);
        assert_eq!(got.as_ref(), Ok(&want), "{body}");
        if let Ok(event) = got {
            assert!(ProviderEvent::TYPES.contains(&event.event_type()));
            assert!(body.contains(event.event_type()), "{body}");
        }
    }
}

#[test]
fn malformed_bodies_are_refused_with_a_field_path() {
    // (body, expected error)
    let missing = |p: &str| EventParseError::Missing { path: p.into() };
    let wrong = |p: &str, expected: &'static str| EventParseError::WrongType {
        path: p.into(),
        expected,
    };
    let cases: Vec<(&str, EventParseError)> = vec![
        ("[1,2]", wrong("body", "a JSON object")),
        ("\"payment.succeeded\"", wrong("body", "a JSON object")),
        ("{}", missing("type")),
        (r#"{"type":null,"data":{}}"#, missing("type")),
        (r#"{"type":7,"data":{}}"#, wrong("type", "a string")),
        (
            r#"{"type":"payment.refunded","data":{}}"#,
            EventParseError::UnknownType("payment.refunded".into()),
        ),
        (
            r#"{"type":"PAYMENT.SUCCEEDED","data":{}}"#,
            EventParseError::UnknownType("PAYMENT.SUCCEEDED".into()),
        ),
        (r#"{"type":"payment.failed"}"#, missing("data")),
        (r#"{"type":"payment.failed","data":null}"#, missing("data")),
        (
            r#"{"type":"payment.failed","data":[]}"#,
            wrong("data", "an object"),
        ),
        (
            r#"{"type":"payment.failed","data":{"order_id":"ord_1"}}"#,
            missing("data.payment_id"),
        ),
        (
            r#"{"type":"payment.failed","data":{"payment_id":"pay_1"}}"#,
            missing("data.order_id"),
        ),
        (
            r#"{"type":"payment.failed","data":{"payment_id":12,"order_id":"ord_1"}}"#,
            wrong("data.payment_id", "a string"),
        ),
        (
            r#"{"type":"payment.processing","data":{"payment_id":"pay_1","order_id":"ord_1","provider_reference":5}}"#,
            wrong("data.provider_reference", "a string"),
        ),
        (
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","currency":"USD"}}"#,
            missing("data.amount"),
        ),
        (
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","amount":1500.00,"currency":"USD"}}"#,
            wrong("data.amount", "a decimal string such as \"1500.00\""),
        ),
        (
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","amount":"1500.00"}}"#,
            missing("data.currency"),
        ),
        (
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","amount":"1500.00","currency":840}}"#,
            wrong("data.currency", "a string"),
        ),
        (
            r#"{"type":"refund.succeeded","data":{"refund_id":"ref_1","order_id":"ord_1"}}"#,
            missing("data.amount"),
        ),
        (
            r#"{"type":"refund.failed","data":{"order_id":"ord_1"}}"#,
            missing("data.refund_id"),
        ),
        (
            r#"{"type":"credit_line.approved","data":{"buyer_id":"b","application_id":"app_1"}}"#,
            missing("data.limit"),
        ),
        (
            r#"{"type":"credit_line.declined","data":{"application_id":"app_1"}}"#,
            missing("data.buyer_id"),
        ),
        (
            r#"{"type":"credit_line.declined","data":{"buyer_id":"b","application_id":true}}"#,
            wrong("data.application_id", "a string"),
        ),
    ];
    for (body, want) in cases {
        let got = parse(body);
        assert_eq!(got, Err(want.clone()), "{body}");
        // The message names the field first.
        assert!(want.to_string().starts_with(want.path()), "{body}");
    }
}

#[test]
fn invalid_values_are_refused_with_a_field_path() {
    // (body, path) — the reason comes from the domain's parsers.
    let cases: [(&str, &str); 11] = [
        (
            r#"{"type":"payment.failed","data":{"payment_id":"ord_1","order_id":"ord_1"}}"#,
            "data.payment_id",
        ),
        (
            r#"{"type":"payment.failed","data":{"payment_id":"pay_1","order_id":"pay_1"}}"#,
            "data.order_id",
        ),
        (
            r#"{"type":"payment.failed","data":{"payment_id":"","order_id":"ord_1"}}"#,
            "data.payment_id",
        ),
        (
            r#"{"type":"payment.failed","data":{"payment_id":"pay_ 1","order_id":"ord_1"}}"#,
            "data.payment_id",
        ),
        (
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","amount":"-1.00","currency":"USD"}}"#,
            "data.amount",
        ),
        (
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","amount":"1.001","currency":"USD"}}"#,
            "data.amount",
        ),
        (
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","amount":"1e3","currency":"USD"}}"#,
            "data.amount",
        ),
        (
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","amount":"1500.00","currency":""}}"#,
            "data.currency",
        ),
        (
            r#"{"type":"refund.succeeded","data":{"refund_id":"pay_1","order_id":"ord_1","amount":"1.00"}}"#,
            "data.refund_id",
        ),
        (
            r#"{"type":"credit_line.approved","data":{"buyer_id":"b","application_id":"application-1","limit":"1.00"}}"#,
            "data.application_id",
        ),
        (
            r#"{"type":"credit_line.approved","data":{"buyer_id":"b","application_id":"app_1","limit":"lots"}}"#,
            "data.limit",
        ),
    ];
    for (body, path) in cases {
        match parse(body) {
            Err(e @ EventParseError::Invalid { .. }) => assert_eq!(e.path(), path, "{body}"),
            other => panic!("{body}: expected Invalid at {path}, got {other:?}"),
        }
    }
}

#[test]
fn non_json_bodies_are_refused() {
    for body in [
        "",
        "not json",
        "{\"type\":",
        "{\"type\":\"payment.failed\"} trailing",
    ] {
        match parse(body) {
            Err(e @ EventParseError::NotJson(_)) => assert_eq!(e.path(), "body"),
            other => panic!("{body:?}: expected NotJson, got {other:?}"),
        }
    }
    assert!(matches!(
        ProviderEvent::parse(&[0xff, 0xfe]),
        Err(EventParseError::NotJson(_))
    ));
}

#[test]
fn payment_events_map_onto_payment_reports() {
    let report = |signal, confirmed, reference: Option<&str>| {
        Some((
            ord(),
            PaymentReport {
                payment_id: pay(),
                signal,
                confirmed,
                provider_reference: reference.map(str::to_owned),
            },
        ))
    };
    let cases: Vec<(ProviderEvent, Option<(OrderId, PaymentReport)>)> = vec![
        (
            ProviderEvent::PaymentProcessing {
                payment_id: pay(),
                order_id: ord(),
                provider_reference: Some("ch_1".into()),
            },
            report(PaymentSignal::Processing, None, Some("ch_1")),
        ),
        (
            ProviderEvent::PaymentSucceeded {
                payment_id: pay(),
                order_id: ord(),
                amount: usd("1500.00"),
                currency: "EUR".into(),
                provider_reference: None,
            },
            report(
                PaymentSignal::Succeeded,
                Some((usd("1500.00"), "EUR".to_owned())),
                None,
            ),
        ),
        (
            ProviderEvent::PaymentFailed {
                payment_id: pay(),
                order_id: ord(),
                provider_reference: Some("ch_2".into()),
            },
            report(PaymentSignal::Failed, None, Some("ch_2")),
        ),
        (
            ProviderEvent::LoanAgreementCompleted {
                payment_id: pay(),
                order_id: ord(),
            },
            report(PaymentSignal::AgreementCompleted, None, None),
        ),
        (
            ProviderEvent::RefundFailed {
                refund_id: refund(),
                order_id: ord(),
            },
            None,
        ),
        (
            ProviderEvent::CreditLineDeclined {
                buyer_id: UserId::parse("b").unwrap_or_else(|e| panic!("{e}")),
                application_id: ApplicationId::parse("app_1").unwrap_or_else(|e| panic!("{e}")),
            },
            None,
        ),
    ];
    for (event, want) in cases {
        assert_eq!(event.payment_report(), want, "{}", event.event_type());
        if want.is_some() {
            assert_eq!(event.refund_report(), None, "{}", event.event_type());
            assert_eq!(event.order_id(), Some(&ord()));
        }
    }
}

#[test]
fn refund_events_map_onto_refund_reports() {
    let succeeded = ProviderEvent::RefundSucceeded {
        refund_id: refund(),
        order_id: ord(),
        amount: usd("200.00"),
    };
    assert_eq!(
        succeeded.refund_report(),
        Some((
            ord(),
            RefundReport {
                refund_id: refund(),
                succeeded: true,
                amount: Some(usd("200.00")),
            }
        ))
    );
    let failed = ProviderEvent::RefundFailed {
        refund_id: refund(),
        order_id: ord(),
    };
    assert_eq!(
        failed.refund_report(),
        Some((
            ord(),
            RefundReport {
                refund_id: refund(),
                succeeded: false,
                amount: None,
            }
        ))
    );
    for e in [&succeeded, &failed] {
        assert_eq!(e.payment_report(), None);
    }
    let approved = ProviderEvent::CreditLineApproved {
        buyer_id: UserId::parse("b").unwrap_or_else(|e| panic!("{e}")),
        application_id: ApplicationId::parse("app_1").unwrap_or_else(|e| panic!("{e}")),
        limit: usd("1000.00"),
    };
    assert_eq!(approved.refund_report(), None);
    assert_eq!(approved.order_id(), None);
}

#[test]
fn a_signed_simulator_body_verifies_then_parses() {
    // What the local provider simulator does, end to end at this layer.
    let s = secret(LOCAL_SECRET);
    let body = br#"{"type":"payment.succeeded","data":{"payment_id":"pay_01J9ZQ","order_id":"ord_01J9ZQ","amount":"1500.00","currency":"USD"}}"#;
    let now = 1_700_000_000;
    let sig = sign(&s, "msg_sim_1", now, body);
    assert_eq!(
        verify(&s, "msg_sim_1", &now.to_string(), &sig, body, now),
        Ok(())
    );
    let event = ProviderEvent::parse(body);
    assert_eq!(
        event.map(|e| e.payment_report()),
        Ok(Some((
            ord(),
            PaymentReport {
                payment_id: pay(),
                signal: PaymentSignal::Succeeded,
                confirmed: Some((usd("1500.00"), "USD".into())),
                provider_reference: None,
            }
        )))
    );
}
