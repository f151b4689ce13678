//! What on an order needs an operator: flagged payments, payments past
//! their arrival window, refund parts the provider could not settle. The
//! store keeps one index entry per open flag (written and removed with the
//! order's change), so the operators' list reads the open flags, not the
//! orders.

use serde::{Deserialize, Serialize};

use crate::calendar::Timestamp;
use crate::ids::{PaymentId, RefundId};
use crate::money::Usd;
use crate::payment::FlagReason;

use super::Order;

/// What kind of thing needs an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    /// A payment flagged for a reason other than being late (money that
    /// was not applied, the wrong provider, money kept beyond the coverage).
    FlaggedPayment,
    /// A payment not arrived by the end of its arrival window.
    OverduePayment,
    /// A refund part every automatic attempt failed, or not confirmed in
    /// time, or confirmed for another amount.
    FailedRefund,
    /// A verified provider event that could not be applied (kept, not only
    /// logged; not part of an order).
    RefusedEvent,
}

impl AttentionKind {
    pub const ALL: [AttentionKind; 4] = [
        AttentionKind::FlaggedPayment,
        AttentionKind::OverduePayment,
        AttentionKind::FailedRefund,
        AttentionKind::RefusedEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttentionKind::FlaggedPayment => "flagged_payment",
            AttentionKind::OverduePayment => "overdue_payment",
            AttentionKind::FailedRefund => "failed_refund",
            AttentionKind::RefusedEvent => "refused_event",
        }
    }

    pub fn parse(s: &str) -> Option<AttentionKind> {
        AttentionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The payment or refund part a flag is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlagSubject {
    Payment(PaymentId),
    Refund(RefundId),
}

impl FlagSubject {
    /// The payment's or refund part's id.
    pub fn id(&self) -> &str {
        match self {
            FlagSubject::Payment(p) => p.as_str(),
            FlagSubject::Refund(r) => r.as_str(),
        }
    }
}

/// One open flag on an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFlag {
    pub kind: AttentionKind,
    pub subject: FlagSubject,
    /// Why (snake_case: a payment's [`FlagReason`], a refund part's
    /// `RefundFlagReason`).
    pub reason: &'static str,
    /// Since when.
    pub at: Timestamp,
    /// The payment's or refund part's amount.
    pub amount: Usd,
}

impl Order {
    /// Every open flag, by subject (payments first, then refund parts,
    /// each in the order's own order). Empty for an order nobody has to
    /// look at.
    pub fn open_flags(&self) -> Vec<OpenFlag> {
        let payments = self.payments.iter().filter_map(|p| {
            let flag = p.flag.as_ref()?;
            let kind = if flag.reason == FlagReason::Overdue {
                AttentionKind::OverduePayment
            } else {
                AttentionKind::FlaggedPayment
            };
            Some(OpenFlag {
                kind,
                subject: FlagSubject::Payment(p.id.clone()),
                reason: flag.reason.as_str(),
                at: flag.at,
                amount: p.amount,
            })
        });
        let refunds = self.refunds.iter().filter(|r| r.flagged).map(|r| OpenFlag {
            kind: AttentionKind::FailedRefund,
            subject: FlagSubject::Refund(r.id.clone()),
            reason: r.flag_reason.map_or("refund_failed", |f| f.as_str()),
            at: r.flagged_at.or(r.attempted_at).unwrap_or(r.requested_at),
            amount: r.amount,
        });
        payments.chain(refunds).collect()
    }
}
