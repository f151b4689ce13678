//! After payment: the supplier ships, delivery and customs are recorded,
//! the buyer confirms receipt (or extends the time to), and leaves
//! feedback.

use crate::actor::{Caller, Party};
use crate::calendar::{Timestamp, minus_hours, plus_days};
use crate::clocks::MAX_RECEIPT_EXTENSIONS;
use crate::coverage::CoverageType;
use crate::deadline::Timer;
use crate::error::{Conflict, OrderError, Rule};
use crate::event::{DomainEvent, EventBody};
use crate::feedback::{FEEDBACK_WINDOW_DAYS, Feedback, Rating};
use crate::status::{Action, OrderStatus};
use crate::text::LongText;

use super::{
    Change, Order, ReceiptClock, SHIPPED_AT_MAX_BACKDATE_HOURS, Shipment, ShipmentDetails,
};

impl Order {
    /// The supplier records the shipment. `shipped_at` (default now) is
    /// neither in the future nor more than 72 hours back; after the end of
    /// the ship-by date it is late. With a balance due the order is
    /// `shipped`, else it waits for the buyer's receipt confirmation. An
    /// unresolved dispute does not block shipment.
    pub fn ship(
        &mut self,
        caller: &Caller,
        details: ShipmentDetails,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::Ship, &[Party::Supplier])?;
        if self.status != OrderStatus::AwaitingShipment {
            return Err(self.wrong_status(Action::Ship));
        }
        let shipped_at = details.shipped_at.unwrap_or(now);
        if shipped_at > now {
            return Err(Rule::ShippedAtInFuture.into());
        }
        if shipped_at < minus_hours(now, SHIPPED_AT_MAX_BACKDATE_HOURS) {
            return Err(Rule::ShippedAtTooOld.into());
        }
        if self.confirmed_at.is_some_and(|c| shipped_at < c) {
            return Err(Rule::ShippedBeforeConfirmation.into());
        }
        // Lateness is judged by when the shipment is recorded, whatever
        // `shipped_at` says.
        let late = now > self.terms.ship_by_deadline();
        self.change(actor, now, |o, ch| {
            o.shipment = Some(Shipment {
                carrier: details.carrier,
                tracking_number: details.tracking_number,
                shipped_at,
                late,
                customs_cleared_at: None,
                delivered_at: None,
            });
            if o.terms.balance().is_zero() {
                o.move_to(OrderStatus::AwaitingReceiptConfirmation, Action::Ship)?;
                o.start_receipt_clock(now);
            } else {
                o.move_to(OrderStatus::Shipped, Action::Ship)?;
                // Due at the latest `balance_max_days` after the shipment
                // was recorded (sooner once delivery is recorded).
                let timer = Timer::days_after(now, o.clocks.balance_max_days);
                o.balance_clock = Some(if o.open_dispute().is_some() {
                    timer.pause(now)
                } else {
                    timer
                });
            }
            ch.emit(EventBody::OrderShipped { shipped_at, late });
            Ok(())
        })
    }

    /// The order starts waiting for the buyer's receipt confirmation: the
    /// sweep confirms it `receipt_days` after now or after the recorded
    /// delivery, whichever is later (paused while a dispute is unresolved).
    pub(super) fn start_receipt_clock(&mut self, now: Timestamp) {
        let from = self
            .shipment
            .as_ref()
            .and_then(|s| s.delivered_at)
            .map_or(now, |d| d.max(now));
        let timer = Timer::days_after(from, self.clocks.receipt_days);
        self.receipt_clock = Some(ReceiptClock {
            timer: if self.open_dispute().is_some() {
                timer.pause(now)
            } else {
                timer
            },
            extensions: 0,
            notice_sent: false,
        });
    }

    /// The buyer (the importer) records when the goods cleared customs and
    /// when they were delivered, each once, neither before the shipment nor
    /// in the future. The supplier cannot (403): the quality window and the
    /// balance's clock must not be shortened by the party they protect
    /// against. A recorded delivery brings the balance due date forward
    /// (`balance_days` after it, at least `retry_min_days` from now) and
    /// keeps the receipt clock at least `receipt_days` after it.
    pub fn record_delivery(
        &mut self,
        caller: &Caller,
        customs_cleared_at: Option<Timestamp>,
        delivered_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::RecordDelivery, &[Party::Buyer])?;
        let Some(shipment) = self
            .shipment
            .as_ref()
            .filter(|_| !self.status.is_terminal())
        else {
            return Err(self.wrong_status(Action::RecordDelivery));
        };
        if customs_cleared_at.is_some() && shipment.customs_cleared_at.is_some() {
            return Err(Conflict::AlreadyRecorded("customs clearance").into());
        }
        if delivered_at.is_some() && shipment.delivered_at.is_some() {
            return Err(Conflict::AlreadyRecorded("delivery").into());
        }
        if customs_cleared_at.is_none() && delivered_at.is_none() {
            return Err(Rule::NothingToRecord.into());
        }
        for (name, at) in [
            ("customs_cleared_at", customs_cleared_at),
            ("delivered_at", delivered_at),
        ] {
            if let Some(at) = at {
                if at < shipment.shipped_at {
                    return Err(Rule::BeforeShipment(name).into());
                }
                if at > now {
                    return Err(Rule::InFuture(name).into());
                }
            }
        }
        self.change(actor, now, |o, ch| {
            if let Some(s) = o.shipment.as_mut() {
                if let Some(at) = customs_cleared_at {
                    s.customs_cleared_at = Some(at);
                    ch.emit(EventBody::CustomsCleared { cleared_at: at });
                }
                if let Some(at) = delivered_at {
                    s.delivered_at = Some(at);
                    ch.emit(EventBody::DeliveryRecorded { delivered_at: at });
                }
            }
            if let Some(at) = delivered_at {
                let c = o.clocks;
                let due = plus_days(at, c.balance_days).max(plus_days(now, c.retry_min_days));
                o.balance_clock = o.balance_clock.map(|t| t.at_most(now, due));
                if let Some(r) = o.receipt_clock.as_mut() {
                    r.timer = r.timer.not_before(now, plus_days(at, c.receipt_days));
                }
            }
            Ok(())
        })
    }

    /// The buyer confirms receipt once shipped and fully paid; the order is
    /// complete. Pre-shipment coverage ends here and its reservation is
    /// released.
    pub fn confirm_receipt(
        &mut self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::ConfirmReceipt, &[Party::Buyer])?;
        if self.status != OrderStatus::AwaitingReceiptConfirmation {
            return Err(self.wrong_status(Action::ConfirmReceipt));
        }
        if self.open_dispute().is_some() {
            return Err(Conflict::DisputeUnresolved.into());
        }
        self.change(actor, now, |o, ch| o.complete(ch))
    }

    /// Receipt confirmed (by the buyer, or by the sweep for them: it counts
    /// as theirs): the order is complete, pre-shipment coverage ends and
    /// the feedback window opens.
    pub(super) fn complete(&mut self, ch: &mut Change) -> Result<(), OrderError> {
        self.move_to(OrderStatus::Completed, Action::ConfirmReceipt)?;
        self.completed_at = Some(ch.at);
        self.receipt_clock = None;
        ch.emit(EventBody::ReceiptConfirmed);
        if self.coverage.kind == CoverageType::PreShipment {
            self.coverage.ended_at = Some(ch.at);
            self.release_reservation(ch);
        }
        Ok(())
    }

    /// The buyer extends the time to confirm receipt by
    /// `receipt_extension_days`, at most twice.
    pub fn extend_receipt(
        &mut self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::ExtendReceipt, &[Party::Buyer])?;
        let Some(clock) = self
            .receipt_clock
            .filter(|_| self.status == OrderStatus::AwaitingReceiptConfirmation)
        else {
            return Err(self.wrong_status(Action::ExtendReceipt));
        };
        if clock.extensions >= MAX_RECEIPT_EXTENSIONS {
            return Err(Rule::NoExtensionsLeft(MAX_RECEIPT_EXTENSIONS).into());
        }
        self.change(actor, now, |o, ch| {
            let timer = clock.timer.extend(o.clocks.receipt_extension_days);
            o.receipt_clock = Some(ReceiptClock {
                timer,
                extensions: clock.extensions + 1,
                notice_sent: false,
            });
            let due = match timer {
                Timer::Running(due) => due,
                Timer::Paused(left) => now + chrono::TimeDelta::seconds(left),
            };
            ch.emit(EventBody::ReceiptExtended { due });
            Ok(())
        })
    }

    /// The buyer leaves feedback once, within 60 days of completion.
    pub fn leave_feedback(
        &mut self,
        caller: &Caller,
        rating: Rating,
        comment: LongText,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        let (_, actor) = self.require_party(caller, Action::LeaveFeedback, &[Party::Buyer])?;
        let Some(completed_at) = self.completed_at else {
            return Err(self.wrong_status(Action::LeaveFeedback));
        };
        if self.feedback.is_some() {
            return Err(Conflict::FeedbackAlreadyLeft.into());
        }
        if now > plus_days(completed_at, FEEDBACK_WINDOW_DAYS) {
            return Err(Rule::FeedbackWindowClosed.into());
        }
        self.change(actor, now, |o, ch| {
            o.feedback = Some(Feedback {
                rating,
                comment,
                at: now,
            });
            ch.emit(EventBody::FeedbackLeft {
                supplier_id: o.supplier_id.clone(),
                rating,
            });
            Ok(())
        })
    }
}
