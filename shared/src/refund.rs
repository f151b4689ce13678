//! Refunds: a refund total is split across the succeeded payments, newest
//! first; each part is requested from the provider that took that payment
//! and confirmed by its webhook.

use serde::{Deserialize, Serialize};

use crate::actor::Provider;
use crate::calendar::Timestamp;
use crate::ids::{PaymentId, RefundId};
use crate::money::Usd;
use crate::payment::Payment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Asked of the provider, not yet confirmed (also after a failure, when
    /// it is retried).
    Requested,
    Succeeded,
}

/// One part of a refund, returned through one payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPart {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub provider: Provider,
    pub amount: Usd,
    pub status: RefundStatus,
    /// How many times it has been requested.
    pub attempts: u32,
    /// A failure was reported: an operator should look.
    pub flagged: bool,
    pub requested_at: Timestamp,
    pub settled_at: Option<Timestamp>,
}

/// Split `total` across `payments`, newest first, each part at most what is
/// still refundable of that payment. Returns the parts with their amounts
/// and what could not be placed (zero when the payments cover the total).
pub fn split_newest_first(payments: &[Payment], total: Usd) -> (Vec<(PaymentId, Usd)>, Usd) {
    let mut left = total;
    let mut parts = Vec::new();
    for p in payments.iter().rev() {
        if left.is_zero() {
            break;
        }
        let take = p.refundable().min(left);
        if !take.is_zero() {
            parts.push((p.id.clone(), take));
            left = left.saturating_sub(take);
        }
    }
    (parts, left)
}
