//! The payment-events consumer use case: one verified provider
//! webhook, taken from the queue, applied exactly once per (provider,
//! `webhook-id`).
//!
//! Flow for a payment or refund event, through the one write path
//! ([`crate::write::change`]): parse → load the order (one read) → the
//! domain report with the *signing* provider → commit the order with its
//! events and the de-duplication mark in the same write, on the revision
//! that was read (one write). A duplicate — earlier, or concurrent and
//! faster — fails that commit with `Conflict(Duplicate)`; a concurrent
//! change is retried (bounded). Two DynamoDB calls per message.
//!
//! An event that changes nothing (a repeated status, an older signal, a
//! flag already raised) still records its mark: the commit then only checks
//! the order's version and writes the mark, so a redelivery is a
//! `Duplicate` and the consumer never reads twice for it.
//!
//! Credit-line events (`credit_line.approved` / `declined`) come from the
//! lender (`paylater`) only — from any other provider they are refused —
//! and decide the buyer's pending application with the mark in the same
//! write
//! ([`CreditLines::decide_credit`]). A line that is no longer pending (or
//! belongs to another application) is acknowledged as [`Applied::NoChange`];
//! no mark is written then, as the store writes one only with a decision —
//! a redelivery is again `NoChange`, which is just as harmless.

use chrono::TimeDelta;
use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::error::OrderError;
use domain::ids::UserId;
use domain::payment::{CreditError, CreditLineStatus};
use domain::{Order, Usd};
use thiserror::Error;

use crate::error::{ConflictKind, StoreError};
use crate::flags::RefusedEvent;
use crate::ports::{Attention, Backend, DedupMark, Loaded, ProviderMessage};
use crate::provider_events::{EventParseError, ProviderEvent};
use crate::write::{self, Decide, MAX_ATTEMPTS, Outcome, Target, WriteError, Written};

/// How long a (provider, `webhook-id`) is remembered: providers retry
/// deliveries for a few days at most.
pub const DEDUP_RETENTION: TimeDelta = TimeDelta::days(7);

/// What consuming a message did. Every variant acknowledges the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event was applied with its de-duplication mark. `events` is the
    /// number of domain events committed (a flag counts: a mismatched or
    /// wrong-provider confirmation is applied as a flag, not as a payment).
    /// A credit-line decision changes the line and emits no domain event:
    /// `events` is 0 then.
    Applied { events: usize },
    /// This (provider, `webhook-id`) was already applied.
    Duplicate,
    /// The event changed nothing (a repeated or older signal; a credit line
    /// already decided). For order events its mark was recorded.
    NoChange,
}

/// Why a message was not applied.
///
/// How the SQS handler treats each: [`ConsumeError::report_as_failure`]
/// says whether the message goes into `batchItemFailures` (redelivered,
/// and after the queue's maximum receives moved to the DLQ); everything else
/// is acknowledged and logged.
#[derive(Debug, Error)]
pub enum ConsumeError {
    /// The body is not a well-formed event. Permanent: **acknowledged and
    /// logged** (error level, with the provider, `webhook-id` and the parse
    /// error's path), not sent to the DLQ. The webhook route parses every
    /// verified body with the same parser and answers 400 before enqueuing,
    /// so a malformed message here can only come from a bug or a version
    /// skew; redelivering it five times cannot change the verdict and would
    /// only hold up the retries of the batch, and the log line carries what
    /// an operator needs (the provider still has the event and can resend
    /// it once the consumer understands it).
    #[error("malformed provider event: {0}")]
    Malformed(#[from] EventParseError),
    /// The event names an order that does not exist. Permanent: acknowledged
    /// and logged (orders are committed before any payment is requested).
    #[error("the event names an unknown order")]
    UnknownOrder,
    /// The event names a payment that is not part of its order. Permanent:
    /// acknowledged and logged.
    #[error("the event names a payment that is not part of its order")]
    UnknownPayment,
    /// The event names a refund part that is not part of its order.
    /// Permanent: acknowledged and logged.
    #[error("the event names a refund that is not part of its order")]
    UnknownRefund,
    /// A credit-line decision for a buyer without any credit line.
    /// Permanent: acknowledged and logged.
    #[error("the event names a buyer without a credit line application")]
    UnknownCreditLine,
    /// A credit-line decision signed by a provider other than the lender
    /// (`paylater`). Permanent: acknowledged and logged, nothing applied.
    #[error("{event} must come from the paylater provider, not {provider}")]
    WrongProvider {
        event: &'static str,
        provider: Provider,
    },
    /// The domain refused the event (e.g. an approved limit above the Pay
    /// Later maximum, an amount that overflows). Permanent: acknowledged
    /// and logged; an operator settles it with the provider.
    #[error("the event was refused: {0}")]
    Refused(String),
    /// The store failed, or every attempt lost a race (`Conflict(Version)`).
    /// Retryable when [`ConsumeError::is_retryable`]: reported as a batch
    /// item failure and redelivered. A non-retryable store error (corrupt
    /// data, a refused request) is reported as a failure too, so the message
    /// is kept and reaches the DLQ after the maximum receives (a poison
    /// message) instead of being lost.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ConsumeError {
    /// Why a permanent refusal was refused, snake_case, as an operator
    /// sees it in `GET /v1/flags` (`None`: a store failure, redelivered).
    pub fn refusal_reason(&self) -> Option<&'static str> {
        Some(match self {
            ConsumeError::Malformed(_) => "malformed",
            ConsumeError::UnknownOrder => "unknown_order",
            ConsumeError::UnknownPayment => "unknown_payment",
            ConsumeError::UnknownRefund => "unknown_refund",
            ConsumeError::UnknownCreditLine => "unknown_credit_line",
            ConsumeError::WrongProvider { .. } => "wrong_provider",
            ConsumeError::Refused(_) => "refused",
            ConsumeError::Store(StoreError::TooLarge) => "too_large",
            ConsumeError::Store(_) => return None,
        })
    }

    /// Whether a redelivery may succeed: the backend was unavailable or
    /// throttling, or the order kept changing under the consumer.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConsumeError::Store(e) => {
                e.is_retryable() || e.conflict_kind() == Some(ConflictKind::Version)
            }
            _ => false,
        }
    }

    /// Whether the handler reports the message in `batchItemFailures`: every
    /// store failure (retried; a persistent one ends in the DLQ) but an
    /// order the store refuses for size, which no redelivery changes (the
    /// order's bounds keep it from happening; should it still, the event is
    /// acknowledged and logged as an error, never dead-lettered because an
    /// order grew). Malformed and unknown events and domain refusals are
    /// acknowledged and logged.
    pub fn report_as_failure(&self) -> bool {
        matches!(self, ConsumeError::Store(e) if !matches!(e, StoreError::TooLarge))
    }
}

/// Keep a provider event that was verified but refused for good
/// ([`ConsumeError::refusal_reason`]), so an operator finds it in
/// `GET /v1/flags` for [`crate::flags::REFUSED_RETENTION`]: its provider,
/// `webhook-id`, type, reason and the verified body. A redelivery of the
/// same event is kept once. Returns the reason, or `None` when `error` is
/// not a refusal (a store failure: the message is redelivered instead).
/// If keeping it fails, the caller must redeliver the message: a refusal
/// is never dropped silently.
pub async fn keep_refusal<B: Attention>(
    backend: &B,
    message: &ProviderMessage,
    error: &ConsumeError,
    now: Timestamp,
) -> Result<Option<&'static str>, StoreError> {
    let Some(reason) = error.refusal_reason() else {
        return Ok(None);
    };
    let parsed = ProviderEvent::parse(message.body.as_bytes()).ok();
    let event_type = match &parsed {
        Some(e) => Some(e.event_type().to_owned()),
        // A malformed event: its `type` if it has a readable one.
        None => serde_json::from_str::<serde_json::Value>(&message.body)
            .ok()
            .and_then(|v| {
                v.get("type")?
                    .as_str()
                    .map(|t| t.chars().take(100).collect())
            }),
    };
    let refused = RefusedEvent {
        provider: message.provider,
        webhook_id: message.webhook_id.clone(),
        event_type,
        reason,
        detail: crate::error::error_chain(error),
        order_id: parsed.as_ref().and_then(|e| e.order_id().cloned()),
        body: message.body.clone(),
        at: now,
    };
    backend.record_refused(&refused).await?;
    Ok(Some(reason))
}

/// Apply one queued provider webhook. `now` is business time (the
/// de-duplication mark lives [`DEDUP_RETENTION`] from it).
pub async fn consume<B: Backend>(
    backend: &B,
    message: &ProviderMessage,
    now: Timestamp,
) -> Result<Applied, ConsumeError> {
    let provider = message.provider;
    let webhook_id = message.webhook_id.as_str();
    // No separate "seen?" read: the mark is written in the same transaction
    // as the effect, so a duplicate fails its commit (`Duplicate`) — one
    // read and one write for every message, fresh or not.
    let event = ProviderEvent::parse(message.body.as_bytes())?;
    let is_credit_decision = matches!(
        event,
        ProviderEvent::CreditLineApproved { .. } | ProviderEvent::CreditLineDeclined { .. }
    );
    if is_credit_decision && provider != Provider::Paylater {
        return Err(ConsumeError::WrongProvider {
            event: event.event_type(),
            provider,
        });
    }
    let mark = DedupMark {
        provider,
        event_id: webhook_id.to_owned(),
        expires_at: now + DEDUP_RETENTION,
    };
    match &event {
        ProviderEvent::CreditLineApproved {
            buyer_id,
            application_id,
            limit,
        } => {
            decide_credit_line(
                backend,
                &mark,
                buyer_id,
                application_id.as_str(),
                Some(*limit),
                now,
            )
            .await
        }
        ProviderEvent::CreditLineDeclined {
            buyer_id,
            application_id,
        } => decide_credit_line(backend, &mark, buyer_id, application_id.as_str(), None, now).await,
        _ => apply_to_order(backend, message, &mark, &event, now).await,
    }
}

/// A payment or refund event, through the write path: one read, one write
/// per attempt, the mark written with the change.
async fn apply_to_order<B: Backend>(
    backend: &B,
    message: &ProviderMessage,
    mark: &DedupMark,
    event: &ProviderEvent,
    now: Timestamp,
) -> Result<Applied, ConsumeError> {
    let Some(order_id) = event.order_id() else {
        return Err(ConsumeError::Refused(format!(
            "{} does not name an order",
            event.event_type()
        )));
    };
    let correlation = format!("{}:{}", message.provider, message.webhook_id);
    let target = Target {
        dedup: Some(mark),
        correlation: Some(&correlation),
        ..Target::order(order_id)
    };
    let outcome = write::change(backend, target, now, &Report { message, event }).await;
    match outcome {
        Ok(Outcome { written, .. }) => Ok(match written {
            Written::Committed { events, .. } if events.is_empty() => Applied::NoChange,
            Written::Committed { events, .. } => Applied::Applied {
                events: events.len(),
            },
            Written::Unchanged(_) | Written::Replayed(_) => Applied::NoChange,
            Written::Duplicate => Applied::Duplicate,
        }),
        Err(WriteError::NotFound) => Err(ConsumeError::UnknownOrder),
        Err(WriteError::Refused(e)) => Err(e),
        Err(WriteError::Contended(kind)) => Err(StoreError::Conflict(kind).into()),
        Err(WriteError::Store(e)) => Err(e.into()),
        // No idempotency key on this path.
        Err(WriteError::Idempotency(e)) => Err(ConsumeError::Refused(e.to_string())),
    }
}

/// A provider's report on one of the order's payments or refund parts.
struct Report<'a> {
    message: &'a ProviderMessage,
    event: &'a ProviderEvent,
}

impl Decide for Report<'_> {
    type Error = ConsumeError;

    fn decide(
        &self,
        order: &mut Order,
        _loaded: &Loaded,
        now: Timestamp,
    ) -> Result<Vec<domain::event::DomainEvent>, ConsumeError> {
        apply_report(order, self.message, self.event, now)
    }
}

/// The domain report of a payment or refund event, with the provider that
/// signed the message (the domain flags one that does not serve the
/// payment's method).
fn apply_report(
    order: &mut Order,
    message: &ProviderMessage,
    event: &ProviderEvent,
    now: Timestamp,
) -> Result<Vec<domain::event::DomainEvent>, ConsumeError> {
    let result = if let Some((_, report)) = event.payment_report() {
        order.apply_payment_report(message.provider, report, now)
    } else if let Some((_, report)) = event.refund_report() {
        order.apply_refund_report(message.provider, report, now)
    } else {
        return Err(ConsumeError::Refused(format!(
            "{} is not a payment or refund event",
            event.event_type()
        )));
    };
    result.map_err(|e| match e {
        OrderError::NotFound => ConsumeError::UnknownOrder,
        OrderError::UnknownPayment(_) => ConsumeError::UnknownPayment,
        OrderError::UnknownRefund(_) => ConsumeError::UnknownRefund,
        other => ConsumeError::Refused(other.to_string()),
    })
}

/// The lender's decision on a buyer's pending application (`limit` when
/// approved), recorded with the mark in the same write.
async fn decide_credit_line<B: Backend>(
    backend: &B,
    mark: &DedupMark,
    buyer: &UserId,
    application_id: &str,
    limit: Option<Usd>,
    now: Timestamp,
) -> Result<Applied, ConsumeError> {
    for _ in 0..MAX_ATTEMPTS {
        let Some(mut line) = backend.get_credit(buyer).await? else {
            return Err(ConsumeError::UnknownCreditLine);
        };
        if line.application_id.as_str() != application_id
            || line.status() != CreditLineStatus::Pending
        {
            return already_decided(backend, mark, now).await;
        }
        let decided = match limit {
            Some(limit) => line.approve(limit, now),
            None => line.decline(now),
        };
        match decided {
            Ok(()) => {}
            Err(CreditError::AlreadyDecided) => return already_decided(backend, mark, now).await,
            Err(e) => {
                return Err(ConsumeError::Refused(e.to_string()));
            }
        }
        match backend.decide_credit(&line, Some(mark)).await {
            Ok(()) => return Ok(Applied::Applied { events: 0 }),
            Err(StoreError::Conflict(ConflictKind::Duplicate)) => return Ok(Applied::Duplicate),
            // Decided meanwhile (or a duplicate won): read again.
            Err(StoreError::Conflict(ConflictKind::Version)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict(ConflictKind::Version).into())
}

/// A decision for a line that is not pending: this very event (a
/// redelivery), or another one. The second read happens only here.
async fn already_decided<B: Backend>(
    backend: &B,
    mark: &DedupMark,
    now: Timestamp,
) -> Result<Applied, ConsumeError> {
    if backend.seen(mark.provider, &mark.event_id, now).await? {
        Ok(Applied::Duplicate)
    } else {
        Ok(Applied::NoChange)
    }
}
