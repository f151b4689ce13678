//! The running deadlines of an order.

use serde::{Deserialize, Serialize};

use crate::calendar::Timestamp;
use crate::ids::PaymentId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The end of the ship-by date; shipping later is late.
    ShipBy,
    /// A confirmed order with no payment in flight is cancelled then.
    UnpaidCancellation,
    /// A payment is overdue after its latest expected arrival date.
    PaymentExpectedBy,
    /// The supplier must respond to the dispute by then.
    SupplierResponseDue,
    /// The dispute is escalated if not solved by then.
    EscalationDue,
    /// Post-delivery coverage: quality must be checked by then.
    QualityWindowEnd,
    /// Feedback can be left until then.
    FeedbackWindowEnd,
}

impl DeadlineKind {
    /// Deadlines the scheduled sweep acts on (the others are informational).
    pub fn is_swept(self) -> bool {
        !matches!(self, DeadlineKind::ShipBy | DeadlineKind::FeedbackWindowEnd)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub kind: DeadlineKind,
    pub due: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
}
