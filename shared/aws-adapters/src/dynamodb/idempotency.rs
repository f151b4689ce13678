//! Idempotency records outside an order commit, and provider events seen.

use app::error::{ConflictKind, StoreError};
use app::idempotency::{IdemKey, IdemRecord};
use app::ports::{Dedup, Idempotency, StoreResult};
use app::table::{self, DEDUP_SK, IDEM_SK};
use domain::actor::Provider;
use domain::calendar::Timestamp;

use super::*;

impl Idempotency for DynamoStore {
    async fn get_record(&self, key_: &IdemKey, now: Timestamp) -> StoreResult<Option<IdemRecord>> {
        let item = self.get(key(table::idem_pk(key_), IDEM_SK)).await?;
        Ok(item.map(idem_from).transpose()?.filter(|r| r.is_live(now)))
    }

    async fn begin(&self, record: &IdemRecord, now: Timestamp) -> StoreResult<()> {
        self.transact(vec![TxItem {
            item: self.idem_put(record, now)?,
            kind: ConflictKind::Idempotency,
        }])
        .await
    }

    async fn complete(&self, record: &IdemRecord, now: Timestamp) -> StoreResult<()> {
        self.transact(vec![TxItem {
            item: self.idem_put(record, now)?,
            kind: ConflictKind::Idempotency,
        }])
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
