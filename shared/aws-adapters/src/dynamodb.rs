//! The DynamoDB adapter: every store port over one table (key design in
//! `app::table`). Aggregate loads are strongly consistent reads; every write
//! is conditional; an order commit is one `TransactWriteItems` whose
//! cancellation reasons are mapped to typed conflicts. Transaction conflicts
//! are retried a bounded number of times with the same client request token.
//! Items are mapped through serde (`serde_dynamo`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use app::effects::{Net, effects_of};
use app::error::{ConflictKind, StoreError};
use app::idempotency::{IdemKey, IdemRecord, IdemState, PayloadHash, StoredResponse};
use app::page::{Cursor, CursorPosition, Page, PageRequest};
use app::ports::{
    Commit, CreditLines, DeadlineIndex, Dedup, DedupMark, Idempotency, Listing, LoadRequest,
    Loaded, OrderQueries, OrderStore, Outbox, OutboxEntry, StoreResult, SupplierLimits,
};
use app::table::{
    self, CREDIT_SK, DEDUP_SK, DUE_PARTITION, EVENT_SK_PREFIX, IDEM_SK, LIMIT_SK, ORDER_SK,
    OUTBOX_PARTITION, RATING_SK, SCHEMA,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Get, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TimeToLiveSpecification, TransactGetItem, TransactWriteItem, Update,
};
use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::coverage::{AssuranceLimit, ReceivingAccount};
use domain::event::DomainEvent;
use domain::feedback::RatingSummary;
use domain::ids::{ApplicationId, OrderId, UserId};
use domain::payment::{CreditLine, CreditLineStatus};
use domain::{Order, Usd};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::transient::is_transient;

type Item = HashMap<String, AttributeValue>;

/// How often a transaction that hit a conflict (not a failed condition) is
/// tried, and the first pause between tries (doubling).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(20),
        }
    }
}

/// Every store port over one DynamoDB table. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    retry: RetryPolicy,
}

// ---- items ------------------------------------------------------------------------

/// An order item's attributes besides its document, which is stored
/// deflated in [`DOC`] (see [`order_item`]).
#[derive(Debug, Serialize, Deserialize)]
struct OrderItem {
    pk: String,
    sk: String,
    /// The order's revision: what every conditional write checks.
    revision: u64,
    buyer_pk: String,
    supplier_pk: String,
    list_sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dispute_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dispute_sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_sk: Option<String>,
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
struct ListingKeys {
    pk: String,
    #[serde(default)]
    list_sk: Option<String>,
    #[serde(default)]
    dispute_sk: Option<String>,
}

/// A domain event as history and, until published, in the outbox. The
/// event document is kept as JSON text: it is read back whole, never
/// queried by its fields.
#[derive(Debug, Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox_sk: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LimitItem {
    pk: String,
    sk: String,
    supplier_id: UserId,
    limit_cents: i64,
    reserved_cents: i64,
    /// limit − reserved; negative when the limit was lowered below it.
    available_cents: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receiving_account: Option<ReceivingAccount>,
}

/// One feedback a supplier received, listed newest first; it names
/// neither the order nor the buyer.
#[derive(Debug, Serialize, Deserialize)]
struct FeedbackItem {
    pk: String,
    sk: String,
    rating: domain::feedback::Rating,
    comment: domain::text::LongText,
    at: Timestamp,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RatingItem {
    #[serde(default)]
    count: u64,
    #[serde(default)]
    sum: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CreditItem {
    pk: String,
    sk: String,
    buyer_id: UserId,
    application_id: ApplicationId,
    status: CreditLineStatus,
    limit_cents: i64,
    reserved_cents: i64,
    available_cents: i64,
    applied_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decided_at: Option<Timestamp>,
}

/// An idempotency record's attributes; a completed request's response
/// body is stored deflated in [`BODY`] (see [`idem_item`]).
#[derive(Debug, Serialize, Deserialize)]
struct IdemItem {
    pk: String,
    sk: String,
    /// `in_progress` or `complete`, for conditions.
    state: String,
    payload_hash: String,
    /// Expiry in microseconds, for conditions (exact).
    expires_at_us: i64,
    /// Expiry in epoch seconds: the table's TTL attribute.
    expires_at: i64,
    /// The completed response's status and content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    /// Headers a replay carries too (`Location` of a 201).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    headers: Vec<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DedupItem {
    pk: String,
    sk: String,
    provider: Provider,
    event_id: String,
    expires_at_us: i64,
    expires_at: i64,
}

// ---- conversions -------------------------------------------------------------------

fn to_item<T: Serialize>(value: &T) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))
}

fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("decode: {e}")))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn cents(u: Usd) -> i64 {
    i64::try_from(u.cents()).unwrap_or(i64::MAX)
}

fn usd(c: i64) -> StoreResult<Usd> {
    u64::try_from(c)
        .ok()
        .and_then(|c| Usd::from_cents(c).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("amount {c} cents")))
}

fn micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

/// TTL in whole seconds, rounded up so TTL never deletes a live record.
fn ttl_seconds(t: Timestamp) -> i64 {
    let secs = t.timestamp();
    if t.timestamp_subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(table::PK.to_owned(), s(pk)), (table::SK.to_owned(), s(sk))])
}

/// The attribute holding an order's document: its JSON, deflated. Orders
/// are read and written whole and never queried by their fields, and a
/// completed order's JSON (about 2 KB, 3 KB with a dispute) deflates to
/// well under the 1 KB that one write unit covers — every order write is
/// transactional and so charged twice.
const DOC: &str = "doc_z";
/// The attribute holding a completed request's response body, deflated.
const BODY: &str = "body_z";
/// A stored document inflates to at most this (an item is at most 400 KB).
const INFLATE_LIMIT: usize = 4 << 20;

fn deflated(json: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(miniz_oxide::deflate::compress_to_vec(json, 6)))
}

fn inflated(item: &mut Item, attribute: &str) -> StoreResult<Vec<u8>> {
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
fn without_nulls(v: &mut serde_json::Value) {
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

fn order_from(mut item: Item) -> StoreResult<Order> {
    let json = inflated(&mut item, DOC)?;
    serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(format!("decode order: {e}")))
}

fn limit_from(item: Item) -> StoreResult<AssuranceLimit> {
    let l: LimitItem = from_item(item)?;
    Ok(AssuranceLimit::from_parts(
        l.supplier_id,
        usd(l.limit_cents)?,
        usd(l.reserved_cents)?,
        l.receiving_account,
    ))
}

fn credit_from(item: Item) -> StoreResult<CreditLine> {
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

fn idem_item(record: &IdemRecord) -> StoreResult<Item> {
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

fn idem_from(mut item: Item) -> StoreResult<IdemRecord> {
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

fn event_json(e: &DomainEvent) -> StoreResult<String> {
    serde_json::to_string(e).map_err(|err| StoreError::Corrupt(format!("event: {err}")))
}

fn event_from(item: EventItem) -> StoreResult<DomainEvent> {
    serde_json::from_str(&item.event).map_err(|e| StoreError::Corrupt(format!("event: {e}")))
}

// ---- errors ------------------------------------------------------------------------

/// Map an SDK error: a failed condition is a conflict of `kind`; throttling,
/// 5xx, timeouts and transport failures are retryable; the rest is a bug.
fn map_err<E>(err: SdkError<E>, kind: ConflictKind) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se)
            if se.err().code() == Some("ConditionalCheckFailedException") =>
        {
            StoreError::Conflict(kind)
        }
        SdkError::ServiceError(se)
            if se.err().code() == Some("ValidationException")
                && se.err().message().is_some_and(is_size_message) =>
        {
            StoreError::TooLarge
        }
        _ if is_transient(&err) => StoreError::Unavailable(Box::new(err)),
        _ => StoreError::Backend(Box::new(err)),
    }
}

/// DynamoDB's words for an item over 400 KB ("Item size has exceeded the
/// maximum allowed size", "Item size to update has exceeded …").
fn is_size_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("item size") && m.contains("exceeded")
}

/// What to do after a failed transaction.
enum TxOutcome {
    Fail(StoreError),
    Retry(StoreError),
}

fn classify_transaction(
    err: SdkError<TransactWriteItemsError>,
    kinds: &[ConflictKind],
) -> TxOutcome {
    if let SdkError::ServiceError(se) = &err
        && let TransactWriteItemsError::TransactionCanceledException(tc) = se.err()
    {
        let reasons = tc.cancellation_reasons();
        let failed = reasons
            .iter()
            .position(|r| r.code() == Some("ConditionalCheckFailed"));
        if let Some(i) = failed {
            return TxOutcome::Fail(StoreError::Conflict(
                kinds.get(i).copied().unwrap_or(ConflictKind::Version),
            ));
        }
        // An item the transaction would make larger than 400 KB: not a
        // conflict, and no retry changes it.
        if reasons.iter().any(|r| {
            r.code() == Some("ValidationError") && r.message().is_some_and(is_size_message)
        }) {
            return TxOutcome::Fail(StoreError::TooLarge);
        }
        if reasons.is_empty() {
            // No reasons given: treat as a failed condition on the order.
            return TxOutcome::Fail(StoreError::Conflict(ConflictKind::Version));
        }
        return TxOutcome::Retry(StoreError::Unavailable(Box::new(err)));
    }
    match map_err(err, ConflictKind::Version) {
        e @ StoreError::Unavailable(_) => TxOutcome::Retry(e),
        e => TxOutcome::Fail(e),
    }
}

static TOKEN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A client request token for one logical transaction (reused by its
/// retries, so a retry of a transaction that did commit is a no-op).
fn request_token(seed: &str) -> String {
    let n = TOKEN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update(n.to_be_bytes());
    h.update(std::process::id().to_be_bytes());
    h.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .to_be_bytes(),
    );
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---- the store ---------------------------------------------------------------------

/// One transact-write item and which conflict its failed condition means.
struct TxItem {
    item: TransactWriteItem,
    kind: ConflictKind,
}

fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("request: {e}"))
}

impl DynamoStore {
    /// The store on `table`, with a client built from the shared SDK
    /// configuration.
    pub fn from_config(config: &aws_types::SdkConfig, table: impl Into<Arc<str>>) -> Self {
        DynamoStore::new(Client::new(config), table)
    }

    pub fn new(client: Client, table: impl Into<Arc<str>>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client the store calls.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Create the table from [`SCHEMA`] if it does not exist (the local
    /// stack and tests; in AWS the SAM template creates it), and enable TTL.
    pub async fn create_table_if_missing(&self) -> StoreResult<()> {
        let exists = self
            .client
            .describe_table()
            .table_name(&*self.table)
            .send()
            .await;
        match exists {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(map_err(e, ConflictKind::AlreadyExists)),
        }
        let mut req = self
            .client
            .create_table()
            .table_name(&*self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(SCHEMA.partition_key, SCHEMA.sort_key)?));
        for a in SCHEMA.key_attributes() {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(a)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_err)?,
            );
        }
        for g in SCHEMA.indexes {
            let mut projection = Projection::builder();
            projection = projection.projection_type(if g.project_all {
                ProjectionType::All
            } else {
                ProjectionType::KeysOnly
            });
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(g.name)
                .projection(projection.build());
            for k in key_schema(g.partition_key, g.sort_key)? {
                gsi = gsi.key_schema(k);
            }
            req = req.global_secondary_indexes(gsi.build().map_err(build_err)?);
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(map_err(e, ConflictKind::AlreadyExists)),
        }
        self.client
            .update_time_to_live()
            .table_name(&*self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(SCHEMA.ttl_attribute)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(|e| map_err(e, ConflictKind::AlreadyExists))?;
        Ok(())
    }

    async fn get(&self, key: Item) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_err(e, ConflictKind::Version))?;
        Ok(out.item)
    }

    fn put(
        &self,
        item: Item,
        condition: &str,
        values: Item,
        names: Option<HashMap<String, String>>,
    ) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .set_expression_attribute_names(names)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn update(
        &self,
        key: Item,
        expression: &str,
        condition: Option<&str>,
        values: Item,
        names: Option<HashMap<String, String>>,
    ) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&*self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .set_expression_attribute_names(names)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Run a transaction, retrying transaction conflicts and throttling a
    /// bounded number of times with one client request token.
    async fn transact(&self, items: Vec<TxItem>, seed: &str) -> StoreResult<()> {
        let (writes, kinds): (Vec<_>, Vec<_>) = items.into_iter().map(|t| (t.item, t.kind)).unzip();
        let token = request_token(seed);
        let mut delay = self.retry.base_delay;
        let mut attempt = 1;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            match classify_transaction(err, &kinds) {
                TxOutcome::Fail(e) => return Err(e),
                TxOutcome::Retry(e) if attempt >= self.retry.attempts => return Err(e),
                TxOutcome::Retry(e) => {
                    tracing::warn!(attempt, error = %e, "transaction conflict, retrying");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }

    fn idem_put(&self, record: &IdemRecord, now: Timestamp) -> StoreResult<TransactWriteItem> {
        let item = idem_item(record)?;
        let mut values = HashMap::from([(":now".to_owned(), n(micros(now)))]);
        let condition = match record.state {
            IdemState::InProgress => "attribute_not_exists(pk) OR expires_at_us <= :now",
            IdemState::Complete { .. } => {
                values.insert(":inprog".into(), s("in_progress"));
                values.insert(":hash".into(), s(record.payload_hash.as_str()));
                "attribute_not_exists(pk) OR expires_at_us <= :now OR (#state = :inprog AND payload_hash = :hash)"
            }
        };
        let names = matches!(record.state, IdemState::Complete { .. })
            .then(|| HashMap::from([("#state".to_owned(), "state".to_owned())]));
        self.put(item, condition, values, names)
    }

    fn dedup_put(&self, mark: &DedupMark, now: Timestamp) -> StoreResult<TransactWriteItem> {
        let item = to_item(&DedupItem {
            pk: table::dedup_pk(mark.provider, &mark.event_id),
            sk: DEDUP_SK.to_owned(),
            provider: mark.provider,
            event_id: mark.event_id.clone(),
            expires_at_us: micros(mark.expires_at),
            expires_at: ttl_seconds(mark.expires_at),
        })?;
        self.put(
            item,
            "attribute_not_exists(pk) OR expires_at_us <= :now",
            HashMap::from([(":now".to_owned(), n(micros(now)))]),
            None,
        )
    }

    /// Strongly consistent reads of the items `(pk, sk)` for every `pk` of
    /// `pks`, 100 keys per BatchGetItem; unprocessed keys are asked for
    /// again (a bounded number of times, backing off). Items that do not
    /// exist are left out; the order of the answer is not that of `pks`.
    /// Consistent, so an entry a listing index already shows is never
    /// missing from a lagging replica (lists are not in the per-order cost,
    /// and their reads are cheap next to writes).
    async fn batch_get(&self, pks: &[String], sk: &str) -> StoreResult<Vec<Item>> {
        let mut out = Vec::with_capacity(pks.len());
        for chunk in pks.chunks(100) {
            let mut pending: Vec<Item> = chunk.iter().map(|pk| key(pk.clone(), sk)).collect();
            let mut delay = self.retry.base_delay;
            let mut attempt = 1;
            while !pending.is_empty() {
                let keys = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(build_err)?;
                let page = self
                    .client
                    .batch_get_item()
                    .request_items(&*self.table, keys)
                    .send()
                    .await
                    .map_err(|e| map_err(e, ConflictKind::Version))?;
                if let Some(mut r) = page.responses {
                    out.extend(r.remove(&*self.table).unwrap_or_default());
                }
                pending = page
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&*self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt >= self.retry.attempts {
                    return Err(StoreError::Unavailable(
                        format!(
                            "BatchGetItem left {} key(s) unprocessed after {attempt} attempts",
                            pending.len()
                        )
                        .into(),
                    ));
                }
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
        }
        Ok(out)
    }

    /// Page through a query until `want` items or the end.
    async fn query_all(&self, q: Query<'_>) -> StoreResult<Vec<Item>> {
        let Query {
            index,
            key_condition,
            values,
            names,
            forward,
            want,
            consistent,
        } = q;
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&*self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(key_condition)
                .set_expression_attribute_values(Some(values.clone()))
                .set_expression_attribute_names(if names.is_empty() {
                    None
                } else {
                    Some(names.clone())
                })
                .scan_index_forward(forward)
                .consistent_read(consistent)
                .limit(
                    i32::try_from(want.saturating_sub(out.len()))
                        .unwrap_or(i32::MAX)
                        .max(1),
                )
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| map_err(e, ConflictKind::Version))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if out.len() < want => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}

/// A query: on the table or an index, by key condition, in one direction.
struct Query<'a> {
    index: Option<&'a str>,
    key_condition: &'a str,
    values: Item,
    names: HashMap<String, String>,
    forward: bool,
    want: usize,
    consistent: bool,
}

fn key_schema(pk: &str, sk: &str) -> StoreResult<Vec<KeySchemaElement>> {
    Ok(vec![
        KeySchemaElement::builder()
            .attribute_name(pk)
            .key_type(KeyType::Hash)
            .build()
            .map_err(build_err)?,
        KeySchemaElement::builder()
            .attribute_name(sk)
            .key_type(KeyType::Range)
            .build()
            .map_err(build_err)?,
    ])
}

fn version_value(v: u64) -> Item {
    HashMap::from([(":v".to_owned(), n(i64::try_from(v).unwrap_or(i64::MAX)))])
}

impl OrderStore for DynamoStore {
    async fn load(&self, request: LoadRequest<'_>, now: Timestamp) -> StoreResult<Loaded> {
        let order_key = key(table::order_pk(request.order), ORDER_SK);
        if request.idempotency.is_none()
            && request.limit_of.is_none()
            && request.credit_of.is_none()
        {
            let order = self.get(order_key).await?.map(order_from).transpose()?;
            return Ok(Loaded {
                order,
                ..Loaded::default()
            });
        }
        let mut gets = vec![order_key];
        if let Some(k) = request.idempotency {
            gets.push(key(table::idem_pk(k), IDEM_SK));
        }
        if let Some(s) = request.limit_of {
            gets.push(key(table::supplier_pk(s), LIMIT_SK));
        }
        if let Some(b) = request.credit_of {
            gets.push(key(table::buyer_pk(b), CREDIT_SK));
        }
        let mut req = self.client.transact_get_items();
        for k in gets {
            req = req.transact_items(
                TransactGetItem::builder()
                    .get(
                        Get::builder()
                            .table_name(&*self.table)
                            .set_key(Some(k))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_err(e, ConflictKind::Version))?;
        let mut items = out
            .responses
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.item);
        let order = items.next().flatten().map(order_from).transpose()?;
        let idempotency = match request.idempotency {
            Some(_) => items
                .next()
                .flatten()
                .map(idem_from)
                .transpose()?
                .filter(|r| r.is_live(now)),
            None => None,
        };
        let limit = match request.limit_of {
            Some(_) => items.next().flatten().map(limit_from).transpose()?,
            None => None,
        };
        let credit = match request.credit_of {
            Some(_) => items.next().flatten().map(credit_from).transpose()?,
            None => None,
        };
        Ok(Loaded {
            order,
            idempotency,
            limit,
            credit,
        })
    }

    async fn commit(&self, c: Commit<'_>) -> StoreResult<()> {
        let order = c.order;
        let pk = table::order_pk(order.id());
        let mut tx = Vec::new();
        match c.expected_revision {
            Some(v) if v == order.revision() => {
                let check = ConditionCheck::builder()
                    .table_name(&*self.table)
                    .set_key(Some(key(pk.clone(), ORDER_SK)))
                    .condition_expression("revision = :v")
                    .set_expression_attribute_values(Some(version_value(v)))
                    .build()
                    .map_err(build_err)?;
                tx.push(TxItem {
                    item: TransactWriteItem::builder().condition_check(check).build(),
                    kind: ConflictKind::Version,
                });
            }
            Some(v) => tx.push(TxItem {
                item: self.put(order_item(order)?, "revision = :v", version_value(v), None)?,
                kind: ConflictKind::Version,
            }),
            None => tx.push(TxItem {
                item: self.put(
                    order_item(order)?,
                    "attribute_not_exists(pk)",
                    HashMap::new(),
                    None,
                )?,
                kind: ConflictKind::Version,
            }),
        }
        for (i, e) in c.events.iter().enumerate() {
            let sk = table::event_sk(order.revision(), e.at, i);
            let item = EventItem {
                outbox_pk: Some(OUTBOX_PARTITION.to_owned()),
                outbox_sk: Some(format!("{}#{pk}#{sk}", table::sort_ts(e.at))),
                pk: pk.clone(),
                sk,
                event: event_json(e)?,
            };
            tx.push(TxItem {
                item: self.put(
                    to_item(&item)?,
                    "attribute_not_exists(pk)",
                    HashMap::new(),
                    None,
                )?,
                kind: ConflictKind::Version,
            });
        }
        let effects = effects_of(c.events);
        for (supplier, net) in &effects.limits {
            let (expr, cond, amount) = match net {
                Net::Reserve(a) => (
                    "SET reserved_cents = reserved_cents + :a, available_cents = available_cents - :a",
                    "available_cents >= :a",
                    a,
                ),
                Net::Release(a) => (
                    "SET reserved_cents = reserved_cents - :a, available_cents = available_cents + :a",
                    "reserved_cents >= :a",
                    a,
                ),
            };
            tx.push(TxItem {
                item: self.update(
                    key(table::supplier_pk(supplier), LIMIT_SK),
                    expr,
                    Some(cond),
                    HashMap::from([(":a".to_owned(), n(cents(*amount)))]),
                    None,
                )?,
                kind: ConflictKind::LimitInsufficient,
            });
        }
        for (buyer, net) in &effects.credit {
            let mut values = HashMap::new();
            let (expr, cond, names) = match net {
                Net::Reserve(a) => {
                    values.insert(":a".to_owned(), n(cents(*a)));
                    values.insert(":approved".to_owned(), s("approved"));
                    (
                        "SET reserved_cents = reserved_cents + :a, available_cents = available_cents - :a",
                        "#status = :approved AND available_cents >= :a",
                        Some(HashMap::from([("#status".to_owned(), "status".to_owned())])),
                    )
                }
                Net::Release(a) => {
                    values.insert(":a".to_owned(), n(cents(*a)));
                    (
                        "SET reserved_cents = reserved_cents - :a, available_cents = available_cents + :a",
                        "reserved_cents >= :a",
                        None,
                    )
                }
            };
            tx.push(TxItem {
                item: self.update(
                    key(table::buyer_pk(buyer), CREDIT_SK),
                    expr,
                    Some(cond),
                    values,
                    names,
                )?,
                kind: ConflictKind::CreditInsufficient,
            });
        }
        for (supplier, (count, sum)) in &effects.ratings {
            if let Some(f) = order.feedback() {
                let item = FeedbackItem {
                    pk: table::supplier_pk(supplier),
                    sk: table::feedback_sk(f.at, order.id()),
                    rating: f.rating,
                    comment: f.comment.clone(),
                    at: f.at,
                };
                tx.push(TxItem {
                    item: self.put(
                        to_item(&item)?,
                        "attribute_not_exists(pk)",
                        HashMap::new(),
                        None,
                    )?,
                    kind: ConflictKind::Version,
                });
            }
            tx.push(TxItem {
                item: self.update(
                    key(table::supplier_pk(supplier), RATING_SK),
                    "ADD #count :c, #sum :s",
                    None,
                    HashMap::from([
                        (
                            ":c".to_owned(),
                            n(i64::try_from(*count).unwrap_or(i64::MAX)),
                        ),
                        (":s".to_owned(), n(i64::try_from(*sum).unwrap_or(i64::MAX))),
                    ]),
                    Some(HashMap::from([
                        ("#count".to_owned(), "count".to_owned()),
                        ("#sum".to_owned(), "sum".to_owned()),
                    ])),
                )?,
                kind: ConflictKind::Version,
            });
        }
        if let Some(rec) = c.idempotency {
            tx.push(TxItem {
                item: self.idem_put(rec, c.now)?,
                kind: ConflictKind::Idempotency,
            });
        }
        if let Some(mark) = c.dedup {
            tx.push(TxItem {
                item: self.dedup_put(mark, c.now)?,
                kind: ConflictKind::Duplicate,
            });
        }
        self.transact(tx, &format!("{}#{}", order.id(), order.revision()))
            .await
    }

    async fn history(&self, order: &OrderId, page: &PageRequest) -> StoreResult<Page<DomainEvent>> {
        let partition = table::order_pk(order);
        let mut values = HashMap::from([(":pk".to_owned(), s(&partition))]);
        let condition = match &page.cursor {
            Some(c) => {
                let pos = c
                    .position_in(&partition, table::is_event_sk)
                    .map_err(|_| StoreError::InvalidCursor)?;
                values.insert(":after".to_owned(), s(pos.sort_key));
                values.insert(":end".to_owned(), s(format!("{EVENT_SK_PREFIX}~")));
                "pk = :pk AND sk BETWEEN :after AND :end"
            }
            None => {
                values.insert(":ev".to_owned(), s(EVENT_SK_PREFIX));
                "pk = :pk AND begins_with(sk, :ev)"
            }
        };
        let after = page.cursor.is_some();
        // BETWEEN is inclusive: one more item, the cursor's own, is skipped.
        let want = page.limit as usize + 1 + usize::from(after);
        let items = self
            .query_all(Query {
                index: None,
                key_condition: condition,
                values,
                names: HashMap::new(),
                forward: true,
                want,
                consistent: true,
            })
            .await?;
        let mut events: Vec<(String, DomainEvent)> = Vec::with_capacity(items.len());
        for i in items {
            let item: EventItem = from_item(i)?;
            let sk = item.sk.clone();
            events.push((sk, event_from(item)?));
        }
        if let Some(c) = &page.cursor {
            let from = c
                .position_in(&partition, table::is_event_sk)
                .map_err(|_| StoreError::InvalidCursor)?;
            events.retain(|(sk, _)| *sk > from.sort_key);
        }
        let more = events.len() > page.limit as usize;
        events.truncate(page.limit as usize);
        let next_cursor = match (more, events.last()) {
            (true, Some((sk, _))) => Some(Cursor::encode(&CursorPosition {
                partition,
                sort_key: sk.clone(),
                order_id: order.to_string(),
            })),
            _ => None,
        };
        Ok(Page {
            items: events.into_iter().map(|(_, e)| e).collect(),
            next_cursor,
        })
    }
}

impl OrderQueries for DynamoStore {
    async fn list(&self, listing: &Listing, page: &PageRequest) -> StoreResult<Page<Order>> {
        let (partition, newest_first) = table::listing_partition(listing);
        let (index, pk_attr, sk_attr) = match listing {
            Listing::Buyer(_) => ("by_buyer", "buyer_pk", "list_sk"),
            Listing::Supplier(_) => ("by_supplier", "supplier_pk", "list_sk"),
            Listing::Disputes(_) => ("by_dispute_status", "dispute_pk", "dispute_sk"),
        };
        let mut values = HashMap::from([(":p".to_owned(), s(&partition))]);
        let mut names = HashMap::from([("#p".to_owned(), pk_attr.to_owned())]);
        let condition = match &page.cursor {
            Some(c) => {
                names.insert("#s".to_owned(), sk_attr.to_owned());
                let pos = c
                    .position_in(&partition, table::is_listing_sk)
                    .map_err(|_| StoreError::InvalidCursor)?;
                values.insert(":s".to_owned(), s(pos.sort_key));
                if newest_first {
                    "#p = :p AND #s < :s"
                } else {
                    "#p = :p AND #s > :s"
                }
            }
            None => "#p = :p",
        };
        let want = page.limit as usize + 1;
        let items = self
            .query_all(Query {
                index: Some(index),
                key_condition: condition,
                values,
                names,
                forward: !newest_first,
                want,
                consistent: false,
            })
            .await?;
        let more = items.len() > page.limit as usize;
        // The listing indexes project keys only (an order's every change
        // would otherwise be written to them again): the page's orders are
        // fetched by key, in the index's order.
        let mut keys = Vec::new();
        let mut last_sk = None;
        for item in items.into_iter().take(page.limit as usize) {
            let it: ListingKeys = from_item(item)?;
            last_sk = Some(match listing {
                Listing::Disputes(_) => it.dispute_sk.unwrap_or_default(),
                _ => it.list_sk.unwrap_or_default(),
            });
            keys.push(it.pk);
        }
        let mut found: HashMap<String, Order> = HashMap::new();
        for item in self.batch_get(&keys, ORDER_SK).await? {
            let order = order_from(item)?;
            found.insert(table::order_pk(order.id()), order);
        }
        let orders: Vec<Order> = keys.iter().filter_map(|pk| found.remove(pk)).collect();
        let next_cursor = match (more, last_sk, orders.last()) {
            (true, Some(sort_key), Some(o)) => Some(Cursor::encode(&CursorPosition {
                partition,
                sort_key,
                order_id: o.id().to_string(),
            })),
            _ => None,
        };
        Ok(Page {
            items: orders,
            next_cursor,
        })
    }
}

impl DeadlineIndex for DynamoStore {
    async fn due(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<OrderId>> {
        let items = self
            .query_all(Query {
                index: Some("due"),
                key_condition: "due_pk = :d AND due_sk <= :u",
                values: HashMap::from([
                    (":d".to_owned(), s(DUE_PARTITION)),
                    (":u".to_owned(), s(table::due_upper_bound(now))),
                ]),
                names: HashMap::new(),
                forward: true,
                want: limit as usize,
                consistent: false,
            })
            .await?;
        items
            .into_iter()
            .map(|i| {
                let pk = match i.get(table::PK) {
                    Some(AttributeValue::S(pk)) => pk.clone(),
                    _ => return Err(StoreError::Corrupt("due item without pk".into())),
                };
                let id = pk.strip_prefix("ORDER#").unwrap_or(&pk);
                OrderId::parse(id).map_err(|e| StoreError::Corrupt(format!("due item: {e}")))
            })
            .collect()
    }
}

impl Outbox for DynamoStore {
    async fn unpublished(&self, limit: u32) -> StoreResult<Vec<OutboxEntry>> {
        let items = self
            .query_all(Query {
                index: Some("outbox"),
                key_condition: "outbox_pk = :o",
                values: HashMap::from([(":o".to_owned(), s(OUTBOX_PARTITION))]),
                names: HashMap::new(),
                forward: true,
                want: limit as usize,
                consistent: false,
            })
            .await?;
        items
            .into_iter()
            .map(|i| {
                let item: EventItem = from_item(i)?;
                let id = format!("{}|{}", item.pk, item.sk);
                Ok(OutboxEntry {
                    id,
                    event: event_from(item)?,
                })
            })
            .collect()
    }

    async fn mark_published(&self, ids: &[String]) -> StoreResult<()> {
        // One plain UpdateItem per entry, a few at a time: a transaction
        // would double the write units and buys nothing here (marking is
        // idempotent, and an entry left marked-unpublished is only
        // published again).
        for chunk in ids.chunks(MARK_CONCURRENCY) {
            let marks = chunk
                .iter()
                .filter_map(|id| id.split_once('|'))
                .map(|(pk, sk)| {
                    self.client
                        .update_item()
                        .table_name(&*self.table)
                        .set_key(Some(key(pk.to_owned(), sk)))
                        .update_expression("REMOVE outbox_pk, outbox_sk")
                        .condition_expression("attribute_exists(pk)")
                        .send()
                });
            for result in futures::future::join_all(marks).await {
                match result.map_err(|e| map_err(e, ConflictKind::Version)) {
                    // An id that no longer exists has nothing to publish.
                    Ok(_) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// Outbox entries marked at once.
const MARK_CONCURRENCY: usize = 10;

impl SupplierLimits for DynamoStore {
    async fn get_limit(&self, supplier: &UserId) -> StoreResult<Option<AssuranceLimit>> {
        self.get(key(table::supplier_pk(supplier), LIMIT_SK))
            .await?
            .map(limit_from)
            .transpose()
    }

    async fn set_limit(
        &self,
        supplier: &UserId,
        limit: Usd,
        receiving_account: Option<&ReceivingAccount>,
    ) -> StoreResult<AssuranceLimit> {
        for _ in 0..self.retry.attempts.max(1) * 4 {
            let current = self.get_limit(supplier).await?;
            let (reserved, account, condition, values) = match &current {
                None => (Usd::ZERO, None, "attribute_not_exists(pk)", HashMap::new()),
                Some(l) => (
                    l.reserved(),
                    l.receiving_account.clone(),
                    "reserved_cents = :r",
                    HashMap::from([(":r".to_owned(), n(cents(l.reserved())))]),
                ),
            };
            let account = receiving_account.cloned().or(account);
            let item = LimitItem {
                pk: table::supplier_pk(supplier),
                sk: LIMIT_SK.to_owned(),
                supplier_id: supplier.clone(),
                limit_cents: cents(limit),
                reserved_cents: cents(reserved),
                available_cents: cents(limit) - cents(reserved),
                receiving_account: account.clone(),
            };
            let result = self
                .client
                .put_item()
                .table_name(&*self.table)
                .set_item(Some(to_item(&item)?))
                .condition_expression(condition)
                .set_expression_attribute_values(if values.is_empty() {
                    None
                } else {
                    Some(values)
                })
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(AssuranceLimit::from_parts(
                        supplier.clone(),
                        limit,
                        reserved,
                        account,
                    ));
                }
                Err(e) => match map_err(e, ConflictKind::Version) {
                    // A reservation moved meanwhile: read again.
                    StoreError::Conflict(_) => continue,
                    other => return Err(other),
                },
            }
        }
        Err(StoreError::Unavailable("the limit kept changing".into()))
    }

    async fn rating(&self, supplier: &UserId) -> StoreResult<RatingSummary> {
        let item = self
            .get(key(table::supplier_pk(supplier), RATING_SK))
            .await?;
        let r: RatingItem = match item {
            Some(i) => from_item(i)?,
            None => RatingItem::default(),
        };
        Ok(RatingSummary {
            count: r.count,
            sum: r.sum,
        })
    }

    async fn feedback(
        &self,
        supplier: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<domain::feedback::Feedback>> {
        let partition = table::supplier_pk(supplier);
        let mut values = HashMap::from([(":pk".to_owned(), s(&partition))]);
        let condition = match &page.cursor {
            Some(c) => {
                let pos = c
                    .position_in(&partition, table::is_feedback_sk)
                    .map_err(|_| StoreError::InvalidCursor)?;
                values.insert(":from".to_owned(), s(table::FEEDBACK_SK_PREFIX));
                values.insert(":before".to_owned(), s(pos.sort_key));
                "pk = :pk AND sk BETWEEN :from AND :before"
            }
            None => {
                values.insert(":fb".to_owned(), s(table::FEEDBACK_SK_PREFIX));
                "pk = :pk AND begins_with(sk, :fb)"
            }
        };
        let want = page.limit as usize + 1 + usize::from(page.cursor.is_some());
        let items = self
            .query_all(Query {
                index: None,
                key_condition: condition,
                values,
                names: HashMap::new(),
                forward: false,
                want,
                consistent: false,
            })
            .await?;
        let mut rows: Vec<FeedbackItem> = items
            .into_iter()
            .map(from_item)
            .collect::<StoreResult<_>>()?;
        if let Some(c) = &page.cursor {
            let before = c
                .position_in(&partition, table::is_feedback_sk)
                .map_err(|_| StoreError::InvalidCursor)?;
            rows.retain(|r| r.sk < before.sort_key);
        }
        let more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let next_cursor = match (more, rows.last()) {
            (true, Some(r)) => Some(Cursor::encode(&CursorPosition {
                partition,
                sort_key: r.sk.clone(),
                order_id: String::new(),
            })),
            _ => None,
        };
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| domain::feedback::Feedback {
                    rating: r.rating,
                    comment: r.comment,
                    at: r.at,
                })
                .collect(),
            next_cursor,
        })
    }
}

fn credit_item(line: &CreditLine) -> CreditItem {
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

impl CreditLines for DynamoStore {
    async fn get_credit(&self, buyer: &UserId) -> StoreResult<Option<CreditLine>> {
        self.get(key(table::buyer_pk(buyer), CREDIT_SK))
            .await?
            .map(credit_from)
            .transpose()
    }

    async fn apply_for_credit(&self, line: &CreditLine) -> StoreResult<()> {
        let written = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(to_item(&credit_item(line))?))
            .condition_expression("attribute_not_exists(pk) OR #status = :declined")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":declined", s("declined"))
            .send()
            .await
            .map_err(|e| map_err(e, ConflictKind::AlreadyExists));
        match written {
            // The SDK retried a put whose answer was lost: the line there
            // is this very application, so it was written.
            Err(StoreError::Conflict(ConflictKind::AlreadyExists))
                if self
                    .get_credit(&line.buyer_id)
                    .await?
                    .is_some_and(|stored| stored.application_id == line.application_id) =>
            {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    async fn decide_credit(&self, line: &CreditLine, dedup: Option<&DedupMark>) -> StoreResult<()> {
        let mut item = to_item(&credit_item(line))?;
        // A pending line has nothing reserved; keep the stored figure anyway.
        item.remove("reserved_cents");
        item.remove("available_cents");
        let decided = self.update(
            key(table::buyer_pk(&line.buyer_id), CREDIT_SK),
            "SET #status = :status, limit_cents = :limit, available_cents = :limit - reserved_cents, decided_at = :decided",
            Some("#status = :pending AND application_id = :app"),
            HashMap::from([
                (":status".to_owned(), item.get("status").cloned().unwrap_or(s("pending"))),
                (":limit".to_owned(), n(cents(line.limit()))),
                (
                    ":decided".to_owned(),
                    item.get("decided_at").cloned().unwrap_or(AttributeValue::Null(true)),
                ),
                (":pending".to_owned(), s("pending")),
                (":app".to_owned(), s(line.application_id.as_str())),
            ]),
            Some(HashMap::from([("#status".to_owned(), "status".to_owned())])),
        )?;
        let mut tx = vec![TxItem {
            item: decided,
            kind: ConflictKind::Version,
        }];
        if let Some(mark) = dedup {
            let now = line.decided_at.unwrap_or(line.applied_at);
            tx.push(TxItem {
                item: self.dedup_put(mark, now)?,
                kind: ConflictKind::Duplicate,
            });
        }
        self.transact(tx, line.application_id.as_str()).await
    }
}

impl Idempotency for DynamoStore {
    async fn get_record(&self, key_: &IdemKey, now: Timestamp) -> StoreResult<Option<IdemRecord>> {
        let item = self.get(key(table::idem_pk(key_), IDEM_SK)).await?;
        Ok(item.map(idem_from).transpose()?.filter(|r| r.is_live(now)))
    }

    async fn begin(&self, record: &IdemRecord, now: Timestamp) -> StoreResult<()> {
        self.transact(
            vec![TxItem {
                item: self.idem_put(record, now)?,
                kind: ConflictKind::Idempotency,
            }],
            record.key.as_str(),
        )
        .await
    }

    async fn complete(&self, record: &IdemRecord, now: Timestamp) -> StoreResult<()> {
        self.transact(
            vec![TxItem {
                item: self.idem_put(record, now)?,
                kind: ConflictKind::Idempotency,
            }],
            record.key.as_str(),
        )
        .await
    }

    async fn release(&self, record: &IdemRecord) -> StoreResult<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key(table::idem_pk(&record.key), IDEM_SK)))
            .condition_expression("#state = :inprog AND payload_hash = :hash")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":inprog", s("in_progress"))
            .expression_attribute_values(":hash", s(record.payload_hash.as_str()))
            .send()
            .await
            .map_err(|e| map_err(e, ConflictKind::Idempotency));
        match deleted {
            // Not (or no longer) this request's lease: leave it.
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Dedup for DynamoStore {
    async fn seen(&self, provider: Provider, event_id: &str, now: Timestamp) -> StoreResult<bool> {
        let item = self
            .get(key(table::dedup_pk(provider, event_id), DEDUP_SK))
            .await?;
        Ok(match item {
            Some(i) => {
                let d: DedupItem = from_item(i)?;
                micros(now) < d.expires_at_us
            }
            None => false,
        })
    }
}
