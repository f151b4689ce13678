//! What needs an operator (`GET /v1/flags`): the open flags of orders —
//! flagged payments, payments past their arrival window, refund parts the
//! provider could not settle — and the provider events that were verified
//! but could not be applied.
//!
//! Each open flag is an item of its own, indexed by kind (the sparse `flags`
//! index: [`crate::table::flag_partition`]), written and removed in the same
//! transaction as the order change that opens or closes it
//! ([`changes`] between the flags the order had when it was read and the
//! ones it has now). A refused provider event is one item, kept
//! [`REFUSED_RETENTION`]. The list reads the open flags, never the orders:
//! oldest first, one page merged from each kind's partition
//! ([`merge`]), with one cursor for all of them.

use chrono::TimeDelta;
use domain::Usd;
use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::ids::OrderId;
use domain::order::{AttentionKind, FlagSubject, OpenFlag};
use serde::{Deserialize, Serialize};

use crate::page::{Cursor, CursorPosition, Page, PageRequest};
use crate::table;

/// How long a refused provider event is kept for an operator.
pub const REFUSED_RETENTION: TimeDelta = TimeDelta::days(30);

/// One thing an operator must look at, as listed and as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagEntry {
    pub kind: AttentionKind,
    /// Why, snake_case (`amount_mismatch`, `overdue`, `refund_failed`,
    /// `unknown_payment`, …).
    pub reason: String,
    /// The same in words, for a person.
    pub detail: String,
    /// Since when.
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Usd>,
    /// A refused event: the provider that signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// A refused event: its `webhook-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// A refused event: its `type`, when it had a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// A refused event: the verified body, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl FlagEntry {
    /// An order's open flag as listed.
    pub fn of_order(order: &OrderId, flag: &OpenFlag) -> FlagEntry {
        let (payment_id, refund_id, what) = match &flag.subject {
            FlagSubject::Payment(p) => (Some(p.to_string()), None, "payment"),
            FlagSubject::Refund(r) => (None, Some(r.to_string()), "refund part"),
        };
        FlagEntry {
            kind: flag.kind,
            reason: flag.reason.to_owned(),
            detail: format!(
                "{what} {} of US ${} on order {order}: {}",
                flag.subject.id(),
                flag.amount,
                flag.reason.replace('_', " ")
            ),
            at: flag.at,
            order_id: Some(order.clone()),
            payment_id,
            refund_id,
            amount: Some(flag.amount),
            provider: None,
            webhook_id: None,
            event_type: None,
            body: None,
        }
    }

    /// The item's place in its kind's partition: oldest first, then the
    /// order (or provider) and the subject (or `webhook-id`), so the key is
    /// unique and a cursor is one key for every partition.
    pub fn index_sort_key(&self) -> String {
        let (owner, subject) = if self.kind == AttentionKind::RefusedEvent {
            (
                self.provider
                    .map(|p| p.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                self.webhook_id.clone().unwrap_or_default(),
            )
        } else {
            (
                self.order_id
                    .as_ref()
                    .map(|o| o.to_string())
                    .unwrap_or_default(),
                self.payment_id
                    .as_deref()
                    .or(self.refund_id.as_deref())
                    .unwrap_or_default()
                    .to_owned(),
            )
        };
        table::flag_sk(self.at, &owner, &subject)
    }
}

/// A provider event that was verified but could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedEvent {
    pub provider: Provider,
    pub webhook_id: String,
    pub event_type: Option<String>,
    /// snake_case: `malformed`, `unknown_order`, `unknown_payment`,
    /// `unknown_refund`, `unknown_credit_line`, `wrong_provider`, `refused`.
    pub reason: &'static str,
    pub detail: String,
    pub order_id: Option<OrderId>,
    pub body: String,
    pub at: Timestamp,
}

impl RefusedEvent {
    /// When the store may forget it.
    pub fn expires_at(&self) -> Timestamp {
        self.at + REFUSED_RETENTION
    }

    pub fn entry(&self) -> FlagEntry {
        FlagEntry {
            kind: AttentionKind::RefusedEvent,
            reason: self.reason.to_owned(),
            detail: self.detail.clone(),
            at: self.at,
            order_id: self.order_id.clone(),
            payment_id: None,
            refund_id: None,
            amount: None,
            provider: Some(self.provider),
            webhook_id: Some(self.webhook_id.clone()),
            event_type: self.event_type.clone(),
            body: Some(self.body.clone()),
        }
    }
}

/// What a commit does to the order's flag items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagChanges {
    /// Opened, or changed (reason or time): written.
    pub put: Vec<OpenFlag>,
    /// Closed: removed, by kind and subject.
    pub delete: Vec<(AttentionKind, FlagSubject)>,
}

impl FlagChanges {
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && self.delete.is_empty()
    }
}

/// The flag items to write and remove when an order whose flags were
/// `before` now has `after`.
pub fn changes(before: &[OpenFlag], after: &[OpenFlag]) -> FlagChanges {
    let same_key = |a: &OpenFlag, b: &OpenFlag| a.kind == b.kind && a.subject == b.subject;
    FlagChanges {
        put: after
            .iter()
            .filter(|f| !before.contains(f))
            .cloned()
            .collect(),
        delete: before
            .iter()
            .filter(|b| !after.iter().any(|a| same_key(a, b)))
            .map(|b| (b.kind, b.subject.clone()))
            .collect(),
    }
}

/// The cursor partition of a listing: one kind, or all of them.
pub fn listing_partition(kind: Option<AttentionKind>) -> String {
    match kind {
        Some(k) => table::flag_partition(k),
        None => "FLAG".to_owned(),
    }
}

/// The partitions a listing reads.
pub fn partitions(kind: Option<AttentionKind>) -> Vec<AttentionKind> {
    match kind {
        Some(k) => vec![k],
        None => AttentionKind::ALL.to_vec(),
    }
}

/// Where a listing resumes: after this index sort key, in every partition
/// it reads (`None`: from the start). A cursor of another listing, or with
/// a key of another shape, is refused.
pub fn resume_after(
    kind: Option<AttentionKind>,
    page: &PageRequest,
) -> Result<Option<String>, crate::page::PageError> {
    match &page.cursor {
        None => Ok(None),
        Some(c) => c
            .position_in(&listing_partition(kind), table::is_flag_sk)
            .map(|p| Some(p.sort_key)),
    }
}

/// One page, oldest first, from what each partition returned after the
/// cursor (each at most `limit + 1` items, in index order); refused events
/// past their retention (the table's TTL removes them within days) are
/// left out.
pub fn merge(
    kind: Option<AttentionKind>,
    per_partition: Vec<Vec<FlagEntry>>,
    page: &PageRequest,
    now: Timestamp,
) -> Page<FlagEntry> {
    let mut all: Vec<(String, FlagEntry)> = per_partition
        .into_iter()
        .flatten()
        .filter(|e| e.kind != AttentionKind::RefusedEvent || e.at + REFUSED_RETENTION > now)
        .map(|e| (e.index_sort_key(), e))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.0 == b.0);
    let limit = page.limit as usize;
    let more = all.len() > limit;
    all.truncate(limit);
    let next_cursor = match (more, all.last()) {
        (true, Some((sk, e))) => Some(Cursor::encode(&CursorPosition {
            partition: listing_partition(kind),
            sort_key: sk.clone(),
            order_id: e
                .order_id
                .as_ref()
                .map(|o| o.to_string())
                .unwrap_or_default(),
        })),
        _ => None,
    };
    Page {
        items: all.into_iter().map(|(_, e)| e).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ids::{PaymentId, RefundId};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn flag(kind: AttentionKind, subject: FlagSubject, reason: &'static str, t: &str) -> OpenFlag {
        OpenFlag {
            kind,
            subject,
            reason,
            at: at(t),
            amount: Usd::parse("10.00").unwrap(),
        }
    }

    fn pay(id: &str) -> FlagSubject {
        FlagSubject::Payment(PaymentId::parse(id).unwrap())
    }

    #[test]
    fn a_new_flag_is_put_a_closed_one_deleted_an_unchanged_one_left_alone() {
        let kept = flag(
            AttentionKind::FlaggedPayment,
            pay("pay_aaaaaaaaaaaaaaaaaaaaaaaaaa"),
            "amount_mismatch",
            "2027-01-01T00:00:00Z",
        );
        let closed = flag(
            AttentionKind::OverduePayment,
            pay("pay_bbbbbbbbbbbbbbbbbbbbbbbbbb"),
            "overdue",
            "2027-01-02T00:00:00Z",
        );
        let opened = flag(
            AttentionKind::FailedRefund,
            FlagSubject::Refund(RefundId::parse("ref_cccccccccccccccccccccccccc").unwrap()),
            "refund_failed",
            "2027-01-03T00:00:00Z",
        );
        let c = changes(
            &[kept.clone(), closed.clone()],
            &[kept.clone(), opened.clone()],
        );
        assert_eq!(c.put, vec![opened]);
        assert_eq!(c.delete, vec![(closed.kind, closed.subject)]);
        let same = std::slice::from_ref(&kept);
        assert!(changes(same, same).is_empty());
    }

    #[test]
    fn a_flag_whose_reason_changes_is_written_again_not_deleted() {
        let before = flag(
            AttentionKind::FlaggedPayment,
            pay("pay_aaaaaaaaaaaaaaaaaaaaaaaaaa"),
            "wrong_provider",
            "2027-01-01T00:00:00Z",
        );
        let after = OpenFlag {
            reason: "amount_mismatch",
            ..before.clone()
        };
        let c = changes(&[before], std::slice::from_ref(&after));
        assert_eq!(c.put, vec![after]);
        assert!(c.delete.is_empty());
    }
}
