//! What needs an operator: the open flags of orders (items under the
//! order's partition, written and removed by its commit) and refused
//! provider events, both in the sparse `flags` index (all attributes, so a
//! page is read from the index alone).

use app::error::{ConflictKind, StoreError};
use app::flags::{self, FlagEntry, RefusedEvent};
use app::page::{Page, PageRequest};
use app::ports::{Attention, StoreResult};
use app::table::{self, REFUSED_SK};
use domain::calendar::Timestamp;
use domain::ids::OrderId;
use domain::order::{AttentionKind, FlagSubject, OpenFlag};
use serde::{Deserialize, Serialize};

use super::*;

/// A flag item: its keys, its place in the `flags` index, and the entry as
/// JSON text (read back whole, never queried by its fields).
#[derive(Debug, Serialize, Deserialize)]
struct FlagItem {
    pk: String,
    sk: String,
    flag_pk: String,
    flag_sk: String,
    flag: String,
    /// Refused events only: when the table's TTL may remove it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

fn flag_item(
    pk: String,
    sk: String,
    entry: &FlagEntry,
    expires_at: Option<i64>,
) -> StoreResult<Item> {
    to_item(&FlagItem {
        pk,
        sk,
        flag_pk: table::flag_partition(entry.kind),
        flag_sk: entry.index_sort_key(),
        flag: serde_json::to_string(entry)
            .map_err(|e| StoreError::Corrupt(format!("flag: {e}")))?,
        expires_at,
    })
}

impl DynamoStore {
    /// The writes an order commit adds for its flags: a put for each flag
    /// that opened or changed, a delete for each that closed.
    pub(super) fn flag_writes(
        &self,
        order: &OrderId,
        previous: &[OpenFlag],
        now_open: &[OpenFlag],
    ) -> StoreResult<Vec<TxItem>> {
        let pk = table::order_pk(order);
        let changes = flags::changes(previous, now_open);
        let mut tx = Vec::with_capacity(changes.put.len() + changes.delete.len());
        for flag in &changes.put {
            let entry = FlagEntry::of_order(order, flag);
            let item = flag_item(
                pk.clone(),
                table::order_flag_sk(flag.kind, &flag.subject),
                &entry,
                None,
            )?;
            tx.push(TxItem {
                item: TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&*self.table)
                            .set_item(Some(item))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
                kind: ConflictKind::Version,
            });
        }
        for (kind, subject) in &changes.delete {
            tx.push(TxItem {
                item: self.delete_flag(&pk, *kind, subject)?,
                kind: ConflictKind::Version,
            });
        }
        Ok(tx)
    }

    fn delete_flag(
        &self,
        pk: &str,
        kind: AttentionKind,
        subject: &FlagSubject,
    ) -> StoreResult<TransactWriteItem> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&*self.table)
            .set_key(Some(key(
                pk.to_owned(),
                &table::order_flag_sk(kind, subject),
            )))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

impl Attention for DynamoStore {
    async fn flags(
        &self,
        kind: Option<AttentionKind>,
        page: &PageRequest,
        now: Timestamp,
    ) -> StoreResult<Page<FlagEntry>> {
        let after = flags::resume_after(kind, page).map_err(|_| StoreError::InvalidCursor)?;
        let queries = flags::partitions(kind).into_iter().map(|k| {
            let mut values = HashMap::from([(":p".to_owned(), s(table::flag_partition(k)))]);
            let condition = match &after {
                Some(a) => {
                    values.insert(":s".to_owned(), s(a));
                    "flag_pk = :p AND flag_sk > :s"
                }
                None => "flag_pk = :p",
            };
            self.query_all(Query {
                index: Some("flags"),
                key_condition: condition,
                values,
                names: HashMap::new(),
                forward: true,
                want: page.limit as usize + 1,
                consistent: false,
            })
        });
        let mut per_partition = Vec::new();
        for items in futures::future::join_all(queries).await {
            let entries = items?
                .into_iter()
                .map(|i| {
                    let item: FlagItem = from_item(i)?;
                    serde_json::from_str(&item.flag)
                        .map_err(|e| StoreError::Corrupt(format!("flag item: {e}")))
                })
                .collect::<StoreResult<Vec<FlagEntry>>>()?;
            per_partition.push(entries);
        }
        Ok(flags::merge(kind, per_partition, page, now))
    }

    async fn record_refused(&self, event: &RefusedEvent) -> StoreResult<()> {
        let item = flag_item(
            table::refused_pk(event.provider, &event.webhook_id),
            REFUSED_SK.to_owned(),
            &event.entry(),
            Some(ttl_seconds(event.expires_at())),
        )?;
        let put = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| map_err(e, ConflictKind::Duplicate));
        match put {
            // Kept already (a redelivery): nothing to do.
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
