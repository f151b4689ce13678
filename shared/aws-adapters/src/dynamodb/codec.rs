//! Items as the table holds them, and the conversions between them and
//! the domain's values: keys, money in cents, instants in microseconds,
//! documents deflated.

use app::error::StoreError;
use app::idempotency::{IdemKey, IdemRecord, IdemState, PayloadHash, StoredResponse};
use app::ports::StoreResult;
use app::table::{self, CREDIT_SK, IDEM_SK, ORDER_SK};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::coverage::{AssuranceLimit, ReceivingAccount};
use domain::event::DomainEvent;
use domain::ids::{ApplicationId, UserId};
use domain::payment::{CreditLine, CreditLineStatus};
use domain::{Order, Usd};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::*;

/// An order item's attributes besides its document, which is stored
/// deflated in [`DOC`] (see [`order_item`]).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct OrderItem {
    pub(super) pk: String,
    pub(super) sk: String,
    /// The order's revision: what every conditional write checks.
    pub(super) revision: u64,
    pub(super) buyer_pk: String,
    pub(super) supplier_pk: String,
    pub(super) list_sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) dispute_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) dispute_sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) due_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) due_sk: Option<String>,
}

impl OrderItem {
    fn of(order: &Order) -> Self {
        let keys = table::order_index_keys(order);
        let (dispute_pk, dispute_sk) = keys
            .dispute
            .map_or((None, None), |(p, s)| (Some(p), Some(s)));
        let (due_pk, due_sk) = keys.due.map_or((None, None), |(p, s)| (Some(p), Some(s)));
        OrderItem {
            pk: table::order_pk(order.id()),
            sk: ORDER_SK.to_owned(),
            revision: order.revision(),
            buyer_pk: keys.buyer_pk,
            supplier_pk: keys.supplier_pk,
            list_sk: keys.list_sk,
            dispute_pk,
            dispute_sk,
            due_pk,
            due_sk,
        }
    }
}

/// What a listing index entry holds (KEYS_ONLY): the table's and the
/// index's keys.
#[derive(Debug, Deserialize)]
pub(super) struct ListingKeys {
    pub(super) pk: String,
    #[serde(default)]
    pub(super) list_sk: Option<String>,
    #[serde(default)]
    pub(super) dispute_sk: Option<String>,
}

/// A domain event as history and, until published, in the outbox. The
/// event document is kept as JSON text: it is read back whole, never
/// queried by its fields.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EventItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) outbox_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) outbox_sk: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LimitItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) supplier_id: UserId,
    pub(super) limit_cents: i64,
    pub(super) reserved_cents: i64,
    /// limit − reserved; negative when the limit was lowered below it.
    pub(super) available_cents: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) receiving_account: Option<ReceivingAccount>,
}

/// One feedback a supplier received, listed newest first; it names
/// neither the order nor the buyer.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FeedbackItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) rating: domain::feedback::Rating,
    pub(super) comment: domain::text::LongText,
    pub(super) at: Timestamp,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct RatingItem {
    #[serde(default)]
    pub(super) count: u64,
    #[serde(default)]
    pub(super) sum: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CreditItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) buyer_id: UserId,
    pub(super) application_id: ApplicationId,
    pub(super) status: CreditLineStatus,
    pub(super) limit_cents: i64,
    pub(super) reserved_cents: i64,
    pub(super) available_cents: i64,
    pub(super) applied_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) decided_at: Option<Timestamp>,
}

/// An idempotency record's attributes; a completed request's response
/// body is stored deflated in [`BODY`] (see [`idem_item`]).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IdemItem {
    pub(super) pk: String,
    pub(super) sk: String,
    /// `in_progress` or `complete`, for conditions.
    pub(super) state: String,
    pub(super) payload_hash: String,
    /// Expiry in microseconds, for conditions (exact).
    pub(super) expires_at_us: i64,
    /// Expiry in epoch seconds: the table's TTL attribute.
    pub(super) expires_at: i64,
    /// The completed response's status and content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) content_type: Option<String>,
    /// Headers a replay carries too (`Location` of a 201).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) headers: Vec<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct DedupItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) provider: Provider,
    pub(super) event_id: String,
    pub(super) expires_at_us: i64,
    pub(super) expires_at: i64,
}

// ---- conversions -------------------------------------------------------------------

pub(super) fn to_item<T: Serialize>(value: &T) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))
}

pub(super) fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("decode: {e}")))
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn cents(u: Usd) -> i64 {
    i64::try_from(u.cents()).unwrap_or(i64::MAX)
}

pub(super) fn usd(c: i64) -> StoreResult<Usd> {
    u64::try_from(c)
        .ok()
        .and_then(|c| Usd::from_cents(c).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("amount {c} cents")))
}

pub(super) fn micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

/// TTL in whole seconds, rounded up so TTL never deletes a live record.
pub(super) fn ttl_seconds(t: Timestamp) -> i64 {
    let secs = t.timestamp();
    if t.timestamp_subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(table::PK.to_owned(), s(pk)), (table::SK.to_owned(), s(sk))])
}

/// The attribute holding an order's document: its JSON, deflated. Orders
/// are read and written whole and never queried by their fields, and a
/// completed order's JSON (about 2 KB, 3 KB with a dispute) deflates to
/// well under the 1 KB that one write unit covers — every order write is
/// transactional and so charged twice.
pub(super) const DOC: &str = "doc_z";
/// The attribute holding a completed request's response body, deflated.
pub(super) const BODY: &str = "body_z";
/// A stored document inflates to at most this (an item is at most 400 KB).
pub(super) const INFLATE_LIMIT: usize = 4 << 20;

pub(super) fn deflated(json: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(miniz_oxide::deflate::compress_to_vec(json, 6)))
}

pub(super) fn inflated(item: &mut Item, attribute: &str) -> StoreResult<Vec<u8>> {
    match item.remove(attribute) {
        Some(AttributeValue::B(b)) => {
            miniz_oxide::inflate::decompress_to_vec_with_limit(b.as_ref(), INFLATE_LIMIT)
                .map_err(|e| StoreError::Corrupt(format!("{attribute}: {e}")))
        }
        _ => Err(StoreError::Corrupt(format!("{attribute} missing"))),
    }
}

/// Remove every `null` member of the objects in `v`: an absent optional
/// field reads back as `None` (the contract suite's `commit_ok` reads every
/// order it commits back and compares).
pub(super) fn without_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(without_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(without_nulls),
        _ => {}
    }
}

/// An order's item as the table holds it: its keys, index attributes and
/// revision, and the document deflated in `doc_z`.
pub fn order_item(order: &Order) -> StoreResult<Item> {
    let mut item = to_item(&OrderItem::of(order))?;
    let encode = |e: serde_json::Error| StoreError::Corrupt(format!("encode order: {e}"));
    let mut doc = serde_json::to_value(order).map_err(encode)?;
    without_nulls(&mut doc);
    let json = serde_json::to_vec(&doc).map_err(encode)?;
    item.insert(DOC.to_owned(), deflated(&json));
    Ok(item)
}

pub(super) fn order_from(mut item: Item) -> StoreResult<Order> {
    let json = inflated(&mut item, DOC)?;
    serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(format!("decode order: {e}")))
}

pub(super) fn limit_from(item: Item) -> StoreResult<AssuranceLimit> {
    let l: LimitItem = from_item(item)?;
    Ok(AssuranceLimit::from_parts(
        l.supplier_id,
        usd(l.limit_cents)?,
        usd(l.reserved_cents)?,
        l.receiving_account,
    ))
}

pub(super) fn credit_from(item: Item) -> StoreResult<CreditLine> {
    let c: CreditItem = from_item(item)?;
    Ok(CreditLine::from_parts(
        c.buyer_id,
        c.application_id,
        c.status,
        usd(c.limit_cents)?,
        usd(c.reserved_cents)?,
        c.applied_at,
        c.decided_at,
    ))
}

pub(super) fn idem_item(record: &IdemRecord) -> StoreResult<Item> {
    let (state, response) = match &record.state {
        IdemState::InProgress => ("in_progress", None),
        IdemState::Complete { response } => ("complete", Some(response)),
    };
    let mut item = to_item(&IdemItem {
        pk: table::idem_pk(&record.key),
        sk: IDEM_SK.to_owned(),
        state: state.to_owned(),
        payload_hash: record.payload_hash.as_str().to_owned(),
        expires_at_us: micros(record.expires_at),
        expires_at: ttl_seconds(record.expires_at),
        status: response.map(|r| r.status),
        content_type: response.map(|r| r.content_type.clone()),
        headers: response.map(|r| r.headers.clone()).unwrap_or_default(),
    })?;
    if let Some(r) = response {
        item.insert(BODY.to_owned(), deflated(r.body.as_bytes()));
    }
    Ok(item)
}

pub(super) fn idem_from(mut item: Item) -> StoreResult<IdemRecord> {
    let body = match item.get(BODY) {
        Some(_) => Some(inflated(&mut item, BODY)?),
        None => None,
    };
    let i: IdemItem = from_item(item)?;
    let key =
        i.pk.strip_prefix("IDEM#")
            .ok_or_else(|| StoreError::Corrupt(format!("idempotency key {}", i.pk)))?;
    let headers = i.headers;
    let state = match (i.state.as_str(), i.status, i.content_type, body) {
        ("in_progress", ..) => IdemState::InProgress,
        ("complete", Some(status), Some(content_type), Some(body)) => IdemState::Complete {
            response: StoredResponse {
                status,
                content_type,
                body: String::from_utf8(body)
                    .map_err(|e| StoreError::Corrupt(format!("{BODY}: {e}")))?,
                headers,
            },
        },
        (other, ..) => {
            return Err(StoreError::Corrupt(format!(
                "idempotency record in state {other} without its response"
            )));
        }
    };
    let expires_at = chrono::DateTime::from_timestamp_micros(i.expires_at_us)
        .ok_or_else(|| StoreError::Corrupt(format!("expires_at_us {}", i.expires_at_us)))?;
    Ok(IdemRecord {
        key: IdemKey::from_stored(key.to_owned()),
        payload_hash: PayloadHash::from_stored(i.payload_hash),
        state,
        expires_at,
    })
}

pub(super) fn event_json(e: &DomainEvent) -> StoreResult<String> {
    serde_json::to_string(e).map_err(|err| StoreError::Corrupt(format!("event: {err}")))
}

pub(super) fn event_from(item: EventItem) -> StoreResult<DomainEvent> {
    serde_json::from_str(&item.event).map_err(|e| StoreError::Corrupt(format!("event: {e}")))
}

pub(super) fn version_value(v: u64) -> Item {
    HashMap::from([(":v".to_owned(), n(i64::try_from(v).unwrap_or(i64::MAX)))])
}

pub(super) fn credit_item(line: &CreditLine) -> CreditItem {
    CreditItem {
        pk: table::buyer_pk(&line.buyer_id),
        sk: CREDIT_SK.to_owned(),
        buyer_id: line.buyer_id.clone(),
        application_id: line.application_id.clone(),
        status: line.status(),
        limit_cents: cents(line.limit()),
        reserved_cents: cents(line.reserved()),
        available_cents: cents(line.limit()) - cents(line.reserved()),
        applied_at: line.applied_at,
        decided_at: line.decided_at,
    }
}
