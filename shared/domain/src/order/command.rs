//! A command on an existing order, as one value: what a request decodes
//! into before anything is read, and what [`Order::execute`] runs on the
//! order as loaded. The scheduled sweep and the providers' reports have
//! their own entry points ([`Order::sweep`], [`Order::apply_payment_report`],
//! [`Order::apply_refund_report`]); creating an order is [`Order::create`].

use crate::actor::Caller;
use crate::calendar::Timestamp;
use crate::contract::Terms;
use crate::coverage::AssuranceLimit;
use crate::dispute::Decision;
use crate::error::OrderError;
use crate::event::{DomainEvent, FlagResolution};
use crate::feedback::Rating;
use crate::ids::{PaymentId, RefundId};
use crate::money::Usd;
use crate::payment::{CreditLine, PaymentContext, PaymentMethod, Stage};
use crate::refund::RefundResolution;
use crate::status::Action;
use crate::text::LongText;

use super::{DisputeResponse, OpenDispute, Order, PaymentRequest, ShipmentDetails};

/// What a party or an arbiter asks of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Either party replaces the terms (before both confirmed).
    Amend(Terms),
    /// Either party confirms the version of the contract it saw.
    Confirm { version: u64 },
    /// Either party reminds the other to confirm.
    Remind,
    /// Either party cancels before anything is paid.
    Cancel,
    /// The buyer pays a stage.
    Pay(PaymentRequest),
    /// An arbiter settles a flagged payment.
    ResolvePayment {
        payment: PaymentId,
        resolution: FlagResolution,
    },
    /// An arbiter settles a flagged refund part.
    ResolveRefund {
        refund: RefundId,
        resolution: RefundResolution,
    },
    /// The supplier ships.
    Ship(ShipmentDetails),
    /// The buyer records customs clearance or delivery.
    RecordDelivery {
        customs_cleared_at: Option<Timestamp>,
        delivered_at: Option<Timestamp>,
    },
    /// The buyer confirms receipt.
    ConfirmReceipt,
    /// The buyer extends the time to confirm receipt.
    ExtendReceipt,
    /// The buyer rates the supplier.
    LeaveFeedback { rating: Rating, comment: LongText },
    /// The buyer opens a dispute.
    OpenDispute(OpenDispute),
    /// Either party acts in the dispute.
    RespondDispute(DisputeResponse),
    /// The buyer withdraws the dispute.
    WithdrawDispute,
    /// The buyer escalates the dispute to the platform.
    EscalateDispute,
    /// An arbiter decides an escalated dispute.
    DecideDispute(Decision),
}

/// What a command needs read with the order, beside the order itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The supplier's assurance limit (confirming reserves from it; a wire
    /// transfer carries its receiving account).
    pub supplier_limit: bool,
    /// The buyer's Pay Later credit line.
    pub credit_line: bool,
}

/// The records read with the order that a command may use.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    pub limit: Option<&'a AssuranceLimit>,
    pub credit_line: Option<&'a CreditLine>,
}

impl Command {
    /// The lifecycle action the command is (who may take it: the order's
    /// [`Order::authorize`]).
    pub fn action(&self) -> Action {
        match self {
            Command::Amend(_) => Action::Amend,
            Command::Confirm { .. } => Action::Confirm,
            Command::Remind => Action::Remind,
            Command::Cancel => Action::Cancel,
            Command::Pay(request) => match request.stage {
                Stage::Initial => Action::PayInitial,
                Stage::Balance => Action::PayBalance,
            },
            Command::ResolvePayment { .. } => Action::ResolvePayment,
            Command::ResolveRefund { .. } => Action::ResolveRefund,
            Command::Ship(_) => Action::Ship,
            Command::RecordDelivery { .. } => Action::RecordDelivery,
            Command::ConfirmReceipt => Action::ConfirmReceipt,
            Command::ExtendReceipt => Action::ExtendReceipt,
            Command::LeaveFeedback { .. } => Action::LeaveFeedback,
            Command::OpenDispute(_) => Action::OpenDispute,
            Command::RespondDispute(_) => Action::RespondDispute,
            Command::WithdrawDispute => Action::WithdrawDispute,
            Command::EscalateDispute => Action::EscalateDispute,
            Command::DecideDispute(_) => Action::DecideDispute,
        }
    }

    /// What to read with the order for this command.
    pub fn needs(&self) -> Needs {
        match self {
            Command::Confirm { .. } => Needs {
                supplier_limit: true,
                credit_line: false,
            },
            Command::Pay(request) => Needs {
                supplier_limit: matches!(request.method, PaymentMethod::TelegraphicTransfer),
                credit_line: matches!(request.method, PaymentMethod::PayLater { .. }),
            },
            _ => Needs::default(),
        }
    }
}

impl Order {
    /// Run `command` for `caller` on this order, with what was read beside
    /// it. Confirming without a limit on record confirms against a limit of
    /// zero (and is refused for it).
    pub fn execute(
        &mut self,
        caller: &Caller,
        command: Command,
        context: Context<'_>,
        now: Timestamp,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        match command {
            Command::Amend(terms) => self.amend(caller, terms, now),
            Command::Confirm { version } => {
                let none = AssuranceLimit::new(self.supplier_id().clone(), Usd::ZERO);
                self.confirm(caller, version, context.limit.unwrap_or(&none), now)
            }
            Command::Remind => self.remind(caller, now),
            Command::Cancel => self.cancel(caller, now),
            Command::Pay(request) => {
                let payment = PaymentContext {
                    credit_line: context.credit_line,
                    receiving_account: context.limit.and_then(|l| l.receiving_account.as_ref()),
                };
                self.initiate_payment(caller, request, payment, now)
            }
            Command::ResolvePayment {
                payment,
                resolution,
            } => self.resolve_payment(caller, &payment, resolution, now),
            Command::ResolveRefund { refund, resolution } => {
                self.resolve_refund(caller, &refund, resolution, now)
            }
            Command::Ship(details) => self.ship(caller, details, now),
            Command::RecordDelivery {
                customs_cleared_at,
                delivered_at,
            } => self.record_delivery(caller, customs_cleared_at, delivered_at, now),
            Command::ConfirmReceipt => self.confirm_receipt(caller, now),
            Command::ExtendReceipt => self.extend_receipt(caller, now),
            Command::LeaveFeedback { rating, comment } => {
                self.leave_feedback(caller, rating, comment, now)
            }
            Command::OpenDispute(open) => self.raise_dispute(caller, open, now),
            Command::RespondDispute(response) => self.respond_dispute(caller, response, now),
            Command::WithdrawDispute => self.withdraw_dispute(caller, now),
            Command::EscalateDispute => self.escalate_dispute(caller, now),
            Command::DecideDispute(decision) => self.decide_dispute(caller, decision, now),
        }
    }
}
