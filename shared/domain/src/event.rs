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
use crate::refund::{RefundFlagReason, RefundResolution};
use crate::status::OrderStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// A party cancelled before any payment was in flight.
    ByParty,
    /// The draft was not confirmed by both parties in time.
    NotConfirmed,
    /// Confirmed, and the initial payment did not arrive in time (or its
    /// last allowed payment failed).
    Unpaid,
}

/// Why the sweep closed an order without completing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The balance was not paid in time (or its last allowed payment
    /// failed): the supplier keeps the initial payment.
    BalanceUnpaid,
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
    OrderClosed {
        reason: CloseReason,
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
    /// The provider took the payment request: its reference, and the
    /// buyer's next step if there is one.
    PaymentRequestAccepted {
        payment_id: PaymentId,
        reference: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_action: Option<crate::payment::NextAction>,
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
    /// The payment did not arrive in time: failed (`expired`), and the
    /// provider is asked to cancel it.
    PaymentExpired {
        payment_id: PaymentId,
        stage: Stage,
        provider: Provider,
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
    /// The buyer extended the receipt clock.
    ReceiptExtended {
        due: Timestamp,
    },
    /// The sweep will confirm receipt for the buyer at `due`.
    ReceiptAutoConfirmationDue {
        due: Timestamp,
    },
    /// Not shipped long after the ship-by date: everything paid, up to the
    /// coverage, is refunded and the order closes.
    NotShippedRefundStarted {
        refund: Usd,
    },
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
    /// The provider took the refund request (its reference).
    RefundRequestAccepted {
        refund_id: RefundId,
        reference: String,
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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<RefundFlagReason>,
    },
    RefundResolved {
        refund_id: RefundId,
        resolution: RefundResolution,
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
            EventBody::OrderClosed { .. } => "OrderClosed",
            EventBody::ReservationReleased { .. } => "ReservationReleased",
            EventBody::PaymentRequested { .. } => "PaymentRequested",
            EventBody::PaymentRequestAccepted { .. } => "PaymentRequestAccepted",
            EventBody::CreditReserved { .. } => "CreditReserved",
            EventBody::CreditReleased { .. } => "CreditReleased",
            EventBody::PaymentProcessing { .. } => "PaymentProcessing",
            EventBody::PaymentSucceeded { .. } => "PaymentSucceeded",
            EventBody::PaymentFailed { .. } => "PaymentFailed",
            EventBody::PaymentFlagged { .. } => "PaymentFlagged",
            EventBody::PaymentFlagResolved { .. } => "PaymentFlagResolved",
            EventBody::PaymentOverdue { .. } => "PaymentOverdue",
            EventBody::PaymentExpired { .. } => "PaymentExpired",
            EventBody::OrderShipped { .. } => "OrderShipped",
            EventBody::CustomsCleared { .. } => "CustomsCleared",
            EventBody::DeliveryRecorded { .. } => "DeliveryRecorded",
            EventBody::ReceiptConfirmed => "ReceiptConfirmed",
            EventBody::ReceiptExtended { .. } => "ReceiptExtended",
            EventBody::ReceiptAutoConfirmationDue { .. } => "ReceiptAutoConfirmationDue",
            EventBody::NotShippedRefundStarted { .. } => "NotShippedRefundStarted",
            EventBody::FeedbackLeft { .. } => "FeedbackLeft",
            EventBody::DisputeOpened { .. } => "DisputeOpened",
            EventBody::DisputeResponded { .. } => "DisputeResponded",
            EventBody::DisputeEscalated { .. } => "DisputeEscalated",
            EventBody::DisputeResolved { .. } => "DisputeResolved",
            EventBody::RefundRequested { .. } => "RefundRequested",
            EventBody::RefundRequestAccepted { .. } => "RefundRequestAccepted",
            EventBody::RefundSucceeded { .. } => "RefundSucceeded",
            EventBody::RefundFailed { .. } => "RefundFailed",
            EventBody::RefundFlagged { .. } => "RefundFlagged",
            EventBody::RefundResolved { .. } => "RefundResolved",
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
    /// What caused it, end to end: the request's `X-Correlation-Id` (or
    /// API Gateway's request id), a provider event's `<provider>:<webhook-id>`.
    /// Carried onto the bus so a consumer's logs can be joined to ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(flatten)]
    pub body: EventBody,
}

impl EventBody {
    /// One line for a person reading the order's timeline.
    pub fn summary(&self) -> String {
        match self {
            EventBody::OrderCreated { total, .. } => format!("order created for US ${total}"),
            EventBody::OrderAmended { by } => format!("{by} amended the terms"),
            EventBody::OrderConfirmed { by } => format!("{by} confirmed the contract"),
            EventBody::CoverageReserved { amount, .. } => {
                format!("US ${amount} covered by the supplier's assurance limit")
            }
            EventBody::ConfirmationReminded { by } => {
                format!("{by} reminded the {} to confirm", by.other())
            }
            EventBody::OrderCancelled { reason } => match reason {
                CancelReason::ByParty => "order cancelled".into(),
                CancelReason::NotConfirmed => "order cancelled: not confirmed in time".into(),
                CancelReason::Unpaid => "order cancelled: initial payment not made in time".into(),
            },
            EventBody::OrderClosed { reason } => match reason {
                CloseReason::BalanceUnpaid => {
                    "order closed: balance not paid in time; the supplier keeps the initial payment"
                        .into()
                }
            },
            EventBody::ReservationReleased { amount, .. } => {
                format!("US ${amount} of assurance limit released")
            }
            EventBody::PaymentRequested {
                stage,
                method,
                amount,
                ..
            } => format!(
                "{stage} payment of US ${amount} started by {}",
                method_name(*method)
            ),
            EventBody::PaymentRequestAccepted { reference, .. } => {
                format!("payment taken by the provider ({reference})")
            }
            EventBody::CreditReserved { amount, .. } => {
                format!("US ${amount} of Pay Later credit reserved")
            }
            EventBody::CreditReleased { amount, .. } => {
                format!("US ${amount} of Pay Later credit released")
            }
            EventBody::PaymentProcessing { .. } => "payment processing".into(),
            EventBody::PaymentSucceeded { stage, amount, .. } => {
                format!("{stage} payment of US ${amount} arrived")
            }
            EventBody::PaymentFailed { stage, .. } => format!("{stage} payment failed"),
            EventBody::PaymentFlagged { reason, .. } => {
                format!("payment flagged for review: {}", flag_name(*reason))
            }
            EventBody::PaymentFlagResolved { resolution, .. } => match resolution {
                FlagResolution::Accept => "flagged payment accepted".into(),
                FlagResolution::Refund => "flagged payment to be refunded".into(),
            },
            EventBody::PaymentOverdue { .. } => "payment overdue".into(),
            EventBody::PaymentExpired { stage, .. } => {
                format!("{stage} payment expired; the provider is asked to cancel it")
            }
            EventBody::OrderShipped { late, .. } => {
                if *late {
                    "shipped after the ship-by date".into()
                } else {
                    "shipped".into()
                }
            }
            EventBody::CustomsCleared { .. } => "goods cleared customs".into(),
            EventBody::DeliveryRecorded { .. } => "delivery recorded".into(),
            EventBody::ReceiptConfirmed => "receipt confirmed; order complete".into(),
            EventBody::ReceiptExtended { due } => format!(
                "buyer extended the time to confirm receipt to {}",
                crate::calendar::rfc3339(*due)
            ),
            EventBody::ReceiptAutoConfirmationDue { due } => format!(
                "receipt will be confirmed automatically at {}",
                crate::calendar::rfc3339(*due)
            ),
            EventBody::NotShippedRefundStarted { refund } => {
                format!("not shipped in time: refund of US ${refund} started")
            }
            EventBody::FeedbackLeft { rating, .. } => {
                format!("buyer left feedback: {} of 5", rating.get())
            }
            EventBody::DisputeOpened {
                reason,
                requested_refund,
            } => format!(
                "dispute opened ({}), refund of US ${requested_refund} requested",
                match reason {
                    DisputeReason::LateShipment => "late shipment",
                    DisputeReason::Quality => "quality",
                }
            ),
            EventBody::DisputeResponded { by, action } => {
                format!("{by} {}", entry_verb(*action))
            }
            EventBody::DisputeEscalated { .. } => "dispute escalated to the platform".into(),
            EventBody::DisputeResolved {
                outcome,
                refund_amount,
            } => match (outcome, refund_amount) {
                (_, Some(a)) => format!("dispute resolved with a refund of US ${a}"),
                (DisputeOutcome::Withdrawn, None) => "dispute withdrawn".into(),
                (_, None) => "dispute resolved: claim rejected".into(),
            },
            EventBody::RefundRequested {
                amount, attempt, ..
            } => {
                if *attempt > 1 {
                    format!("refund of US ${amount} requested again (attempt {attempt})")
                } else {
                    format!("refund of US ${amount} requested")
                }
            }
            EventBody::RefundSucceeded { amount, .. } => format!("refund of US ${amount} settled"),
            EventBody::RefundFailed { .. } => "refund failed".into(),
            EventBody::RefundRequestAccepted { reference, .. } => {
                format!("refund taken by the provider ({reference})")
            }
            EventBody::RefundFlagged { .. } => "refund flagged for an operator".into(),
            EventBody::RefundResolved { resolution, .. } => match resolution {
                RefundResolution::Retry => "refund to be requested again".into(),
                RefundResolution::SettledOutside => "refund settled outside the platform".into(),
            },
            EventBody::OrderRefunded { refunded } => {
                format!("order refunded: US ${refunded} in all")
            }
        }
    }
}

fn method_name(m: MethodKind) -> &'static str {
    match m {
        MethodKind::ECheck => "e-Checking",
        MethodKind::CreditCard => "credit card",
        MethodKind::TelegraphicTransfer => "wire transfer",
        MethodKind::PayLater => "Pay Later",
    }
}

fn flag_name(r: FlagReason) -> &'static str {
    match r {
        FlagReason::AmountMismatch => "amount differs",
        FlagReason::CurrencyMismatch => "currency differs",
        FlagReason::ContradictsFinalStatus => "contradicts a final status",
        FlagReason::ClosedOrder => "money on a closed order, refunded",
        FlagReason::Overdue => "overdue",
        FlagReason::WrongProvider => "signed by the wrong provider",
        FlagReason::BeyondCoverage => "paid beyond the coverage; not refunded automatically",
        FlagReason::ProviderRefused => "refused by the provider",
    }
}

fn entry_verb(k: EntryKind) -> &'static str {
    match k {
        EntryKind::Opened => "opened the dispute",
        EntryKind::Accepted => "accepted",
        EntryKind::Offered => "made a counter-offer",
        EntryKind::Rejected => "rejected",
        EntryKind::Commented => "commented",
        EntryKind::Withdrawn => "withdrew the dispute",
        EntryKind::Escalated => "escalated the dispute",
        EntryKind::Decided => "decided the dispute",
    }
}

/// One line of an order's timeline (`GET /v1/orders/{id}/history`): every
/// domain event is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub actor: Actor,
    /// The event's detail-type, e.g. `OrderConfirmed`.
    pub event: String,
    /// The order's status after the change.
    pub status: OrderStatus,
    pub summary: String,
}

impl From<&DomainEvent> for HistoryEntry {
    fn from(e: &DomainEvent) -> Self {
        HistoryEntry {
            at: e.at,
            actor: e.actor.clone(),
            event: e.body.detail_type().to_owned(),
            status: e.status,
            summary: e.body.summary(),
        }
    }
}
