//! Refunds: a refund total is split across the succeeded payments, newest
//! first; each part is requested from the provider that took that payment
//! and confirmed by its webhook.

use serde::{Deserialize, Serialize};

use crate::actor::Provider;
use crate::calendar::{Timestamp, add_working_days, end_of_day};
use crate::clocks::Clocks;
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

/// A failed part is requested again automatically until this many
/// attempts have failed; then an operator resolves it.
pub const MAX_REFUND_ATTEMPTS: u32 = 5;

/// Why a refund part waits for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundFlagReason {
    /// Every automatic attempt failed.
    RefundFailed,
    /// Not confirmed in time.
    Overdue,
    /// Confirmed for another amount, or by the wrong provider.
    Mismatch,
    /// The provider refused the refund request (a 4xx).
    ProviderRefused,
}

impl RefundFlagReason {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundFlagReason::RefundFailed => "refund_failed",
            RefundFlagReason::Overdue => "overdue",
            RefundFlagReason::Mismatch => "mismatch",
            RefundFlagReason::ProviderRefused => "provider_refused",
        }
    }
}

/// What an arbiter does with a flagged refund part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundResolution {
    /// Ask the provider again (a new attempt, with its own key).
    Retry,
    /// The money was returned outside the platform: the part is settled.
    SettledOutside,
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
    /// An operator must look at it (see `flag_reason`).
    pub flagged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_reason: Option<RefundFlagReason>,
    /// When it was flagged (absent on parts flagged before this was kept:
    /// their current attempt's time stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged_at: Option<Timestamp>,
    /// The provider's reference of the current attempt, as it answered the
    /// request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_reference: Option<String>,
    pub requested_at: Timestamp,
    /// When the current attempt was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted_at: Option<Timestamp>,
    pub settled_at: Option<Timestamp>,
    /// Settled by an operator: returned outside the platform.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settled_outside: bool,
}

impl RefundPart {
    /// Still expected from the provider (requested, not settled, not
    /// waiting for an operator).
    pub fn awaits_provider(&self) -> bool {
        self.status == RefundStatus::Requested && !self.flagged
    }

    /// The instant after which an unconfirmed attempt is flagged.
    pub fn expected_by(&self, clocks: &Clocks) -> Option<Timestamp> {
        self.awaits_provider().then(|| {
            let asked = self.attempted_at.unwrap_or(self.requested_at);
            end_of_day(add_working_days(
                asked.date_naive(),
                clocks.refund_working_days,
            ))
        })
    }

    /// The provider's idempotency key of the current attempt.
    pub fn attempt_key(&self) -> String {
        format!("{}:{}", self.id, self.attempts)
    }
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
