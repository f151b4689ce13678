//! The DynamoDB adapter: every store port over one table (key design in
//! `app::table`). Aggregate loads are strongly consistent reads; every write
//! is conditional; an order commit is one `TransactWriteItems` whose
//! cancellation reasons are mapped to typed conflicts. Transaction conflicts
//! are retried a bounded number of times with the same client request token.
//! Items are mapped through serde (`serde_dynamo`).
//!
//! - [`codec`]: items and conversions; [`transact`]: transactions, their
//!   conflicts and request tokens; [`schema`]: the table;
//! - one file per port: [`orders`] (`OrderStore`, `OrderQueries`,
//!   `DeadlineIndex`, `Outbox`), [`suppliers`] (`SupplierLimits`),
//!   [`credit`] (`CreditLines`), [`idempotency`] (`Idempotency`, `Dedup`);
//! - here: the store, its requests (get, put, update, batch get, query).

mod codec;
mod credit;
mod flags;
mod idempotency;
mod orders;
mod schema;
mod suppliers;
mod transact;

pub use codec::order_item;
use codec::*;
use transact::*;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::error::{ConflictKind, StoreError};
use app::ids::Ids;
use app::page::{Cursor, CursorPosition, PageRequest};
use app::ports::StoreResult;
use app::table;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};

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
    /// Where client request tokens come from.
    ids: Ids,
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
            ids: Ids::os(),
        }
    }

    /// Client request tokens from this source (default: OS entropy).
    pub fn with_ids(mut self, ids: Ids) -> Self {
        self.ids = ids;
        self
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
pub(super) struct Query<'a> {
    index: Option<&'a str>,
    key_condition: &'a str,
    values: Item,
    names: HashMap<String, String>,
    forward: bool,
    want: usize,
    consistent: bool,
}

/// A run of one partition's items to page through: those whose sort key
/// starts with `prefix`, oldest first (`forward`) or newest first.
pub(super) struct Run<'a> {
    partition: String,
    prefix: &'a str,
    /// Whether a cursor's sort key belongs to this run.
    is_sort_key: fn(&str) -> bool,
    forward: bool,
    consistent: bool,
    /// What a cursor of this run names beside its position (an order's
    /// history: the order).
    cursor_order: String,
}

impl DynamoStore {
    /// A page of a run, after the page's cursor (refused if it belongs to
    /// another run), and the cursor of the next page if there is more.
    pub(super) async fn run_page(
        &self,
        run: Run<'_>,
        page: &PageRequest,
    ) -> StoreResult<(Vec<Item>, Option<Cursor>)> {
        let from = match &page.cursor {
            Some(c) => Some(
                c.position_in(&run.partition, run.is_sort_key)
                    .map_err(|_| StoreError::InvalidCursor)?
                    .sort_key,
            ),
            None => None,
        };
        // DynamoDB refuses a value the condition does not use.
        let mut values = HashMap::from([(":pk".to_owned(), s(&run.partition))]);
        let condition = match (&from, run.forward) {
            (None, _) => {
                values.insert(":prefix".to_owned(), s(run.prefix));
                "pk = :pk AND begins_with(sk, :prefix)"
            }
            (Some(after), true) => {
                values.insert(":from".to_owned(), s(after));
                values.insert(":end".to_owned(), s(format!("{}~", run.prefix)));
                "pk = :pk AND sk BETWEEN :from AND :end"
            }
            (Some(before), false) => {
                values.insert(":prefix".to_owned(), s(run.prefix));
                values.insert(":before".to_owned(), s(before));
                "pk = :pk AND sk BETWEEN :prefix AND :before"
            }
        };
        // BETWEEN is inclusive: one more item, the cursor's own, is skipped.
        let want = page.limit as usize + 1 + usize::from(from.is_some());
        let mut items = self
            .query_all(Query {
                index: None,
                key_condition: condition,
                values,
                names: HashMap::new(),
                forward: run.forward,
                want,
                consistent: run.consistent,
            })
            .await?;
        let sort_key = |item: &Item| match item.get(table::SK) {
            Some(AttributeValue::S(sk)) => sk.clone(),
            _ => String::new(),
        };
        if let Some(from) = &from {
            items.retain(|i| {
                let sk = sort_key(i);
                if run.forward { &sk > from } else { &sk < from }
            });
        }
        let more = items.len() > page.limit as usize;
        items.truncate(page.limit as usize);
        let next = match (more, items.last()) {
            (true, Some(last)) => Some(Cursor::encode(&CursorPosition {
                partition: run.partition,
                sort_key: sort_key(last),
                order_id: run.cursor_order,
            })),
            _ => None,
        };
        Ok((items, next))
    }
}
