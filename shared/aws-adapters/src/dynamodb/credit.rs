//! Buyers' Pay Later credit lines.

use app::error::{ConflictKind, StoreError};
use app::ports::{CreditLines, DedupMark, StoreResult};
use app::table::{self, CREDIT_SK};
use aws_sdk_dynamodb::types::AttributeValue;
use domain::ids::UserId;
use domain::payment::CreditLine;
use std::collections::HashMap;

use super::*;

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
        self.transact(tx).await
    }
}
