//! The running deadlines of an order, and the pausable timers behind the
//! clocks that a dispute or a payment in flight can stop.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::calendar::{Timestamp, plus_days};
use crate::ids::{PaymentId, RefundId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// A draft not confirmed by both parties by then is cancelled.
    ConfirmationDue,
    /// The end of the ship-by date; shipping later is late.
    ShipBy,
    /// A confirmed order with no payment in flight is cancelled then.
    UnpaidCancellation,
    /// A Pay Later payment whose loan agreement is not completed by then
    /// expires.
    AgreementDue,
    /// A payment is overdue after its latest expected arrival date.
    PaymentExpectedBy,
    /// A payment still not arrived by then expires.
    PaymentExpires,
    /// Goods not shipped by then are refunded (`not_shipped`).
    NotShippedRefund,
    /// The balance must have arrived or be in flight by then, or the order
    /// is closed (`balance_unpaid`).
    BalanceDue,
    /// The sweep confirms receipt for the buyer then.
    ReceiptAutoConfirmation,
    /// The supplier must respond to the dispute by then.
    SupplierResponseDue,
    /// The dispute is escalated if not solved by then.
    EscalationDue,
    /// A refund part not confirmed by then is flagged for an operator.
    RefundExpectedBy,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<RefundId>,
}

/// A clock that can be paused: running until an instant, or paused with
/// some time left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Runs out at this instant.
    Running(Timestamp),
    /// Paused with this many seconds left.
    Paused(i64),
}

impl Timer {
    /// A timer running out `days` after `from`.
    pub fn days_after(from: Timestamp, days: u32) -> Timer {
        Timer::Running(plus_days(from, days))
    }

    /// When it runs out, while it runs.
    pub fn due(self) -> Option<Timestamp> {
        match self {
            Timer::Running(t) => Some(t),
            Timer::Paused(_) => None,
        }
    }

    /// Stop the clock at `now`, keeping what is left (never below zero).
    pub fn pause(self, now: Timestamp) -> Timer {
        match self {
            Timer::Running(due) => Timer::Paused((due - now).num_seconds().max(0)),
            paused => paused,
        }
    }

    /// Start the clock again at `now`, with at least `min_days` left.
    pub fn resume(self, now: Timestamp, min_days: u32) -> Timer {
        let floor = plus_days(now, min_days);
        match self {
            Timer::Paused(left) => {
                let due = now
                    .checked_add_signed(TimeDelta::seconds(left))
                    .unwrap_or(floor);
                Timer::Running(due.max(floor))
            }
            Timer::Running(due) => Timer::Running(due.max(floor)),
        }
    }

    /// At least `min_days` left from `now`, running or paused.
    pub fn at_least(self, now: Timestamp, min_days: u32) -> Timer {
        match self {
            Timer::Running(due) => Timer::Running(due.max(plus_days(now, min_days))),
            Timer::Paused(left) => Timer::Paused(left.max(i64::from(min_days) * 86_400)),
        }
    }

    /// `days` more, running or paused.
    pub fn extend(self, days: u32) -> Timer {
        match self {
            Timer::Running(due) => Timer::Running(plus_days(due, days)),
            Timer::Paused(left) => Timer::Paused(left.saturating_add(i64::from(days) * 86_400)),
        }
    }

    /// Run out no later than `latest` (seen from `now` when paused).
    pub fn at_most(self, now: Timestamp, latest: Timestamp) -> Timer {
        match self {
            Timer::Running(due) => Timer::Running(due.min(latest)),
            Timer::Paused(left) => Timer::Paused(left.min((latest - now).num_seconds().max(0))),
        }
    }

    /// Run out no earlier than `earliest` (seen from `now` when paused).
    pub fn not_before(self, now: Timestamp, earliest: Timestamp) -> Timer {
        match self {
            Timer::Running(due) => Timer::Running(due.max(earliest)),
            Timer::Paused(left) => Timer::Paused(left.max((earliest - now).num_seconds().max(0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(day: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2027, 1, day, 0, 0, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn a_paused_timer_keeps_what_was_left_and_resumes_with_the_floor() {
        let running = Timer::days_after(t(1), 10);
        assert_eq!(running.due(), Some(t(11)));
        let paused = running.pause(t(5));
        assert_eq!(paused, Timer::Paused(6 * 86_400));
        assert_eq!(paused.due(), None);
        assert_eq!(paused.resume(t(20), 5).due(), Some(t(26)));
        assert_eq!(paused.resume(t(20), 7).due(), Some(t(27)));
        assert_eq!(Timer::Running(t(2)).resume(t(10), 7).due(), Some(t(17)));
        assert_eq!(running.pause(t(30)), Timer::Paused(0));
        assert_eq!(running.extend(15).due(), Some(t(26)));
        assert_eq!(running.at_most(t(1), t(4)).due(), Some(t(4)));
        assert_eq!(running.not_before(t(1), t(20)).due(), Some(t(20)));
        assert_eq!(paused.at_least(t(5), 7), Timer::Paused(7 * 86_400));
    }
}
