//! Request bodies: strict JSON (unknown fields refused), then parsed into
//! domain values with a field error for each thing wrong (400). Business
//! rules (422) stay in the domain.

use chrono::{DateTime, NaiveDate, Utc};
use domain::contract::Terms;
use domain::contract::{Inspection, InspectionAgency, InspectionLocation, LineItem, TermsDraft};
use domain::coverage::{CoverageType, ReceivingAccount};
use domain::error::OrderError;
use domain::feedback::Rating;
use domain::ids::UserId;
use domain::money::{Currency, Usd};
use domain::order::{Counterparty, ShipmentDetails};
use domain::text::{CountryCode, DocumentRef, HttpsUrl, LongText, Sha256Hex, ShortText};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, FieldError};

/// Decode a JSON body strictly; an empty body reads as `{}`. A body is an
/// object, and every list in it a list of objects (line items, documents):
/// serde's derive would otherwise read an array positionally as a struct
/// (`[1]` as `{"version": 1}`, `["SGS", "china"]` as an inspection).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        // An unknown field named "" has an empty path, and a body that is
        // not JSON at all the path "?": the body is at fault.
        let field = if path == "." || path == "?" || path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        ApiError::bad_request(vec![FieldError::new(field, e.inner())])
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(vec![FieldError::new("body", e)]))?;
    // The body parsed once already; this second pass only walks its
    // shape, building nothing.
    let shape = serde::de::DeserializeSeed::deserialize(
        Shape {
            at: String::new(),
            role: Role::Body,
        },
        &mut serde_json::Deserializer::from_slice(bytes),
    );
    match shape {
        Ok(Found::Fine) => Ok(value),
        Ok(Found::ListItem(field)) => Err(ApiError::bad_request(vec![FieldError::new(
            field,
            "must be an object (lists hold objects only)",
        )])),
        Ok(Found::NotObject) | Err(_) => Err(ApiError::bad_request(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )])),
    }
}

/// What walking a body's shape found.
enum Found {
    Fine,
    /// The body itself is not an object.
    NotObject,
    /// The path of the first list element (in document order) that is not
    /// an object.
    ListItem(String),
}

/// Where a value sits, which decides what it may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The body itself: an object.
    Body,
    /// A field's value: anything; its lists hold objects.
    Field,
    /// A list element: an object.
    Element,
}

/// A value at path `at` in its role, walked without being built.
struct Shape {
    at: String,
    role: Role,
}

impl Shape {
    /// What a value that is not an object is, in this role.
    fn not_an_object(self) -> Found {
        match self.role {
            Role::Body => Found::NotObject,
            Role::Field => Found::Fine,
            Role::Element => Found::ListItem(self.at),
        }
    }
}

fn drain_map<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
        map.next_value::<serde::de::IgnoredAny>()?;
    }
    Ok(())
}

fn drain_seq<'de, A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de> serde::de::DeserializeSeed<'de> for Shape {
    type Value = Found;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Shape {
    type Value = Found;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    /// An object, in any role: each field's value checked in turn.
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let at = if self.at.is_empty() {
                key
            } else {
                format!("{}.{key}", self.at)
            };
            let found = map.next_value_seed(Shape {
                at,
                role: Role::Field,
            })?;
            if let Found::ListItem(p) = found {
                drain_map(map)?;
                return Ok(Found::ListItem(p));
            }
        }
        Ok(Found::Fine)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        if self.role != Role::Field {
            drain_seq(seq)?;
            return Ok(self.not_an_object());
        }
        let mut i = 0usize;
        while let Some(found) = seq.next_element_seed(Shape {
            at: format!("{}[{i}]", self.at),
            role: Role::Element,
        })? {
            if let Found::ListItem(p) = found {
                drain_seq(seq)?;
                return Ok(Found::ListItem(p));
            }
            i += 1;
        }
        Ok(Found::Fine)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Found, E> {
        Ok(self.not_an_object())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Found, E> {
        Ok(self.not_an_object())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Found, E> {
        Ok(self.not_an_object())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Found, E> {
        Ok(self.not_an_object())
    }
    fn visit_str<E>(self, _: &str) -> Result<Found, E> {
        Ok(self.not_an_object())
    }
    fn visit_unit<E>(self) -> Result<Found, E> {
        Ok(self.not_an_object())
    }
}

/// Collects field errors while parsing.
#[derive(Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    pub fn check<T, E: ToString>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(FieldError::new(field, e));
                None
            }
        }
    }

    pub fn fail(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok(value)` if nothing failed.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(ApiError::bad_request(self.0)),
        }
    }
}

/// A request body that parses into a domain value, every field error at
/// once.
pub trait Body: DeserializeOwned {
    type Parsed;
    fn parse(&self, f: &mut Fields) -> Option<Self::Parsed>;
}

/// Decode `body` strictly as `T` (400 on malformed JSON or unknown
/// fields), then parse it (400 with every field error).
pub fn parse_body<T: Body>(body: &[u8]) -> Result<T::Parsed, ApiError> {
    let decoded: T = decode(body)?;
    let mut f = Fields::default();
    let parsed = decoded.parse(&mut f);
    f.finish(parsed)
}

pub fn amount(f: &mut Fields, field: &str, s: &str) -> Option<Usd> {
    f.check(field, Usd::parse(s))
}

fn date(f: &mut Fields, field: &str, s: &str) -> Option<NaiveDate> {
    f.check(
        field,
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "must be a date YYYY-MM-DD"),
    )
}

pub fn instant(f: &mut Fields, field: &str, s: &str) -> Option<DateTime<Utc>> {
    f.check(
        field,
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| "must be an RFC 3339 time, e.g. 2027-01-31T10:00:00Z"),
    )
}

/// An optional RFC 3339 field: absent stays `None`.
pub fn optional_instant(
    f: &mut Fields,
    field: &str,
    s: Option<&String>,
) -> Option<Option<DateTime<Utc>>> {
    match s {
        Some(s) => instant(f, field, s).map(Some),
        None => Some(None),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    pub description: String,
    pub quantity: u32,
    pub unit_price: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionBody {
    pub agency: String,
    pub location: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentBody {
    pub name: String,
    pub url: String,
    pub sha256: String,
}

/// The contract terms, as created (with the counterparty) or amended.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsBody {
    #[serde(default)]
    pub supplier_id: Option<String>,
    #[serde(default)]
    pub buyer_id: Option<String>,
    pub items: Vec<ItemBody>,
    #[serde(default)]
    pub shipping_fee: Option<String>,
    pub currency: String,
    pub initial_payment: String,
    pub ship_by: String,
    pub quality_terms: String,
    pub destination_country: String,
    pub coverage: String,
    #[serde(default)]
    pub inspection: Option<InspectionBody>,
    #[serde(default)]
    pub contract_document: Option<DocumentBody>,
}

pub fn document(f: &mut Fields, field: &str, d: &DocumentBody) -> Option<DocumentRef> {
    let name = f.check(&format!("{field}.name"), ShortText::parse(&d.name));
    let url = f.check(&format!("{field}.url"), HttpsUrl::parse(&d.url));
    let sha256 = f.check(&format!("{field}.sha256"), Sha256Hex::parse(&d.sha256));
    Some(DocumentRef {
        name: name?,
        url: url?,
        sha256: sha256?,
    })
}

impl TermsBody {
    /// The terms, or every field error at once.
    pub fn parse(&self, f: &mut Fields) -> Option<TermsDraft> {
        f.check("currency", Currency::parse(&self.currency));
        let mut items = Vec::new();
        if self.items.is_empty() {
            f.fail("items", "at least one line item is required");
        }
        for (i, it) in self.items.iter().enumerate() {
            let description = f.check(
                &format!("items[{i}].description"),
                ShortText::parse(&it.description),
            );
            let unit_price = amount(f, &format!("items[{i}].unit_price"), &it.unit_price);
            if it.quantity == 0 {
                f.fail(&format!("items[{i}].quantity"), "must be greater than zero");
            }
            if let (Some(description), Some(unit_price)) = (description, unit_price) {
                items.push(LineItem {
                    description,
                    quantity: it.quantity,
                    unit_price,
                });
            }
        }
        let shipping_fee = match &self.shipping_fee {
            Some(s) => amount(f, "shipping_fee", s),
            None => Some(Usd::ZERO),
        };
        let initial_payment = amount(f, "initial_payment", &self.initial_payment);
        let ship_by = date(f, "ship_by", &self.ship_by);
        let quality_terms = f.check("quality_terms", LongText::parse(&self.quality_terms));
        let destination_country = f.check(
            "destination_country",
            CountryCode::parse(&self.destination_country),
        );
        let coverage = f.check(
            "coverage",
            match self.coverage.as_str() {
                "pre_shipment" => Ok(CoverageType::PreShipment),
                "post_delivery" => Ok(CoverageType::PostDelivery),
                _ => Err("must be pre_shipment or post_delivery"),
            },
        );
        let inspection = match &self.inspection {
            None => Some(None),
            Some(i) => {
                let agency = f.check(
                    "inspection.agency",
                    match i.agency.as_str() {
                        "SGS" => Ok(InspectionAgency::Sgs),
                        "BV" => Ok(InspectionAgency::Bv),
                        "TUV" => Ok(InspectionAgency::Tuv),
                        _ => Err("must be SGS, BV or TUV"),
                    },
                );
                let location = f.check(
                    "inspection.location",
                    match i.location.as_str() {
                        "china" => Ok(InspectionLocation::China),
                        "overseas" => Ok(InspectionLocation::Overseas),
                        _ => Err("must be china or overseas"),
                    },
                );
                Some(Some(Inspection {
                    agency: agency?,
                    location: location?,
                }))
            }
        };
        let contract_document = match &self.contract_document {
            None => Some(None),
            Some(d) => document(f, "contract_document", d).map(Some),
        };
        Some(TermsDraft {
            items,
            shipping_fee: shipping_fee?,
            initial_payment: initial_payment?,
            ship_by: ship_by?,
            quality_terms: quality_terms?,
            destination_country: destination_country?,
            coverage: coverage?,
            inspection: inspection?,
            contract_document: contract_document?,
        })
    }
}

pub fn user(f: &mut Fields, field: &str, s: &str) -> Option<UserId> {
    f.check(field, UserId::parse(s))
}

/// `POST /v1/orders`: exactly one counterparty (a buyer names the
/// supplier, a supplier drafting names the buyer) and the terms.
pub fn new_order(body: &[u8]) -> Result<(Counterparty, Terms), ApiError> {
    let body: TermsBody = decode(body)?;
    let mut f = Fields::default();
    let counterparty = match (&body.supplier_id, &body.buyer_id) {
        (Some(s), None) => user(&mut f, "supplier_id", s).map(Counterparty::Supplier),
        (None, Some(b)) => user(&mut f, "buyer_id", b).map(Counterparty::Buyer),
        _ => {
            f.fail(
                "supplier_id",
                "give exactly one of supplier_id (a buyer creating) or buyer_id (a supplier drafting)",
            );
            None
        }
    };
    let terms = body.parse(&mut f);
    let (counterparty, draft) = f.finish(counterparty.zip(terms))?;
    Ok((counterparty, Terms::new(draft).map_err(OrderError::from)?))
}

/// `POST /v1/orders/{id}/amend`: the terms alone (the parties of an order
/// cannot change).
pub fn amended_terms(body: &[u8]) -> Result<Terms, ApiError> {
    let body: TermsBody = decode(body)?;
    let mut f = Fields::default();
    if body.supplier_id.is_some() || body.buyer_id.is_some() {
        f.fail("supplier_id", "the parties of an order cannot be amended");
    }
    let draft = body.parse(&mut f);
    let draft = f.finish(draft)?;
    Ok(Terms::new(draft).map_err(OrderError::from)?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    pub version: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentBody {
    pub carrier: String,
    pub tracking_number: String,
    #[serde(default)]
    pub shipped_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryBody {
    #[serde(default)]
    pub customs_cleared_at: Option<String>,
    #[serde(default)]
    pub delivered_at: Option<String>,
}

impl Body for ShipmentBody {
    type Parsed = ShipmentDetails;

    fn parse(&self, f: &mut Fields) -> Option<ShipmentDetails> {
        let carrier = f.check("carrier", ShortText::parse(&self.carrier));
        let tracking = f.check("tracking_number", ShortText::parse(&self.tracking_number));
        let shipped_at = optional_instant(f, "shipped_at", self.shipped_at.as_ref());
        let ((carrier, tracking_number), shipped_at) = carrier.zip(tracking).zip(shipped_at)?;
        Some(ShipmentDetails {
            carrier,
            tracking_number,
            shipped_at,
        })
    }
}

/// Customs clearance and delivery, at least one of them.
impl Body for DeliveryBody {
    type Parsed = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

    fn parse(&self, f: &mut Fields) -> Option<Self::Parsed> {
        let customs = optional_instant(f, "customs_cleared_at", self.customs_cleared_at.as_ref());
        let delivered = optional_instant(f, "delivered_at", self.delivered_at.as_ref());
        if self.customs_cleared_at.is_none() && self.delivered_at.is_none() {
            f.fail(
                "customs_cleared_at",
                "give customs_cleared_at or delivered_at",
            );
        }
        customs.zip(delivered)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    pub rating: i64,
    pub comment: String,
}

impl Body for FeedbackBody {
    type Parsed = (Rating, LongText);

    fn parse(&self, f: &mut Fields) -> Option<(Rating, LongText)> {
        let rating = f.check("rating", Rating::parse(self.rating));
        let comment = f.check("comment", LongText::parse(&self.comment));
        Some((rating?, comment?))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    pub bank_name: String,
    pub account_name: String,
    pub account_number: String,
    pub swift: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitBody {
    pub limit: String,
    #[serde(default)]
    pub receiving_account: Option<AccountBody>,
}

impl Body for LimitBody {
    type Parsed = (Usd, Option<ReceivingAccount>);

    fn parse(&self, f: &mut Fields) -> Option<(Usd, Option<ReceivingAccount>)> {
        let limit = amount(f, "limit", &self.limit);
        let account = match &self.receiving_account {
            None => Some(None),
            Some(a) => {
                let bank_name = f.check(
                    "receiving_account.bank_name",
                    ShortText::parse(&a.bank_name),
                );
                let account_name = f.check(
                    "receiving_account.account_name",
                    ShortText::parse(&a.account_name),
                );
                let account_number = f.check(
                    "receiving_account.account_number",
                    ShortText::parse(&a.account_number),
                );
                let swift = f.check("receiving_account.swift", ShortText::parse(&a.swift));
                Some(Some(ReceivingAccount {
                    bank_name: bank_name?,
                    account_name: account_name?,
                    account_number: account_number?,
                    swift: swift?,
                }))
            }
        };
        Some((limit?, account?))
    }
}

/// `POST /v1/orders/{id}/payments/{pid}/resolution`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionBody {
    pub resolution: domain::event::FlagResolution,
}

/// `POST /v1/orders/{id}/refunds/{rid}/resolution`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundResolutionBody {
    pub resolution: domain::refund::RefundResolution,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    pub stage: String,
    pub method: String,
    #[serde(default)]
    pub card_brand: Option<String>,
    #[serde(default)]
    pub bank_country: Option<String>,
    #[serde(default)]
    pub account_type: Option<String>,
    #[serde(default)]
    pub term_months: Option<u32>,
}

/// The stage and the method with its details. Which brands, countries and
/// terms are accepted is the domain's rule (422), not decoding.
impl Body for PaymentBody {
    type Parsed = (domain::payment::Stage, domain::payment::PaymentMethod);

    fn parse(&self, f: &mut Fields) -> Option<Self::Parsed> {
        use domain::payment::{AccountType, CardBrand, PaymentMethod, Stage};
        let stage = f.check(
            "stage",
            match self.stage.as_str() {
                "initial" => Ok(Stage::Initial),
                "balance" => Ok(Stage::Balance),
                _ => Err("must be initial or balance"),
            },
        );
        let need = |f: &mut Fields, field: &str, v: &Option<String>| -> Option<String> {
            if v.is_none() {
                f.fail(field, "is required for this method");
            }
            v.clone()
        };
        let method = match self.method.as_str() {
            "credit_card" => {
                need(f, "card_brand", &self.card_brand).map(|b| PaymentMethod::CreditCard {
                    card_brand: CardBrand::parse(&b),
                })
            }
            "e_checking" => {
                let country = need(f, "bank_country", &self.bank_country)
                    .and_then(|c| f.check("bank_country", CountryCode::parse(&c)));
                let account = need(f, "account_type", &self.account_type).and_then(|a| {
                    f.check(
                        "account_type",
                        match a.as_str() {
                            "checking" => Ok(AccountType::Checking),
                            "savings" => Ok(AccountType::Savings),
                            _ => Err("must be checking or savings"),
                        },
                    )
                });
                country
                    .zip(account)
                    .map(|(bank_country, account_type)| PaymentMethod::ECheck {
                        bank_country,
                        account_type,
                    })
            }
            "telegraphic_transfer" => Some(PaymentMethod::TelegraphicTransfer),
            "pay_later" => match self.term_months {
                Some(term_months) => Some(PaymentMethod::PayLater { term_months }),
                None => {
                    f.fail("term_months", "is required for this method");
                    None
                }
            },
            _ => {
                f.fail(
                    "method",
                    "must be e_checking, credit_card, telegraphic_transfer or pay_later",
                );
                None
            }
        };
        Some((stage?, method?))
    }
}

/// Evidence attached to a dispute step: each document with its digest.
fn evidence(f: &mut Fields, docs: Option<&Vec<DocumentBody>>) -> Option<Vec<DocumentRef>> {
    let docs = docs.map(Vec::as_slice).unwrap_or_default();
    let parsed: Vec<Option<DocumentRef>> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| document(f, &format!("evidence[{i}]"), d))
        .collect();
    parsed.into_iter().collect()
}

fn optional_text(f: &mut Fields, field: &str, s: Option<&String>) -> Option<Option<LongText>> {
    match s {
        Some(s) => f.check(field, LongText::parse(s)).map(Some),
        None => Some(None),
    }
}

/// `POST /v1/orders/{id}/dispute`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenDisputeBody {
    pub reason: String,
    pub requested_refund: String,
    pub description: String,
    #[serde(default)]
    pub evidence: Option<Vec<DocumentBody>>,
}

impl Body for OpenDisputeBody {
    type Parsed = domain::order::OpenDispute;

    fn parse(&self, f: &mut Fields) -> Option<domain::order::OpenDispute> {
        use domain::dispute::DisputeReason;
        let reason = f.check(
            "reason",
            match self.reason.as_str() {
                "late_shipment" => Ok(DisputeReason::LateShipment),
                "quality" => Ok(DisputeReason::Quality),
                _ => Err("must be late_shipment or quality"),
            },
        );
        let requested_refund = amount(f, "requested_refund", &self.requested_refund);
        let description = f.check("description", LongText::parse(&self.description));
        let evidence = evidence(f, self.evidence.as_ref());
        Some(domain::order::OpenDispute {
            reason: reason?,
            requested_refund: requested_refund?,
            description: description?,
            evidence: evidence?,
        })
    }
}

/// `POST /v1/orders/{id}/dispute/responses`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeResponseBody {
    pub action: String,
    #[serde(default)]
    pub refund_amount: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub evidence: Option<Vec<DocumentBody>>,
}

impl Body for DisputeResponseBody {
    type Parsed = domain::order::DisputeResponse;

    fn parse(&self, f: &mut Fields) -> Option<domain::order::DisputeResponse> {
        use domain::dispute::ResponseAction;
        let action = match (self.action.as_str(), self.refund_amount.as_deref()) {
            ("offer", Some(a)) => amount(f, "refund_amount", a).map(ResponseAction::Offer),
            ("offer", None) => {
                f.fail("refund_amount", "is required for an offer");
                None
            }
            ("accept" | "reject" | "comment", Some(_)) => {
                f.fail("refund_amount", "is only given with an offer");
                None
            }
            ("accept", None) => Some(ResponseAction::Accept),
            ("reject", None) => Some(ResponseAction::Reject),
            ("comment", None) => Some(ResponseAction::Comment),
            _ => {
                f.fail("action", "must be accept, offer, reject or comment");
                None
            }
        };
        let message = optional_text(f, "message", self.message.as_ref());
        let evidence = evidence(f, self.evidence.as_ref());
        Some(domain::order::DisputeResponse {
            action: action?,
            message: message?,
            evidence: evidence?,
        })
    }
}

/// `POST /v1/orders/{id}/dispute/decision`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub outcome: String,
    #[serde(default)]
    pub refund_amount: Option<String>,
}

impl Body for DecisionBody {
    type Parsed = domain::dispute::Decision;

    fn parse(&self, f: &mut Fields) -> Option<domain::dispute::Decision> {
        use domain::dispute::Decision;
        match (self.outcome.as_str(), self.refund_amount.as_deref()) {
            ("supplier_at_fault", Some(a)) => {
                amount(f, "refund_amount", a).map(Decision::SupplierAtFault)
            }
            ("supplier_at_fault", None) => {
                f.fail("refund_amount", "is required when the supplier is at fault");
                None
            }
            ("claim_rejected", Some(_)) => {
                f.fail(
                    "refund_amount",
                    "is only given when the supplier is at fault",
                );
                None
            }
            ("claim_rejected", None) => Some(Decision::ClaimRejected),
            _ => {
                f.fail("outcome", "must be supplier_at_fault or claim_rejected");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field `decode` blames, or `None` when the body's shape is fine
    /// (decoding into a `Value`, which takes any JSON, isolates the check).
    fn blamed(body: &str) -> Option<String> {
        match decode::<serde_json::Value>(body.as_bytes()) {
            Ok(_) => None,
            Err(ApiError::BadRequest { errors, .. }) => errors.first().map(|e| e.field.clone()),
            Err(other) => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_body_must_be_an_object_whose_lists_hold_objects_only() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", None),
            ("  \n", None),
            ("{}", None),
            (
                r#"{"items":[{"a":1},{"b":[{"c":"d"}]}],"n":1,"s":"x","o":{"p":null}}"#,
                None,
            ),
            ("[]", Some("body")),
            ("[1]", Some("body")),
            ("1", Some("body")),
            ("\"x\"", Some("body")),
            ("null", Some("body")),
            ("true", Some("body")),
            (r#"{"items":[1]}"#, Some("items[0]")),
            (r#"{"items":[{}, 3]}"#, Some("items[1]")),
            (r#"{"items":[[]]}"#, Some("items[0]")),
            (r#"{"items":[null]}"#, Some("items[0]")),
            (r#"{"items":[{"x":["a"]}]}"#, Some("items[0].x[0]")),
            (r#"{"a":{"b":[{}, {"c":[true]}]}}"#, Some("a.b[1].c[0]")),
            // The first offender in document order; the rest is still read.
            (r#"{"z":[1],"a":[2],"m":{"k":[{}]}}"#, Some("z[0]")),
            // Not JSON, or trailing data.
            ("{", Some("body")),
            ("{} {}", Some("body")),
        ];
        for (body, want) in cases {
            assert_eq!(blamed(body).as_deref(), *want, "{body}");
        }
    }
}
