//! Writes that must all happen or none: `TransactWriteItems` with one
//! client request token for a logical write (from the store's injected id
//! source), transaction conflicts retried a bounded number of times, and
//! the cancellation reasons mapped to typed conflicts.

use crate::transient::is_transient;
use app::error::{ConflictKind, StoreError};
use app::idempotency::{IdemRecord, IdemState};
use app::ports::{DedupMark, StoreResult};
use app::table::{self, DEDUP_SK};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use domain::calendar::Timestamp;
use std::collections::HashMap;

use super::*;

/// Map an SDK error: a failed condition is a conflict of `kind`; throttling,
/// 5xx, timeouts and transport failures are retryable; the rest is a bug.
pub(super) fn map_err<E>(err: SdkError<E>, kind: ConflictKind) -> StoreError
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
pub(super) fn is_size_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("item size") && m.contains("exceeded")
}

/// What to do after a failed transaction.
pub(super) enum TxOutcome {
    Fail(StoreError),
    Retry(StoreError),
}

pub(super) fn classify_transaction(
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

// ---- the store ---------------------------------------------------------------------

/// One transact-write item and which conflict its failed condition means.
pub(super) struct TxItem {
    pub(super) item: TransactWriteItem,
    pub(super) kind: ConflictKind,
}

pub(super) fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("request: {e}"))
}

impl DynamoStore {
    /// Run a transaction, retrying transaction conflicts and throttling a
    /// bounded number of times with one client request token.
    pub(super) async fn transact(&self, items: Vec<TxItem>) -> StoreResult<()> {
        let (writes, kinds): (Vec<_>, Vec<_>) = items.into_iter().map(|t| (t.item, t.kind)).unzip();
        // One client request token for the logical write, reused by its
        // retries: a retry of a transaction that did commit is a no-op.
        let token = self.ids.token();
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

    pub(super) fn idem_put(
        &self,
        record: &IdemRecord,
        now: Timestamp,
    ) -> StoreResult<TransactWriteItem> {
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

    pub(super) fn dedup_put(
        &self,
        mark: &DedupMark,
        now: Timestamp,
    ) -> StoreResult<TransactWriteItem> {
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
}
