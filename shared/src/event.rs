//! Domain events: one or more for every change of an order, stored with it
//! and published to the event bus. The order's history is its events.

use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Party, Provider};
use crate::calendar::Timestamp;
use crate::dispute::{DisputeOutcome, DisputeReason, EntryKind, EscalationGround};
use crate::feedback::Rating;
use crate::ids::{OrderId, PaymentId, RefundId, UserId};
use crate::money::Usd;
use crate::payment::{FlagReason, MethodKind, Stage};
use crate::status::OrderStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// A party cancelled before any payment was in flight.
    ByParty,
    /// Confirmed, and no payment in flight for 30 days.
    Unpaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagResolution {
    /// Accept the payment as paid.
    Accept,
    /// Return the money.
    Refund,
}

/// What happened. Serialized with a `type` tag; [`EventBody::detail_type`] is
/// the EventBridge detail-type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    OrderCreated {
        buyer_id: UserId,
        supplier_id: UserId,
        total: Usd,
    },
    OrderAmended {
        by: Party,
    },
    OrderConfirmed {
        by: Party,
    },
    CoverageReserved {
        supplier_id: UserId,
        amount: Usd,
    },
    ConfirmationReminded {
        by: Party,
    },
    OrderCancelled {
        reason: CancelReason,
    },
    ReservationReleased {
        supplier_id: UserId,
        amount: Usd,
    },
    PaymentRequested {
        payment_id: PaymentId,
        stage: Stage,
        method: MethodKind,
        provider: Provider,
        amount: Usd,
        fee: Usd,
    },
    CreditReserved {
        buyer_id: UserId,
        payment_id: PaymentId,
        amount: Usd,
    },
    CreditReleased {
        buyer_id: UserId,
        payment_id: PaymentId,
        amount: Usd,
    },
    PaymentProcessing {
        payment_id: PaymentId,
    },
    PaymentSucceeded {
        payment_id: PaymentId,
        stage: Stage,
        amount: Usd,
    },
    PaymentFailed {
        payment_id: PaymentId,
        stage: Stage,
    },
    PaymentFlagged {
        payment_id: PaymentId,
        reason: FlagReason,
    },
    PaymentFlagResolved {
        payment_id: PaymentId,
        resolution: FlagResolution,
    },
    PaymentOverdue {
        payment_id: PaymentId,
    },
    OrderShipped {
        shipped_at: Timestamp,
        late: bool,
    },
    CustomsCleared {
        cleared_at: Timestamp,
    },
    DeliveryRecorded {
        delivered_at: Timestamp,
    },
    ReceiptConfirmed,
    FeedbackLeft {
        supplier_id: UserId,
        rating: Rating,
    },
    DisputeOpened {
        reason: DisputeReason,
        requested_refund: Usd,
    },
    DisputeResponded {
        by: Party,
        action: EntryKind,
    },
    DisputeEscalated {
        ground: EscalationGround,
    },
    DisputeResolved {
        outcome: DisputeOutcome,
        refund_amount: Option<Usd>,
    },
    RefundRequested {
        refund_id: RefundId,
        payment_id: PaymentId,
        provider: Provider,
        amount: Usd,
        attempt: u32,
    },
    RefundSucceeded {
        refund_id: RefundId,
        amount: Usd,
    },
    RefundFailed {
        refund_id: RefundId,
    },
    RefundFlagged {
        refund_id: RefundId,
    },
    OrderRefunded {
        refunded: Usd,
    },
}

impl EventBody {
    /// The EventBridge detail-type, e.g. `OrderCreated`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            EventBody::OrderCreated { .. } => "OrderCreated",
            EventBody::OrderAmended { .. } => "OrderAmended",
            EventBody::OrderConfirmed { .. } => "OrderConfirmed",
            EventBody::CoverageReserved { .. } => "CoverageReserved",
            EventBody::ConfirmationReminded { .. } => "ConfirmationReminded",
            EventBody::OrderCancelled { .. } => "OrderCancelled",
            EventBody::ReservationReleased { .. } => "ReservationReleased",
            EventBody::PaymentRequested { .. } => "PaymentRequested",
            EventBody::CreditReserved { .. } => "CreditReserved",
            EventBody::CreditReleased { .. } => "CreditReleased",
            EventBody::PaymentProcessing { .. } => "PaymentProcessing",
            EventBody::PaymentSucceeded { .. } => "PaymentSucceeded",
            EventBody::PaymentFailed { .. } => "PaymentFailed",
            EventBody::PaymentFlagged { .. } => "PaymentFlagged",
            EventBody::PaymentFlagResolved { .. } => "PaymentFlagResolved",
            EventBody::PaymentOverdue { .. } => "PaymentOverdue",
            EventBody::OrderShipped { .. } => "OrderShipped",
            EventBody::CustomsCleared { .. } => "CustomsCleared",
            EventBody::DeliveryRecorded { .. } => "DeliveryRecorded",
            EventBody::ReceiptConfirmed => "ReceiptConfirmed",
            EventBody::FeedbackLeft { .. } => "FeedbackLeft",
            EventBody::DisputeOpened { .. } => "DisputeOpened",
            EventBody::DisputeResponded { .. } => "DisputeResponded",
            EventBody::DisputeEscalated { .. } => "DisputeEscalated",
            EventBody::DisputeResolved { .. } => "DisputeResolved",
            EventBody::RefundRequested { .. } => "RefundRequested",
            EventBody::RefundSucceeded { .. } => "RefundSucceeded",
            EventBody::RefundFailed { .. } => "RefundFailed",
            EventBody::RefundFlagged { .. } => "RefundFlagged",
            EventBody::OrderRefunded { .. } => "OrderRefunded",
        }
    }
}

/// An event with its order, instant, actor and the order status after the
/// change. Stored as the order's history entry, published to the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub order_id: OrderId,
    pub at: Timestamp,
    pub actor: Actor,
    pub status: OrderStatus,
    #[serde(flatten)]
    pub body: EventBody,
}
