//! Why the domain refused a command. Each error has a [`ErrorKind`] that the
//! HTTP layer maps to a status (404, 403, 409, 422) in one place.

use thiserror::Error;

use crate::calendar::Timestamp;
use crate::contract::TermsError;
use crate::coverage::LimitError;
use crate::ids::{PaymentId, RefundId};
use crate::money::{MoneyError, Usd};
use crate::payment::{CreditError, PaymentRule};
use crate::status::{Action, OrderStatus};

/// The class of a refusal. Checks run in the order NotFound → Forbidden →
/// Conflict → TooManyRequests → Unprocessable, so a caller learns nothing
/// it may not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Unknown, or not the caller's (404: do not reveal it exists).
    NotFound,
    /// The caller may see the order but the action is the other side's (403).
    Forbidden,
    /// Wrong status, a concurrent change, or a duplicate (409).
    Conflict,
    /// Too soon: try again later (429, with `Retry-After`).
    TooManyRequests,
    /// A business rule said no (422).
    Unprocessable,
}

/// A state conflict (409).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Conflict {
    #[error("the order is at version {current}; version {seen} was confirmed")]
    VersionMismatch { seen: u64, current: u64 },
    #[error("you have already confirmed this version of the contract")]
    AlreadyConfirmed,
    #[error("the other party has already confirmed; nothing to remind them of")]
    NothingToRemind,
    #[error("a {0} payment is already in flight")]
    PaymentInFlight(crate::payment::Stage),
    #[error("payment id {0} is already used")]
    DuplicatePaymentId(PaymentId),
    #[error("an unresolved dispute blocks this action")]
    DisputeUnresolved,
    #[error("a dispute is already open on this order")]
    DisputeAlreadyOpen,
    #[error("there is no unresolved dispute on this order")]
    NoOpenDispute,
    #[error(
        "the dispute has been escalated; only comments, evidence, acceptance or withdrawal remain"
    )]
    DisputeEscalated,
    #[error("the dispute is not escalated")]
    DisputeNotEscalated,
    #[error("there is no counter-offer to answer")]
    NoPendingOffer,
    #[error("{0} has already been recorded")]
    AlreadyRecorded(&'static str),
    #[error("feedback has already been left for this order")]
    FeedbackAlreadyLeft,
    #[error("the payment is not flagged")]
    NotFlagged,
    #[error("the payment can no longer be {0}")]
    CannotResolve(&'static str),
    #[error("the supplier has already rejected the claim; make an offer or wait for escalation")]
    AlreadyRejected,
    #[error("the refund part is not flagged for an operator")]
    RefundNotFlagged,
}

impl Conflict {
    /// The stable code clients tell conflicts apart by (409).
    pub fn code(&self) -> &'static str {
        match self {
            Conflict::VersionMismatch { .. } => "version-mismatch",
            Conflict::AlreadyConfirmed => "already-confirmed",
            Conflict::NothingToRemind => "nothing-to-remind",
            Conflict::PaymentInFlight(_) => "payment-in-flight",
            Conflict::DuplicatePaymentId(_) => "duplicate-payment-id",
            Conflict::DisputeUnresolved => "dispute-unresolved",
            Conflict::DisputeAlreadyOpen => "dispute-already-open",
            Conflict::NoOpenDispute => "no-open-dispute",
            Conflict::DisputeEscalated => "dispute-escalated",
            Conflict::DisputeNotEscalated => "dispute-not-escalated",
            Conflict::NoPendingOffer => "no-pending-offer",
            Conflict::AlreadyRecorded(_) => "already-recorded",
            Conflict::FeedbackAlreadyLeft => "feedback-already-left",
            Conflict::NotFlagged => "not-flagged",
            Conflict::CannotResolve(_) => "cannot-resolve",
            Conflict::AlreadyRejected => "already-rejected",
            Conflict::RefundNotFlagged => "refund-not-flagged",
        }
    }
}

/// A business rule that refused the command (422). Each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rule {
    #[error("buyer and supplier must be different users")]
    SameBuyerAndSupplier,
    #[error("the ship-by date must not be in the past")]
    ShipByInPast,
    #[error("the supplier is not a Trade Assurance supplier with assurance limit available")]
    NoAssuranceLimitAvailable,
    #[error(transparent)]
    Payment(#[from] PaymentRule),
    #[error("there is no balance to pay")]
    NoBalanceDue,
    #[error("shipped_at must not be in the future")]
    ShippedAtInFuture,
    #[error("shipped_at must not be more than 72 hours in the past")]
    ShippedAtTooOld,
    #[error("{0} must not be before the shipment")]
    BeforeShipment(&'static str),
    #[error("{0} must not be in the future")]
    InFuture(&'static str),
    #[error("give a customs clearance or a delivery time to record")]
    NothingToRecord,
    #[error("feedback can be left within 60 days of completion")]
    FeedbackWindowClosed,
    #[error("a late-shipment dispute can be opened from the day after the ship-by date")]
    NotLateYet,
    #[error("the goods shipped on time")]
    ShippedOnTime,
    #[error("receipt has been confirmed; the coverage for this claim has ended")]
    CoverageEnded,
    #[error("the goods have not shipped yet; post-delivery quality claims start at shipment")]
    NotShippedYet,
    #[error("the quality window closed at {}", crate::calendar::rfc3339(*.0))]
    QualityWindowClosed(Timestamp),
    #[error("a refund must be greater than zero")]
    RefundNotPositive,
    #[error("the refund exceeds the covered amount not yet refunded, {0}")]
    RefundExceedsCovered(Usd),
    #[error("the refund exceeds the amount paid of {0}")]
    RefundExceedsPaid(Usd),
    #[error(
        "the dispute cannot be escalated yet: the supplier has until {} to respond and a solution is due by {}",
        crate::calendar::rfc3339(*.supplier_response_due),
        crate::calendar::rfc3339(*.resolution_due)
    )]
    NotYetEscalatable {
        supplier_response_due: Timestamp,
        resolution_due: Timestamp,
    },
    #[error("a comment needs a message or evidence")]
    EmptyComment,
    #[error("a dispute holds at most {0} pieces of evidence")]
    TooMuchEvidence(usize),
    #[error("each party may add at most {0} pieces of evidence to a dispute")]
    TooMuchEvidenceForParty(usize),
    #[error("an order can have at most {0} disputes over its life, withdrawn ones included")]
    TooManyDisputes(usize),
    #[error("an arbiter rejected a {0} claim on this order; that decision is final")]
    ClaimRejectedFinal(&'static str),
    #[error("a dispute holds at most {0} offers and comments")]
    TooManyMessages(usize),
    #[error("each party may write at most {0} offers and comments in a dispute")]
    TooManyMessagesForParty(usize),
    #[error(
        "your share of this order's dispute texts ({0} bytes) is used up: no more comments or evidence; actions are accepted with a short message or none"
    )]
    DisputeTextsFull(usize),
    #[error(
        "your share of dispute texts is used up: an action's message may be at most {0} characters"
    )]
    MessageTooLongWhenFull(usize),
    #[error(
        "your share of dispute texts is used up, also for short messages: send the action without a message"
    )]
    NoMessageRoomLeft,
    #[error("shipped_at must not be before the order was confirmed")]
    ShippedBeforeConfirmation,
    #[error("the time to confirm receipt can be extended at most {0} times")]
    NoExtensionsLeft(u8),
    #[error("{0} payments of this stage have failed or expired: no more can be made")]
    TooManyFailedPayments(usize),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl Rule {
    /// A stable, URL-safe name for the rule.
    pub fn code(&self) -> &'static str {
        match self {
            Rule::SameBuyerAndSupplier => "same-buyer-and-supplier",
            Rule::ShipByInPast => "ship-by-in-past",
            Rule::NoAssuranceLimitAvailable => "no-assurance-limit-available",
            Rule::Payment(p) => p.code(),
            Rule::NoBalanceDue => "no-balance-due",
            Rule::ShippedAtInFuture => "shipped-at-in-future",
            Rule::ShippedAtTooOld => "shipped-at-too-old",
            Rule::BeforeShipment(_) => "before-shipment",
            Rule::InFuture(_) => "in-future",
            Rule::NothingToRecord => "nothing-to-record",
            Rule::FeedbackWindowClosed => "feedback-window-closed",
            Rule::NotLateYet => "not-late-yet",
            Rule::ShippedOnTime => "shipped-on-time",
            Rule::CoverageEnded => "coverage-ended",
            Rule::NotShippedYet => "not-shipped-yet",
            Rule::QualityWindowClosed(_) => "quality-window-closed",
            Rule::RefundNotPositive => "refund-not-positive",
            Rule::RefundExceedsCovered(_) => "refund-exceeds-covered",
            Rule::RefundExceedsPaid(_) => "refund-exceeds-paid",
            Rule::NotYetEscalatable { .. } => "not-yet-escalatable",
            Rule::EmptyComment => "empty-comment",
            Rule::TooMuchEvidence(_) => "too-much-evidence",
            Rule::TooMuchEvidenceForParty(_) => "too-much-evidence-for-party",
            Rule::TooManyDisputes(_) => "too-many-disputes",
            Rule::ClaimRejectedFinal(_) => "claim-rejected-final",
            Rule::TooManyMessages(_) => "too-many-messages",
            Rule::TooManyMessagesForParty(_) => "too-many-messages-for-party",
            Rule::DisputeTextsFull(_) => "dispute-texts-full",
            Rule::MessageTooLongWhenFull(_) => "message-too-long-when-full",
            Rule::NoMessageRoomLeft => "no-message-room-left",
            Rule::ShippedBeforeConfirmation => "shipped-before-confirmation",
            Rule::NoExtensionsLeft(_) => "no-extensions-left",
            Rule::TooManyFailedPayments(_) => "too-many-failed-payments",
            Rule::Money(_) => "amount-out-of-range",
        }
    }
}

/// Every refusal of a command on an order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OrderError {
    #[error("order not found")]
    NotFound,
    #[error("only the {allowed} may {action}")]
    Forbidden {
        action: Action,
        allowed: &'static str,
    },
    #[error("cannot {action} while the order is {status}")]
    WrongStatus { action: Action, status: OrderStatus },
    #[error("internal: {action} may not move an order from {from} to {to}")]
    IllegalTransition {
        action: Action,
        from: OrderStatus,
        to: OrderStatus,
    },
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error(transparent)]
    Rule(#[from] Rule),
    #[error(transparent)]
    Terms(#[from] TermsError),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error(transparent)]
    Credit(#[from] CreditError),
    #[error("payment {0} is not part of this order")]
    UnknownPayment(PaymentId),
    #[error("refund {0} is not part of this order")]
    UnknownRefund(RefundId),
    #[error("{what}: try again in {retry_after_secs} seconds")]
    TooManyRequests {
        what: &'static str,
        retry_after_secs: u64,
    },
}

impl From<PaymentRule> for OrderError {
    fn from(r: PaymentRule) -> Self {
        OrderError::Rule(Rule::Payment(r))
    }
}

impl From<MoneyError> for OrderError {
    fn from(e: MoneyError) -> Self {
        OrderError::Rule(Rule::Money(e))
    }
}

impl OrderError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            OrderError::NotFound | OrderError::UnknownPayment(_) | OrderError::UnknownRefund(_) => {
                ErrorKind::NotFound
            }
            OrderError::Forbidden { .. } => ErrorKind::Forbidden,
            OrderError::TooManyRequests { .. } => ErrorKind::TooManyRequests,
            OrderError::WrongStatus { .. }
            | OrderError::IllegalTransition { .. }
            | OrderError::Conflict(_) => ErrorKind::Conflict,
            OrderError::Rule(_)
            | OrderError::Terms(_)
            | OrderError::Limit(_)
            | OrderError::Credit(_) => ErrorKind::Unprocessable,
        }
    }
}
