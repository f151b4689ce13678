//! The order lifecycle as data: every status, every allowed
//! transition, the action that makes it and who may make it. The aggregate
//! refuses any status change that is not in [`TRANSITIONS`], and the README's
//! Mermaid diagram is checked against [`mermaid_state_diagram`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::actor::ActorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    AwaitingConfirmation,
    AwaitingInitialPayment,
    InitialPaymentProcessing,
    AwaitingShipment,
    Shipped,
    BalancePaymentProcessing,
    AwaitingReceiptConfirmation,
    Completed,
    RefundPending,
    Refunded,
    Cancelled,
    Closed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 12] = [
        OrderStatus::AwaitingConfirmation,
        OrderStatus::AwaitingInitialPayment,
        OrderStatus::InitialPaymentProcessing,
        OrderStatus::AwaitingShipment,
        OrderStatus::Shipped,
        OrderStatus::BalancePaymentProcessing,
        OrderStatus::AwaitingReceiptConfirmation,
        OrderStatus::Completed,
        OrderStatus::RefundPending,
        OrderStatus::Refunded,
        OrderStatus::Cancelled,
        OrderStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::AwaitingConfirmation => "awaiting_confirmation",
            OrderStatus::AwaitingInitialPayment => "awaiting_initial_payment",
            OrderStatus::InitialPaymentProcessing => "initial_payment_processing",
            OrderStatus::AwaitingShipment => "awaiting_shipment",
            OrderStatus::Shipped => "shipped",
            OrderStatus::BalancePaymentProcessing => "balance_payment_processing",
            OrderStatus::AwaitingReceiptConfirmation => "awaiting_receipt_confirmation",
            OrderStatus::Completed => "completed",
            OrderStatus::RefundPending => "refund_pending",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No transition leaves a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Refunded | OrderStatus::Cancelled | OrderStatus::Closed
        )
    }

    /// The order is closed: no more money should arrive for it (money that
    /// still does is refunded automatically).
    pub fn is_closed(self) -> bool {
        self.is_terminal() || self == OrderStatus::RefundPending
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every command on an order, named as in the transition table, errors and
/// history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Amend,
    Confirm,
    Remind,
    Cancel,
    CancelNotConfirmed,
    CancelUnpaid,
    PayInitial,
    PayBalance,
    PaymentSucceeded,
    PaymentFailed,
    ResolvePayment,
    ExpirePayment,
    FlagOverdue,
    Ship,
    RecordDelivery,
    ConfirmReceipt,
    ExtendReceipt,
    CloseUnpaidBalance,
    LeaveFeedback,
    OpenDispute,
    RespondDispute,
    WithdrawDispute,
    EscalateDispute,
    DecideDispute,
    DisputeRefund,
    RefundNotShipped,
    ResolveRefund,
    RefundSettled,
    ReleaseCoverage,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Amend => "amend",
            Action::Confirm => "confirm",
            Action::Remind => "remind",
            Action::Cancel => "cancel",
            Action::CancelNotConfirmed => "cancel_not_confirmed",
            Action::CancelUnpaid => "cancel_unpaid",
            Action::PayInitial => "pay_initial",
            Action::PayBalance => "pay_balance",
            Action::PaymentSucceeded => "payment_succeeded",
            Action::PaymentFailed => "payment_failed",
            Action::ResolvePayment => "resolve_payment",
            Action::ExpirePayment => "expire_payment",
            Action::FlagOverdue => "flag_overdue",
            Action::Ship => "ship",
            Action::RecordDelivery => "record_delivery",
            Action::ConfirmReceipt => "confirm_receipt",
            Action::ExtendReceipt => "extend_receipt",
            Action::CloseUnpaidBalance => "close_unpaid_balance",
            Action::LeaveFeedback => "leave_feedback",
            Action::OpenDispute => "open_dispute",
            Action::RespondDispute => "respond_dispute",
            Action::WithdrawDispute => "withdraw_dispute",
            Action::EscalateDispute => "escalate_dispute",
            Action::DecideDispute => "decide_dispute",
            Action::DisputeRefund => "dispute_refund",
            Action::RefundNotShipped => "refund_not_shipped",
            Action::ResolveRefund => "resolve_refund",
            Action::RefundSettled => "refund_settled",
            Action::ReleaseCoverage => "release_coverage",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One allowed status change. `from: None` is the creation of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub action: Action,
    pub who: &'static [ActorKind],
}

use ActorKind as K;
use OrderStatus as S;

const PARTIES: &[ActorKind] = &[K::Buyer, K::Supplier];
const BUYER: &[ActorKind] = &[K::Buyer];
const SUPPLIER: &[ActorKind] = &[K::Supplier];
const ARBITER: &[ActorKind] = &[K::Arbiter];
const SCHEDULER: &[ActorKind] = &[K::Scheduler];
const BUYER_OR_SCHEDULER: &[ActorKind] = &[K::Buyer, K::Scheduler];
const PROVIDER_OR_ARBITER: &[ActorKind] = &[K::Provider, K::Arbiter];
const SETTLEMENT: &[ActorKind] = &[K::Buyer, K::Supplier, K::Arbiter];

const fn t(
    from: Option<OrderStatus>,
    to: OrderStatus,
    action: Action,
    who: &'static [ActorKind],
) -> Transition {
    Transition {
        from,
        to,
        action,
        who,
    }
}

/// The whole lifecycle. A dispute that ends without a refund or with a
/// compensation (a refund of less than everything paid), a withdrawn
/// dispute, feedback, an extension and the recording of dates do not change
/// the status. The scheduler's transitions are the clocks of "every order
/// ends": nothing waits for ever.
pub const TRANSITIONS: &[Transition] = &[
    t(None, S::AwaitingConfirmation, Action::Create, PARTIES),
    t(
        Some(S::AwaitingConfirmation),
        S::AwaitingInitialPayment,
        Action::Confirm,
        PARTIES,
    ),
    t(
        Some(S::AwaitingConfirmation),
        S::Cancelled,
        Action::Cancel,
        PARTIES,
    ),
    t(
        Some(S::AwaitingConfirmation),
        S::Cancelled,
        Action::CancelNotConfirmed,
        SCHEDULER,
    ),
    t(
        Some(S::AwaitingInitialPayment),
        S::InitialPaymentProcessing,
        Action::PayInitial,
        BUYER,
    ),
    t(
        Some(S::AwaitingInitialPayment),
        S::Cancelled,
        Action::Cancel,
        PARTIES,
    ),
    t(
        Some(S::AwaitingInitialPayment),
        S::Cancelled,
        Action::CancelUnpaid,
        SCHEDULER,
    ),
    t(
        Some(S::AwaitingInitialPayment),
        S::AwaitingShipment,
        Action::ResolvePayment,
        ARBITER,
    ),
    t(
        Some(S::InitialPaymentProcessing),
        S::AwaitingShipment,
        Action::PaymentSucceeded,
        PROVIDER_OR_ARBITER,
    ),
    t(
        Some(S::InitialPaymentProcessing),
        S::AwaitingInitialPayment,
        Action::PaymentFailed,
        PROVIDER_OR_ARBITER,
    ),
    t(
        Some(S::InitialPaymentProcessing),
        S::Cancelled,
        Action::PaymentFailed,
        PROVIDER_OR_ARBITER,
    ),
    t(
        Some(S::InitialPaymentProcessing),
        S::AwaitingInitialPayment,
        Action::ExpirePayment,
        SCHEDULER,
    ),
    t(
        Some(S::InitialPaymentProcessing),
        S::Cancelled,
        Action::ExpirePayment,
        SCHEDULER,
    ),
    t(
        Some(S::AwaitingShipment),
        S::Shipped,
        Action::Ship,
        SUPPLIER,
    ),
    t(
        Some(S::AwaitingShipment),
        S::AwaitingReceiptConfirmation,
        Action::Ship,
        SUPPLIER,
    ),
    t(
        Some(S::AwaitingShipment),
        S::RefundPending,
        Action::DisputeRefund,
        SETTLEMENT,
    ),
    t(
        Some(S::AwaitingShipment),
        S::RefundPending,
        Action::RefundNotShipped,
        SCHEDULER,
    ),
    t(
        Some(S::Shipped),
        S::BalancePaymentProcessing,
        Action::PayBalance,
        BUYER,
    ),
    t(
        Some(S::Shipped),
        S::AwaitingReceiptConfirmation,
        Action::ResolvePayment,
        ARBITER,
    ),
    t(
        Some(S::Shipped),
        S::RefundPending,
        Action::DisputeRefund,
        SETTLEMENT,
    ),
    t(
        Some(S::Shipped),
        S::Closed,
        Action::CloseUnpaidBalance,
        SCHEDULER,
    ),
    t(
        Some(S::BalancePaymentProcessing),
        S::AwaitingReceiptConfirmation,
        Action::PaymentSucceeded,
        PROVIDER_OR_ARBITER,
    ),
    t(
        Some(S::BalancePaymentProcessing),
        S::Shipped,
        Action::PaymentFailed,
        PROVIDER_OR_ARBITER,
    ),
    t(
        Some(S::BalancePaymentProcessing),
        S::Closed,
        Action::PaymentFailed,
        PROVIDER_OR_ARBITER,
    ),
    t(
        Some(S::BalancePaymentProcessing),
        S::Shipped,
        Action::ExpirePayment,
        SCHEDULER,
    ),
    t(
        Some(S::BalancePaymentProcessing),
        S::Closed,
        Action::ExpirePayment,
        SCHEDULER,
    ),
    t(
        Some(S::BalancePaymentProcessing),
        S::RefundPending,
        Action::DisputeRefund,
        SETTLEMENT,
    ),
    t(
        Some(S::AwaitingReceiptConfirmation),
        S::Completed,
        Action::ConfirmReceipt,
        BUYER_OR_SCHEDULER,
    ),
    t(
        Some(S::AwaitingReceiptConfirmation),
        S::RefundPending,
        Action::DisputeRefund,
        SETTLEMENT,
    ),
    t(
        Some(S::Completed),
        S::RefundPending,
        Action::DisputeRefund,
        SETTLEMENT,
    ),
    t(
        Some(S::RefundPending),
        S::Refunded,
        Action::RefundSettled,
        &[K::Provider, K::Arbiter, K::Scheduler],
    ),
];

/// Is `from → to` by `action` in the table?
pub fn is_allowed(from: OrderStatus, to: OrderStatus, action: Action) -> bool {
    TRANSITIONS
        .iter()
        .any(|t| t.from == Some(from) && t.to == to && t.action == action)
}

/// The statuses reachable in one step from `from`.
pub fn next_statuses(from: OrderStatus) -> Vec<OrderStatus> {
    let mut out: Vec<OrderStatus> = TRANSITIONS
        .iter()
        .filter(|t| t.from == Some(from))
        .map(|t| t.to)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The lifecycle as a Mermaid `stateDiagram-v2`, one edge per line of the
/// table, `[*]` for creation and for the terminal statuses. The scheduled
/// sweep's transitions (a clock that ran out) are marked `[sweep]`, or
/// `[or sweep]` when a party may make them too.
pub fn mermaid_state_diagram() -> String {
    let mut out = String::from("stateDiagram-v2\n");
    for t in TRANSITIONS {
        let from = t.from.map_or("[*]", OrderStatus::as_str);
        let by_sweep = match t.who {
            [ActorKind::Scheduler] => " [sweep]",
            who if who.contains(&ActorKind::Scheduler) => " [or sweep]",
            _ => "",
        };
        out.push_str(&format!(
            "    {from} --> {}: {}{by_sweep}\n",
            t.to, t.action
        ));
    }
    for s in OrderStatus::ALL.iter().filter(|s| s.is_terminal()) {
        out.push_str(&format!("    {s} --> [*]\n"));
    }
    out
}
