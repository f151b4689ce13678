//! Payment methods and their rules, fees and arrival windows; the payment
//! status machine that never moves backwards; flags for operators; Pay Later
//! credit lines.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::actor::Provider;
use crate::calendar::{ArrivalWindow, Timestamp, add_working_days, end_of_day, plus_days};
use crate::clocks::Clocks;
use crate::coverage::ReceivingAccount;
use crate::ids::{ApplicationId, PaymentId, UserId};
use crate::money::{MoneyError, Usd};
use crate::text::CountryCode;

/// Card payments are capped per transaction.
pub const CARD_LIMIT_PER_TRANSACTION: Usd = Usd::dollars_const(20_000);
/// e-Checking costs US $15 per transaction, charged on top.
pub const ECHECK_FEE: Usd = Usd::dollars_const(15);
/// A Pay Later credit line is at most US $150,000.
pub const PAY_LATER_MAX_CREDIT: Usd = Usd::dollars_const(150_000);
/// Pay Later finances for 1 to 6 months.
pub const PAY_LATER_TERM_MONTHS: std::ops::RangeInclusive<u32> = 1..=6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Initial,
    Balance,
}

/// A card brand as the buyer names it. Any brand parses (so the refusal can
/// name the rule); only Visa and Mastercard are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CardBrand {
    Visa,
    Mastercard,
    Other(String),
}

impl CardBrand {
    pub fn parse(s: &str) -> CardBrand {
        match s {
            "visa" => CardBrand::Visa,
            "mastercard" => CardBrand::Mastercard,
            other => CardBrand::Other(other.chars().take(40).collect()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Other(s) => s,
        }
    }
}

impl Serialize for CardBrand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CardBrand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(CardBrand::parse(&String::deserialize(d)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    Checking,
    Savings,
}

/// The method a buyer chose, with the details its rules need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum PaymentMethod {
    #[serde(rename = "e_checking")]
    ECheck {
        bank_country: CountryCode,
        account_type: AccountType,
    },
    CreditCard {
        card_brand: CardBrand,
    },
    TelegraphicTransfer,
    PayLater {
        term_months: u32,
    },
}

/// The method without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    #[serde(rename = "e_checking")]
    ECheck,
    CreditCard,
    TelegraphicTransfer,
    PayLater,
}

impl MethodKind {
    pub const ALL: [MethodKind; 4] = [
        MethodKind::ECheck,
        MethodKind::CreditCard,
        MethodKind::TelegraphicTransfer,
        MethodKind::PayLater,
    ];

    /// The provider that serves (and must sign events for) this method.
    pub fn provider(self) -> Provider {
        match self {
            MethodKind::ECheck => Provider::Echeck,
            MethodKind::CreditCard => Provider::Card,
            MethodKind::TelegraphicTransfer => Provider::Bank,
            MethodKind::PayLater => Provider::Paylater,
        }
    }

    /// The platform's fee, charged on top of the amount.
    pub fn fee(self) -> Usd {
        match self {
            MethodKind::ECheck => ECHECK_FEE,
            _ => Usd::ZERO,
        }
    }

    /// How many working days funds take to arrive (min, max). For Pay Later
    /// the days count from the completed loan agreement.
    pub fn arrival_working_days(self) -> (u32, u32) {
        match self {
            MethodKind::ECheck => (4, 5),
            MethodKind::CreditCard => (2, 3),
            MethodKind::TelegraphicTransfer => (3, 7),
            MethodKind::PayLater => (1, 3),
        }
    }

    /// The expected arrival window for a payment started (or, for Pay Later,
    /// whose loan agreement completed) at `from`.
    pub fn arrival_window(self, from: Timestamp) -> ArrivalWindow {
        let (min, max) = self.arrival_working_days();
        ArrivalWindow::working_days_after(from, min, max)
    }
}

impl PaymentMethod {
    pub fn kind(&self) -> MethodKind {
        match self {
            PaymentMethod::ECheck { .. } => MethodKind::ECheck,
            PaymentMethod::CreditCard { .. } => MethodKind::CreditCard,
            PaymentMethod::TelegraphicTransfer => MethodKind::TelegraphicTransfer,
            PaymentMethod::PayLater { .. } => MethodKind::PayLater,
        }
    }
}

/// A payment-method rule that said no (HTTP 422, naming the rule).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaymentRule {
    #[error("credit card payments are limited to {limit} per transaction; this one is {amount}")]
    CardLimitExceeded { amount: Usd, limit: Usd },
    #[error("only Visa and Mastercard are accepted, not {0:?}")]
    CardBrandNotAccepted(String),
    #[error("e-Checking is only available from a checking account at a US bank")]
    ECheckRequiresUsChecking,
    #[error("the supplier has no designated receiving account for wire transfers")]
    NoReceivingAccount,
    #[error("Pay Later needs an approved credit line")]
    NoApprovedCreditLine,
    #[error("Pay Later credit available is {available}; {amount} is needed")]
    InsufficientCredit { amount: Usd, available: Usd },
    #[error("Pay Later finances for 1 to 6 months, not {0}")]
    TermOutOfRange(u32),
}

impl PaymentRule {
    /// A stable name for the rule (used in problem types and logs).
    pub fn code(&self) -> &'static str {
        match self {
            PaymentRule::CardLimitExceeded { .. } => "card-limit-exceeded",
            PaymentRule::CardBrandNotAccepted(_) => "card-brand-not-accepted",
            PaymentRule::ECheckRequiresUsChecking => "echeck-requires-us-checking",
            PaymentRule::NoReceivingAccount => "no-receiving-account",
            PaymentRule::NoApprovedCreditLine => "no-approved-credit-line",
            PaymentRule::InsufficientCredit { .. } => "insufficient-credit",
            PaymentRule::TermOutOfRange(_) => "pay-later-term-out-of-range",
        }
    }
}

/// What a payment's eligibility depends on besides the method and amount.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaymentContext<'a> {
    pub credit_line: Option<&'a CreditLine>,
    pub receiving_account: Option<&'a ReceivingAccount>,
}

/// Every method rule, for a payment of `amount` (the amount the provider
/// confirms; the fee is on top).
pub fn check_eligibility(
    method: &PaymentMethod,
    amount: Usd,
    ctx: PaymentContext<'_>,
) -> Result<(), PaymentRule> {
    match method {
        PaymentMethod::ECheck {
            bank_country,
            account_type,
        } => {
            if *bank_country != CountryCode::US || *account_type != AccountType::Checking {
                return Err(PaymentRule::ECheckRequiresUsChecking);
            }
        }
        PaymentMethod::CreditCard { card_brand } => {
            if let CardBrand::Other(name) = card_brand {
                return Err(PaymentRule::CardBrandNotAccepted(name.clone()));
            }
            if amount > CARD_LIMIT_PER_TRANSACTION {
                return Err(PaymentRule::CardLimitExceeded {
                    amount,
                    limit: CARD_LIMIT_PER_TRANSACTION,
                });
            }
        }
        PaymentMethod::TelegraphicTransfer => {
            if ctx.receiving_account.is_none() {
                return Err(PaymentRule::NoReceivingAccount);
            }
        }
        PaymentMethod::PayLater { term_months } => {
            if !PAY_LATER_TERM_MONTHS.contains(term_months) {
                return Err(PaymentRule::TermOutOfRange(*term_months));
            }
            let line = ctx
                .credit_line
                .filter(|l| l.status() == CreditLineStatus::Approved)
                .ok_or(PaymentRule::NoApprovedCreditLine)?;
            let available = line.available();
            if amount > available {
                return Err(PaymentRule::InsufficientCredit { amount, available });
            }
        }
    }
    Ok(())
}

/// A payment's status. `AwaitingAgreement` (Pay Later only) → `Processing`
/// → `Succeeded` | `Failed` (final) → `Refunded` (after `Succeeded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    AwaitingAgreement,
    Processing,
    Succeeded,
    Failed,
    Refunded,
}

impl PaymentStatus {
    /// Still waiting for the money.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            PaymentStatus::AwaitingAgreement | PaymentStatus::Processing
        )
    }

    /// How far along the lifecycle a status is; a signal never lowers it.
    pub fn rank(self) -> u8 {
        match self {
            PaymentStatus::AwaitingAgreement => 0,
            PaymentStatus::Processing => 1,
            PaymentStatus::Succeeded | PaymentStatus::Failed => 2,
            PaymentStatus::Refunded => 3,
        }
    }

    /// What a provider signal does to a payment in this status: move it
    /// forward, nothing (a duplicate or a late, older signal), or contradict
    /// a final status (flag for an operator).
    pub fn on(self, signal: PaymentSignal) -> SignalOutcome {
        use PaymentSignal as G;
        use PaymentStatus as P;
        use SignalOutcome::{Contradiction, Ignore, Move};
        match (self, signal) {
            (P::AwaitingAgreement, G::Processing | G::AgreementCompleted) => Move(P::Processing),
            (P::AwaitingAgreement | P::Processing, G::Succeeded) => Move(P::Succeeded),
            (P::AwaitingAgreement | P::Processing, G::Failed) => Move(P::Failed),
            (P::Processing, G::Processing | G::AgreementCompleted) => Ignore,
            (P::Succeeded | P::Refunded, G::Failed) | (P::Failed, G::Succeeded) => Contradiction,
            (P::Succeeded | P::Failed | P::Refunded, _) => Ignore,
        }
    }
}

/// What a provider said about a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSignal {
    Processing,
    AgreementCompleted,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalOutcome {
    Move(PaymentStatus),
    Ignore,
    Contradiction,
}

/// Why a payment needs an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagReason {
    /// The confirmed amount differs from the payment's amount.
    AmountMismatch,
    /// The confirmation is not in USD.
    CurrencyMismatch,
    /// An event contradicts a final status (success after failure, …).
    ContradictsFinalStatus,
    /// Money arrived for an order that is already closed; it is refunded.
    ClosedOrder,
    /// Not arrived by the end of its latest expected arrival date.
    Overdue,
    /// Signed by a provider that does not serve the payment's method.
    WrongProvider,
    /// Goods never shipped: what this payment holds beyond the coverage was
    /// not refunded by the sweep; an operator refunds it or lets it stand.
    BeyondCoverage,
    /// The provider refused to take the payment (a 4xx to the request).
    ProviderRefused,
}

impl FlagReason {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagReason::AmountMismatch => "amount_mismatch",
            FlagReason::CurrencyMismatch => "currency_mismatch",
            FlagReason::ContradictsFinalStatus => "contradicts_final_status",
            FlagReason::ClosedOrder => "closed_order",
            FlagReason::Overdue => "overdue",
            FlagReason::WrongProvider => "wrong_provider",
            FlagReason::BeyondCoverage => "beyond_coverage",
            FlagReason::ProviderRefused => "provider_refused",
        }
    }

    /// Money arrived that was not applied to the order: a confirmation of
    /// another amount or currency, or one contradicting a final status. An
    /// arbiter accepts it as paid or returns it.
    pub fn is_unapplied_money(self) -> bool {
        matches!(
            self,
            FlagReason::ContradictsFinalStatus
                | FlagReason::AmountMismatch
                | FlagReason::CurrencyMismatch
        )
    }

    /// The flag is about money (unapplied, on a closed order, or kept
    /// beyond the coverage), not about an event or a date (the wrong
    /// provider, overdue): it is never replaced by one of those.
    pub fn is_about_money(self) -> bool {
        self.is_unapplied_money()
            || matches!(self, FlagReason::ClosedOrder | FlagReason::BeyondCoverage)
    }
}

/// Why a payment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The provider reported the payment failed.
    Declined,
    /// It did not arrive in time (arrival window + working days, or a Pay
    /// Later agreement not completed in time): the sweep expired it.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub reason: FlagReason,
    pub at: Timestamp,
}

/// The buyer's next step with the provider, as the provider answered the
/// payment's request: pay at a checkout (card), authorise a debit
/// (e-Checking), wire to the given account quoting the reference (T/T),
/// sign the loan agreement (Pay Later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextAction {
    Checkout { url: String },
    Authorize { url: String },
    Wire { instructions: WireInstructions },
    LoanAgreement { url: String },
}

/// Where and how to wire a T/T payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireInstructions {
    pub account: ReceivingAccount,
    /// Quote this on the wire so the payment can be reconciled.
    pub reference: String,
    pub amount: Usd,
}

impl WireInstructions {
    /// The unique reconciliation reference of a payment.
    pub fn reference_for(payment: &PaymentId) -> String {
        let suffix = payment.as_str().trim_start_matches(PaymentId::PREFIX);
        format!("TA-{}", suffix.to_ascii_uppercase())
    }
}

/// A payment of one stage of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub stage: Stage,
    pub method: PaymentMethod,
    /// The stage amount, plus the inspection fee on an initial payment that
    /// carries one: what the provider confirms.
    pub amount: Usd,
    /// The inspection fee included in `amount` (zero if none).
    pub inspection_fee: Usd,
    /// Charged on top of `amount`.
    pub fee: Usd,
    pub status: PaymentStatus,
    pub flag: Option<Flag>,
    pub expected_arrival: ArrivalWindow,
    pub instructions: Option<WireInstructions>,
    pub provider_reference: Option<String>,
    /// The buyer's next step, as the provider answered the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<NextAction>,
    pub initiated_at: Timestamp,
    pub agreement_completed_at: Option<Timestamp>,
    pub settled_at: Option<Timestamp>,
    /// What refunds have returned of this payment so far (settled).
    pub refunded: Usd,
    /// What refunds have been requested of this payment, settled or not:
    /// nothing is ever requested back twice.
    #[serde(default)]
    pub refund_requested: Usd,
    /// Pay Later credit this payment still holds on the buyer's line:
    /// reserved when it starts, released once (on failure, or as refunds
    /// return the money to the loan).
    #[serde(default)]
    pub credit_held: Usd,
    /// Whether the overdue event has been emitted for this payment.
    #[serde(default)]
    pub overdue_reported: bool,
    /// Why it failed, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureReason>,
}

impl Payment {
    pub fn provider(&self) -> Provider {
        self.method.kind().provider()
    }

    /// What can still be asked back of this payment: what arrived, less
    /// every refund already requested (settled or not).
    pub fn refundable(&self) -> Usd {
        match self.status {
            PaymentStatus::Succeeded | PaymentStatus::Refunded => {
                self.amount.saturating_sub(self.refund_requested)
            }
            _ => Usd::ZERO,
        }
    }

    /// The last date funds are expected.
    pub fn latest_arrival(&self) -> NaiveDate {
        self.expected_arrival.latest
    }

    /// Whether the arrival window runs: the money is on its way. A Pay
    /// Later payment's window starts only when its loan agreement is
    /// completed.
    pub fn window_runs(&self) -> bool {
        self.status == PaymentStatus::Processing
    }

    /// Pay Later, before the agreement: the instant the agreement is due.
    pub fn agreement_due(&self, clocks: &Clocks) -> Option<Timestamp> {
        (self.status == PaymentStatus::AwaitingAgreement)
            .then(|| plus_days(self.initiated_at, clocks.agreement_days))
    }

    /// The instant after which the payment is overdue (flagged), while its
    /// window runs.
    pub fn overdue_after(&self) -> Option<Timestamp> {
        self.window_runs()
            .then(|| self.expected_arrival.overdue_after())
    }

    /// The instant after which a payment still in flight expires: the end
    /// of the working day `payment_expiry_working_days` after its latest
    /// arrival date, or the end of its Pay Later agreement period.
    pub fn expires_after(&self, clocks: &Clocks) -> Option<Timestamp> {
        match self.status {
            PaymentStatus::AwaitingAgreement => self.agreement_due(clocks),
            PaymentStatus::Processing => Some(end_of_day(add_working_days(
                self.expected_arrival.latest,
                clocks.payment_expiry_working_days,
            ))),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditLineStatus {
    Pending,
    Approved,
    Declined,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CreditError {
    #[error("a credit line is at most {max}; {requested} was approved")]
    LimitTooHigh { requested: Usd, max: Usd },
    #[error("an approved credit line needs a limit greater than zero")]
    LimitNotPositive,
    #[error("the application has already been decided")]
    AlreadyDecided,
    #[error("the credit line is not approved")]
    NotApproved,
    #[error("credit available is {available}; {requested} is needed")]
    Insufficient { requested: Usd, available: Usd },
    #[error("cannot release {requested}: only {reserved} is reserved")]
    ReleaseExceedsReserved { requested: Usd, reserved: Usd },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// A buyer's Pay Later credit line: pending until the lender approves (with
/// a limit of at most $150,000) or declines it. Paying reserves credit;
/// a failed or refunded payment gives it back. Available never goes below
/// zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditLine {
    pub buyer_id: UserId,
    pub application_id: ApplicationId,
    status: CreditLineStatus,
    limit: Usd,
    reserved: Usd,
    pub applied_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

impl CreditLine {
    pub fn apply(buyer_id: UserId, application_id: ApplicationId, now: Timestamp) -> Self {
        CreditLine {
            buyer_id,
            application_id,
            status: CreditLineStatus::Pending,
            limit: Usd::ZERO,
            reserved: Usd::ZERO,
            applied_at: now,
            decided_at: None,
        }
    }

    /// Rebuild from stored figures.
    pub fn from_parts(
        buyer_id: UserId,
        application_id: ApplicationId,
        status: CreditLineStatus,
        limit: Usd,
        reserved: Usd,
        applied_at: Timestamp,
        decided_at: Option<Timestamp>,
    ) -> Self {
        CreditLine {
            buyer_id,
            application_id,
            status,
            limit,
            reserved,
            applied_at,
            decided_at,
        }
    }

    pub fn status(&self) -> CreditLineStatus {
        self.status
    }
    pub fn limit(&self) -> Usd {
        self.limit
    }
    pub fn reserved(&self) -> Usd {
        self.reserved
    }
    pub fn available(&self) -> Usd {
        match self.status {
            CreditLineStatus::Approved => self.limit.saturating_sub(self.reserved),
            _ => Usd::ZERO,
        }
    }

    /// The lender approved the line with `limit` (> 0, ≤ $150,000).
    pub fn approve(&mut self, limit: Usd, now: Timestamp) -> Result<(), CreditError> {
        if self.status != CreditLineStatus::Pending {
            return Err(CreditError::AlreadyDecided);
        }
        if limit.is_zero() {
            return Err(CreditError::LimitNotPositive);
        }
        if limit > PAY_LATER_MAX_CREDIT {
            return Err(CreditError::LimitTooHigh {
                requested: limit,
                max: PAY_LATER_MAX_CREDIT,
            });
        }
        self.status = CreditLineStatus::Approved;
        self.limit = limit;
        self.decided_at = Some(now);
        Ok(())
    }

    pub fn decline(&mut self, now: Timestamp) -> Result<(), CreditError> {
        if self.status != CreditLineStatus::Pending {
            return Err(CreditError::AlreadyDecided);
        }
        self.status = CreditLineStatus::Declined;
        self.decided_at = Some(now);
        Ok(())
    }

    pub fn reserve(&mut self, amount: Usd) -> Result<(), CreditError> {
        if self.status != CreditLineStatus::Approved {
            return Err(CreditError::NotApproved);
        }
        let available = self.available();
        if amount > available {
            return Err(CreditError::Insufficient {
                requested: amount,
                available,
            });
        }
        self.reserved = self.reserved.checked_add(amount)?;
        Ok(())
    }

    pub fn release(&mut self, amount: Usd) -> Result<(), CreditError> {
        self.reserved =
            self.reserved
                .checked_sub(amount)
                .map_err(|_| CreditError::ReleaseExceedsReserved {
                    requested: amount,
                    reserved: self.reserved,
                })?;
        Ok(())
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Initial => "initial",
            Stage::Balance => "balance",
        })
    }
}
