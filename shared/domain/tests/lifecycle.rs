//! Scenarios through the whole order lifecycle, as the use cases will drive
//! it: each step's status, events and effects on the supplier's limit and
//! the buyer's credit line.

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use domain::actor::{Caller, Party, Provider, Role};
use domain::calendar::Timestamp;
use domain::clocks::Clocks;
use domain::contract::{
    Inspection, InspectionAgency, InspectionLocation, LineItem, Terms, TermsDraft,
};
use domain::coverage::{AssuranceLimit, CoverageType, ReceivingAccount};
use domain::deadline::DeadlineKind;
use domain::dispute::{
    Decision, DisputeOutcome, DisputeReason, DisputeStatus, EscalationGround, ResponseAction,
};
use domain::error::{Conflict, ErrorKind, OrderError, Rule};
use domain::event::{CancelReason, CloseReason, DomainEvent, EventBody, FlagResolution};
use domain::feedback::Rating;
use domain::ids::{ApplicationId, OrderId, PaymentId, UserId};
use domain::order::{
    Counterparty, DisputeResponse, EndReason, NewOrder, OpenDispute, Order, PaymentReport,
    PaymentRequest, RefundReport, ShipmentDetails,
};
use domain::payment::{
    AccountType, CardBrand, CreditLine, FailureReason, FlagReason, PaymentContext, PaymentMethod,
    PaymentRule, PaymentSignal, PaymentStatus, Stage,
};
use domain::refund::{RefundFlagReason, RefundResolution, RefundStatus};
use domain::status::OrderStatus;
use domain::text::{CountryCode, DocumentRef, HttpsUrl, LongText, ShortText};
use domain::{Usd, usd};

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("valid user id")
}
fn buyer() -> Caller {
    Caller::new(user("buyer-1"), [Role::Buyer])
}
fn supplier() -> Caller {
    Caller::new(user("sup-1"), [Role::Supplier])
}
fn arbiter() -> Caller {
    Caller::new(user("arb-1"), [Role::Arbiter])
}
fn other_buyer() -> Caller {
    Caller::new(user("buyer-2"), [Role::Buyer])
}
fn other_supplier() -> Caller {
    Caller::new(user("sup-2"), [Role::Supplier])
}
fn short(s: &str) -> ShortText {
    ShortText::parse(s).expect("valid text")
}
fn long(s: &str) -> LongText {
    LongText::parse(s).expect("valid text")
}
fn start() -> Timestamp {
    // A Monday.
    Utc.with_ymd_and_hms(2027, 1, 4, 9, 0, 0)
        .single()
        .expect("valid time")
}

/// 100 × 30.00 = 3000.00, initial 1500.00, ship by 30 days after `start()`.
fn draft() -> TermsDraft {
    TermsDraft {
        items: vec![LineItem {
            description: short("LED panel"),
            quantity: 100,
            unit_price: usd!("30.00"),
        }],
        shipping_fee: usd!("0.00"),
        initial_payment: usd!("1500.00"),
        ship_by: NaiveDate::from_ymd_opt(2027, 2, 3).expect("valid date"),
        quality_terms: long("IP65, 3 year warranty"),
        destination_country: CountryCode::US,
        coverage: CoverageType::PreShipment,
        inspection: None,
        contract_document: None,
    }
}

fn card() -> PaymentMethod {
    PaymentMethod::CreditCard {
        card_brand: CardBrand::Visa,
    }
}

fn account() -> ReceivingAccount {
    ReceivingAccount {
        bank_name: short("Citibank"),
        account_name: short("Shenzhen LED Co"),
        account_number: short("123456789"),
        swift: short("CITIUS33"),
    }
}

/// One order, the supplier's limit and the buyer's credit line, with every
/// effect applied the way the store will apply it.
struct World {
    now: Timestamp,
    order: Order,
    limit: AssuranceLimit,
    credit: CreditLine,
    events: Vec<DomainEvent>,
    payments: u32,
}

impl World {
    fn new(draft: TermsDraft, limit: Usd) -> World {
        let now = start();
        let terms = Terms::new(draft).expect("valid terms");
        let new = NewOrder {
            id: OrderId::parse("ord_1").expect("valid id"),
            counterparty: Counterparty::Supplier(user("sup-1")),
            terms,
            clocks: Clocks::default(),
        };
        let (order, events) = Order::create(&buyer(), new, now).expect("created");
        let mut credit = CreditLine::apply(
            user("buyer-1"),
            ApplicationId::parse("app_1").expect("valid id"),
            now,
        );
        credit.approve(usd!("50000.00"), now).expect("approved");
        let mut limit = AssuranceLimit::new(user("sup-1"), limit);
        limit.receiving_account = Some(account());
        World {
            now,
            order,
            limit,
            credit,
            events,
            payments: 0,
        }
    }

    fn standard() -> World {
        World::new(draft(), usd!("50000.00"))
    }

    fn advance(&mut self, d: TimeDelta) {
        self.now += d;
    }

    /// Apply a command's effects on the other aggregates, as the store's
    /// transaction will.
    fn apply(&mut self, result: Result<Vec<DomainEvent>, OrderError>) -> Vec<DomainEvent> {
        let events = result.expect("command succeeds");
        for e in &events {
            match &e.body {
                EventBody::CoverageReserved { amount, .. } => {
                    self.limit.reserve(*amount).expect("fits")
                }
                EventBody::ReservationReleased { amount, .. } => {
                    self.limit.release(*amount).expect("reserved")
                }
                EventBody::CreditReserved { amount, .. } => {
                    self.credit.reserve(*amount).expect("credit")
                }
                EventBody::CreditReleased { amount, .. } => {
                    self.credit.release(*amount).expect("credit held")
                }
                _ => {}
            }
        }
        self.events.extend(events.clone());
        events
    }

    fn confirm(&mut self) {
        let v = self.order.version();
        let r = self.order.confirm(&supplier(), v, &self.limit, self.now);
        self.apply(r);
    }

    fn pay(&mut self, stage: Stage, method: PaymentMethod) -> PaymentId {
        self.payments += 1;
        let id = PaymentId::parse(format!("pay_{}", self.payments)).expect("valid id");
        let ctx = PaymentContext {
            credit_line: Some(&self.credit),
            receiving_account: self.limit.receiving_account.as_ref(),
        };
        let req = PaymentRequest {
            id: id.clone(),
            stage,
            method,
        };
        let r = self.order.initiate_payment(&buyer(), req, ctx, self.now);
        self.apply(r);
        id
    }

    fn report(
        &mut self,
        provider: Provider,
        id: &PaymentId,
        signal: PaymentSignal,
    ) -> Vec<DomainEvent> {
        let amount = self
            .order
            .payment(id)
            .map(|p| p.amount)
            .unwrap_or(Usd::ZERO);
        let r = self.order.apply_payment_report(
            provider,
            PaymentReport {
                payment_id: id.clone(),
                signal,
                confirmed: Some((amount, "USD".into())),
                provider_reference: Some("ch_1".into()),
            },
            self.now,
        );
        self.apply(r)
    }

    fn succeed(&mut self, id: &PaymentId) {
        let provider = self
            .order
            .payment(id)
            .map(|p| p.provider())
            .expect("payment");
        self.report(provider, id, PaymentSignal::Succeeded);
    }

    fn ship(&mut self) {
        let r = self.order.ship(
            &supplier(),
            ShipmentDetails {
                carrier: short("DHL"),
                tracking_number: short("1Z999"),
                shipped_at: None,
            },
            self.now,
        );
        self.apply(r);
    }

    /// Confirmed, initial paid by card and arrived.
    fn paid_initial(&mut self) -> PaymentId {
        self.confirm();
        let id = self.pay(Stage::Initial, card());
        self.succeed(&id);
        id
    }

    fn open(&mut self, reason: DisputeReason, refund: Usd) {
        let r = self.order.raise_dispute(
            &buyer(),
            OpenDispute {
                reason,
                requested_refund: refund,
                description: long("not as agreed"),
                evidence: vec![],
            },
            self.now,
        );
        self.apply(r);
    }

    fn respond(&mut self, who: &Caller, action: ResponseAction) -> Vec<DomainEvent> {
        let r = self.order.respond_dispute(
            who,
            DisputeResponse {
                action,
                message: Some(long("see photos")),
                evidence: vec![],
            },
            self.now,
        );
        self.apply(r)
    }

    fn settle_refunds(&mut self) {
        let parts: Vec<_> = self
            .order
            .refunds()
            .iter()
            .filter(|r| r.status == RefundStatus::Requested)
            .map(|r| (r.provider, r.id.clone(), r.amount))
            .collect();
        for (provider, refund_id, amount) in parts {
            let r = self.order.apply_refund_report(
                provider,
                RefundReport {
                    refund_id,
                    succeeded: true,
                    amount: Some(amount),
                },
                self.now,
            );
            self.apply(r);
        }
    }

    fn kinds(events: &[DomainEvent]) -> Vec<&'static str> {
        events.iter().map(|e| e.body.detail_type()).collect()
    }

    /// The scheduled sweep at `now`, its effects applied.
    fn sweep(&mut self) -> Vec<DomainEvent> {
        let r = self.order.sweep(self.now);
        self.apply(r)
    }

    /// The sweep at `due` (nothing happens: a clock fires strictly after
    /// its due instant), then one second later (it fires).
    fn sweep_at_and_after(&mut self, due: Timestamp) -> Vec<DomainEvent> {
        self.now = due;
        let at_due = self.sweep();
        assert!(
            at_due.is_empty(),
            "nothing fires at the due instant itself: {:?}",
            World::kinds(&at_due)
        );
        self.now = due + TimeDelta::seconds(1);
        self.sweep()
    }

    /// The provider of payment `id` reports it failed.
    fn fail(&mut self, id: &PaymentId) -> Vec<DomainEvent> {
        let provider = self
            .order
            .payment(id)
            .map(|p| p.provider())
            .expect("payment");
        self.report(provider, id, PaymentSignal::Failed)
    }

    /// The provider reports refund part `index` (succeeded or failed).
    fn refund_report(&mut self, index: usize, succeeded: bool) -> Vec<DomainEvent> {
        let part = self.order.refunds()[index].clone();
        let r = self.order.apply_refund_report(
            part.provider,
            RefundReport {
                refund_id: part.id,
                succeeded,
                amount: succeeded.then_some(part.amount),
            },
            self.now,
        );
        self.apply(r)
    }

    fn record(
        &mut self,
        customs: Option<Timestamp>,
        delivered: Option<Timestamp>,
    ) -> Vec<DomainEvent> {
        let r = self
            .order
            .record_delivery(&buyer(), customs, delivered, self.now);
        self.apply(r)
    }

    fn deadline(&self, kind: DeadlineKind) -> Option<Timestamp> {
        self.order
            .deadlines()
            .iter()
            .find(|d| d.kind == kind)
            .map(|d| d.due)
    }
}

fn kind_of(r: Result<Vec<DomainEvent>, OrderError>) -> ErrorKind {
    r.expect_err("command is refused").kind()
}

// ---- contract ------------------------------------------------------------------

#[test]
fn happy_path_online_order_completes_and_releases_the_pre_shipment_reservation() {
    let mut w = World::standard();
    assert_eq!(w.order.status(), OrderStatus::AwaitingConfirmation);
    assert_eq!(w.order.version(), 1);
    assert!(
        w.order.confirmations().buyer.is_some(),
        "creator's confirmation is implicit"
    );
    assert!(w.order.confirmations().supplier.is_none());

    w.confirm();
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
    assert_eq!(w.order.coverage().covered_amount, Some(usd!("1500.00")));
    assert_eq!(w.limit.reserved(), usd!("1500.00"));

    let initial = w.pay(Stage::Initial, card());
    assert_eq!(w.order.status(), OrderStatus::InitialPaymentProcessing);
    w.succeed(&initial);
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);

    w.advance(TimeDelta::days(3));
    w.ship();
    assert_eq!(w.order.status(), OrderStatus::Shipped);
    assert!(!w.order.shipment().expect("shipped").late);

    let balance = w.pay(Stage::Balance, card());
    assert_eq!(w.order.status(), OrderStatus::BalancePaymentProcessing);
    assert_eq!(
        w.order.payment(&balance).expect("payment").amount,
        usd!("1500.00")
    );
    w.succeed(&balance);
    assert_eq!(w.order.status(), OrderStatus::AwaitingReceiptConfirmation);

    let r = w.order.confirm_receipt(&buyer(), w.now);
    let events = w.apply(r);
    assert_eq!(w.order.status(), OrderStatus::Completed);
    assert_eq!(
        World::kinds(&events),
        ["ReceiptConfirmed", "ReservationReleased"]
    );
    assert_eq!(
        w.limit.reserved(),
        Usd::ZERO,
        "pre-shipment coverage ends at receipt"
    );

    let r = w.order.leave_feedback(
        &buyer(),
        Rating::parse(5).expect("rating"),
        long("great"),
        w.now,
    );
    w.apply(r);
    let again = w.order.leave_feedback(
        &buyer(),
        Rating::parse(4).expect("rating"),
        long("again"),
        w.now,
    );
    assert_eq!(
        again,
        Err(OrderError::Conflict(Conflict::FeedbackAlreadyLeft))
    );

    assert_eq!(w.order.amount_paid(), usd!("3000.00"));
    let statuses: Vec<_> = w.events.iter().map(|e| e.status).collect();
    assert!(
        statuses
            .windows(2)
            .all(|p| p[0] <= p[1] || p[1] == OrderStatus::Completed)
    );
}

#[test]
fn offline_order_is_drafted_by_the_supplier_with_a_document_and_confirmed_by_the_buyer() {
    let mut d = draft();
    d.contract_document = Some(DocumentRef {
        name: short("contract.pdf"),
        url: HttpsUrl::parse("https://contracts.example.com/ord_2.pdf").expect("url"),
        sha256: domain::text::Sha256Hex::parse(&"ab".repeat(32)).expect("digest"),
    });
    let terms = Terms::new(d).expect("terms");
    let new = NewOrder {
        id: OrderId::parse("ord_2").expect("id"),
        counterparty: Counterparty::Buyer(user("buyer-1")),
        terms,
        clocks: Clocks::default(),
    };
    let (mut order, events) = Order::create(&supplier(), new, start()).expect("created");
    assert_eq!(World::kinds(&events), ["OrderCreated"]);
    assert!(order.confirmations().supplier.is_some());
    let limit = AssuranceLimit::new(user("sup-1"), usd!("50000.00"));
    // The supplier already confirmed (it drafted the contract).
    assert_eq!(
        order.confirm(&supplier(), 1, &limit, start()),
        Err(OrderError::Conflict(Conflict::AlreadyConfirmed))
    );
    order
        .confirm(&buyer(), 1, &limit, start())
        .expect("buyer confirms");
    assert_eq!(order.status(), OrderStatus::AwaitingInitialPayment);
}

#[test]
fn when_buyer_and_supplier_are_the_same_user_creation_is_refused() {
    let both = Caller::new(user("same"), [Role::Buyer, Role::Supplier]);
    let new = NewOrder {
        id: OrderId::parse("ord_3").expect("id"),
        counterparty: Counterparty::Supplier(user("same")),
        terms: Terms::new(draft()).expect("terms"),
        clocks: Clocks::default(),
    };
    assert_eq!(
        Order::create(&both, new, start()).map(|_| ()),
        Err(OrderError::Rule(Rule::SameBuyerAndSupplier))
    );
}

#[test]
fn when_a_supplier_names_a_supplier_or_a_buyer_names_a_buyer_creation_is_forbidden() {
    let new = |c| NewOrder {
        id: OrderId::parse("ord_4").expect("id"),
        counterparty: c,
        terms: Terms::new(draft()).expect("terms"),
        clocks: Clocks::default(),
    };
    let r = Order::create(
        &supplier(),
        new(Counterparty::Supplier(user("sup-9"))),
        start(),
    );
    assert_eq!(
        r.map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::Forbidden)
    );
    let r = Order::create(&buyer(), new(Counterparty::Buyer(user("buyer-9"))), start());
    assert_eq!(
        r.map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::Forbidden)
    );
}

#[test]
fn when_ship_by_is_in_the_past_creation_is_refused() {
    let mut d = draft();
    d.ship_by = NaiveDate::from_ymd_opt(2027, 1, 3).expect("date");
    let new = NewOrder {
        id: OrderId::parse("ord_5").expect("id"),
        counterparty: Counterparty::Supplier(user("sup-1")),
        terms: Terms::new(d).expect("terms"),
        clocks: Clocks::default(),
    };
    assert_eq!(
        Order::create(&buyer(), new, start()).map(|_| ()),
        Err(OrderError::Rule(Rule::ShipByInPast))
    );
}

#[test]
fn an_amendment_clears_the_counterpartys_confirmation_and_a_stale_version_cannot_be_confirmed() {
    let mut w = World::standard();
    let seen = w.order.version();
    let mut d = draft();
    d.initial_payment = usd!("1000.00");
    let r = w
        .order
        .amend(&supplier(), Terms::new(d).expect("terms"), w.now);
    w.apply(r);
    assert_eq!(w.order.version(), seen + 1);
    assert!(
        w.order.confirmations().buyer.is_none(),
        "the buyer must confirm again"
    );
    assert!(
        w.order.confirmations().supplier.is_some(),
        "the amender stands by it"
    );
    // The supplier now cannot confirm what it just amended; the buyer must,
    // and only the version it saw.
    let stale = w.order.confirm(&buyer(), seen, &w.limit, w.now);
    assert_eq!(
        stale,
        Err(OrderError::Conflict(Conflict::VersionMismatch {
            seen,
            current: seen + 1
        }))
    );
    let v = w.order.version();
    let r = w.order.confirm(&buyer(), v, &w.limit, w.now);
    w.apply(r);
    assert_eq!(w.order.coverage().covered_amount, Some(usd!("1000.00")));
}

#[test]
fn a_reminder_records_an_event_but_does_not_change_the_order_or_its_version() {
    let mut w = World::standard();
    let before = w.order.clone();
    let events = w.order.remind(&buyer(), w.now).expect("reminded");
    assert_eq!(World::kinds(&events), ["ConfirmationReminded"]);
    // The terms, the status and the version a counterparty confirms stay;
    // only the stored revision records the reminder.
    assert_eq!(w.order.version(), before.version());
    assert_eq!(w.order.revision(), before.revision() + 1);
    assert_eq!(w.order.status(), before.status());
    assert_eq!(w.order.terms(), before.terms());
    assert_eq!(w.order.confirmations(), before.confirmations());
    assert_eq!(w.order.updated_at(), before.updated_at());
    // The supplier has not confirmed: the supplier may not remind the buyer,
    // who already has.
    assert_eq!(
        w.order.remind(&supplier(), w.now),
        Err(OrderError::Conflict(Conflict::NothingToRemind))
    );
}

#[test]
fn strangers_get_404_the_other_side_gets_403_and_arbiters_may_not_act_as_parties() {
    let mut w = World::standard();
    w.paid_initial();
    let ship = |o: &mut Order, c: &Caller| {
        o.ship(
            c,
            ShipmentDetails {
                carrier: short("DHL"),
                tracking_number: short("1"),
                shipped_at: None,
            },
            start(),
        )
    };
    assert_eq!(
        kind_of(ship(&mut w.order, &other_buyer())),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind_of(ship(&mut w.order, &other_supplier())),
        ErrorKind::NotFound
    );
    assert_eq!(kind_of(ship(&mut w.order, &buyer())), ErrorKind::Forbidden);
    assert_eq!(
        kind_of(ship(&mut w.order, &arbiter())),
        ErrorKind::Forbidden
    );
    assert!(w.order.visible_to(&arbiter()));
    assert!(!w.order.visible_to(&other_buyer()));
    // A user in the buyer group whose id is the supplier's is not the buyer.
    let impostor = Caller::new(user("sup-1"), [Role::Buyer]);
    assert_eq!(w.order.viewer(&impostor), Err(OrderError::NotFound));
}

#[test]
fn the_404_check_comes_before_the_status_check() {
    let mut w = World::standard();
    // Wrong status for shipping *and* a stranger: the stranger learns nothing.
    let r = w.order.ship(
        &other_supplier(),
        ShipmentDetails {
            carrier: short("DHL"),
            tracking_number: short("1"),
            shipped_at: None,
        },
        w.now,
    );
    assert_eq!(r, Err(OrderError::NotFound));
}

#[test]
fn confirmation_needs_a_supplier_with_assurance_limit_available() {
    let mut w = World::new(draft(), usd!("0.00"));
    let v = w.order.version();
    let r = w.order.confirm(&supplier(), v, &w.limit, w.now);
    assert_eq!(r, Err(OrderError::Rule(Rule::NoAssuranceLimitAvailable)));
    // Room made by raising the limit: covered amount capped by what is available.
    w.limit.set_limit(usd!("700.00"));
    w.confirm();
    assert_eq!(w.order.coverage().covered_amount, Some(usd!("700.00")));
    assert_eq!(w.limit.available(), Usd::ZERO);
}

#[test]
fn cancelling_before_payment_releases_the_reservation_and_is_refused_while_a_payment_is_in_flight()
{
    let mut w = World::standard();
    w.confirm();
    let r = w.order.cancel(&supplier(), w.now);
    let events = w.apply(r);
    assert_eq!(
        World::kinds(&events),
        ["OrderCancelled", "ReservationReleased"]
    );
    assert_eq!(w.limit.reserved(), Usd::ZERO);

    let mut w = World::standard();
    w.confirm();
    w.pay(Stage::Initial, card());
    assert_eq!(
        kind_of(w.order.cancel(&buyer(), w.now)),
        ErrorKind::Conflict
    );
}

// ---- payments --------------------------------------------------------------------

#[test]
fn provider_events_in_any_order_never_move_a_payment_backwards() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card());
    w.succeed(&id);
    let version = w.order.version();
    // Late "processing", a duplicate "succeeded": nothing changes.
    assert!(
        w.report(Provider::Card, &id, PaymentSignal::Processing)
            .is_empty()
    );
    assert!(
        w.report(Provider::Card, &id, PaymentSignal::Succeeded)
            .is_empty()
    );
    assert_eq!(w.order.version(), version);
    assert_eq!(
        w.order.payment(&id).expect("payment").status,
        PaymentStatus::Succeeded
    );
    // A failure after success contradicts a final status: flagged, not applied.
    let events = w.report(Provider::Card, &id, PaymentSignal::Failed);
    assert_eq!(World::kinds(&events), ["PaymentFlagged"]);
    let p = w.order.payment(&id).expect("payment");
    assert_eq!(p.status, PaymentStatus::Succeeded);
    assert_eq!(
        p.flag.as_ref().map(|f| f.reason),
        Some(FlagReason::ContradictsFinalStatus)
    );
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
}

#[test]
fn a_failed_initial_payment_returns_the_order_to_awaiting_payment_and_can_be_retried() {
    let mut w = World::standard();
    w.confirm();
    let first = w.pay(Stage::Initial, card());
    w.report(Provider::Card, &first, PaymentSignal::Failed);
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
    let second = w.pay(
        Stage::Initial,
        PaymentMethod::ECheck {
            bank_country: CountryCode::US,
            account_type: AccountType::Checking,
        },
    );
    let p = w.order.payment(&second).expect("payment");
    assert_eq!(p.fee, usd!("15.00"));
    assert_eq!(
        p.amount,
        usd!("1500.00"),
        "the fee is on top, not in the amount"
    );
    w.succeed(&second);
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
}

#[test]
fn a_second_payment_for_a_stage_in_flight_is_a_conflict() {
    let mut w = World::standard();
    w.confirm();
    w.pay(Stage::Initial, card());
    let ctx = PaymentContext::default();
    let req = PaymentRequest {
        id: PaymentId::parse("pay_x").expect("id"),
        stage: Stage::Initial,
        method: card(),
    };
    assert_eq!(
        w.order.initiate_payment(&buyer(), req, ctx, w.now),
        Err(OrderError::Conflict(Conflict::PaymentInFlight(
            Stage::Initial
        )))
    );
}

#[test]
fn a_confirmation_signed_by_the_wrong_provider_or_for_another_amount_is_flagged_not_applied() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card());
    let events = w.report(Provider::Bank, &id, PaymentSignal::Succeeded);
    assert_eq!(World::kinds(&events), ["PaymentFlagged"]);
    assert_eq!(w.order.status(), OrderStatus::InitialPaymentProcessing);

    assert_eq!(
        w.order
            .payment(&id)
            .and_then(|p| p.flag.as_ref())
            .map(|f| f.reason),
        Some(FlagReason::WrongProvider)
    );

    let confirmation = |amount: Usd, currency: &str| PaymentReport {
        payment_id: id.clone(),
        signal: PaymentSignal::Succeeded,
        confirmed: Some((amount, currency.into())),
        provider_reference: None,
    };
    // Money confirmed in another currency: a flag about money replaces
    // the one about the event (shown on a copy of the order).
    let mut copy = w.order.clone();
    let events = copy
        .apply_payment_report(Provider::Card, confirmation(usd!("1500.00"), "EUR"), w.now)
        .expect("applied");
    assert_eq!(World::kinds(&events), ["PaymentFlagged"]);
    let p = copy.payment(&id).expect("payment");
    assert_eq!(
        p.flag.as_ref().map(|f| f.reason),
        Some(FlagReason::CurrencyMismatch)
    );
    assert_eq!(p.status, PaymentStatus::Processing);

    // Money confirmed for another amount: likewise.
    let r =
        w.order
            .apply_payment_report(Provider::Card, confirmation(usd!("1499.99"), "USD"), w.now);
    let events = w.apply(r);
    assert_eq!(World::kinds(&events), ["PaymentFlagged"]);
    let p = w.order.payment(&id).expect("payment");
    assert_eq!(
        p.flag.as_ref().map(|f| f.reason),
        Some(FlagReason::AmountMismatch)
    );
    assert_eq!(p.status, PaymentStatus::Processing);

    // A flag about money stays what the arbiter resolves: a later
    // confirmation in another currency changes nothing (no new event).
    let before = w.order.clone();
    let r =
        w.order
            .apply_payment_report(Provider::Card, confirmation(usd!("1500.00"), "EUR"), w.now);
    assert!(w.apply(r).is_empty(), "no new flag");
    assert_eq!(w.order, before);
    assert_eq!(
        w.order
            .payment(&id)
            .and_then(|p| p.flag.as_ref())
            .map(|f| f.reason),
        Some(FlagReason::AmountMismatch)
    );

    // Only an arbiter resolves it; accepting it applies it.
    assert_eq!(
        kind_of(
            w.order
                .resolve_payment(&buyer(), &id, FlagResolution::Accept, w.now)
        ),
        ErrorKind::Forbidden
    );
    let r = w
        .order
        .resolve_payment(&arbiter(), &id, FlagResolution::Accept, w.now);
    w.apply(r);
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
    assert!(w.order.payment(&id).expect("payment").flag.is_none());
}

#[test]
fn an_arbiter_refunding_a_flagged_payment_returns_the_money_and_the_stage_is_unpaid_again() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card());
    // Money arrived, for another amount: flagged, not applied. (A flag that
    // says no money arrived, such as the wrong provider's event, is only
    // acknowledged: see a_flag_that_says_no_money_arrived_is_acknowledged_never_refunded.)
    let r = w.order.apply_payment_report(
        Provider::Card,
        PaymentReport {
            payment_id: id.clone(),
            signal: PaymentSignal::Succeeded,
            confirmed: Some((usd!("1499.99"), "USD".into())),
            provider_reference: None,
        },
        w.now,
    );
    w.apply(r);
    let r = w
        .order
        .resolve_payment(&arbiter(), &id, FlagResolution::Refund, w.now);
    let events = w.apply(r);
    assert_eq!(
        World::kinds(&events),
        ["PaymentFlagResolved", "RefundRequested"]
    );
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
    assert_eq!(
        w.order.amount_paid(),
        Usd::ZERO,
        "money being returned cannot be claimed again in a dispute"
    );
    assert_eq!(w.order.amount_refunded(), Usd::ZERO);
    w.settle_refunds();
    assert_eq!(w.order.amount_refunded(), usd!("1500.00"));
}

#[test]
fn pay_later_reserves_credit_waits_for_the_agreement_and_releases_credit_on_failure() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, PaymentMethod::PayLater { term_months: 3 });
    assert_eq!(w.credit.reserved(), usd!("1500.00"));
    assert_eq!(
        w.order.payment(&id).expect("p").status,
        PaymentStatus::AwaitingAgreement
    );
    w.advance(TimeDelta::days(2)); // Wednesday
    w.report(Provider::Paylater, &id, PaymentSignal::AgreementCompleted);
    let p = w.order.payment(&id).expect("p");
    assert_eq!(p.status, PaymentStatus::Processing);
    assert_eq!(
        p.expected_arrival.earliest,
        NaiveDate::from_ymd_opt(2027, 1, 7).expect("date")
    );
    assert_eq!(
        p.expected_arrival.latest,
        NaiveDate::from_ymd_opt(2027, 1, 11).expect("date")
    );
    w.report(Provider::Paylater, &id, PaymentSignal::Failed);
    assert_eq!(w.credit.reserved(), Usd::ZERO, "credit back on failure");
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
}

#[test]
fn pay_later_without_enough_credit_is_refused_naming_the_rule() {
    let mut w = World::standard();
    w.confirm();
    w.credit.reserve(usd!("49000.00")).expect("room");
    let ctx = PaymentContext {
        credit_line: Some(&w.credit),
        receiving_account: None,
    };
    let req = PaymentRequest {
        id: PaymentId::parse("pay_pl").expect("id"),
        stage: Stage::Initial,
        method: PaymentMethod::PayLater { term_months: 6 },
    };
    let r = w.order.initiate_payment(&buyer(), req, ctx, w.now);
    assert_eq!(
        r,
        Err(OrderError::Rule(Rule::Payment(
            PaymentRule::InsufficientCredit {
                amount: usd!("1500.00"),
                available: usd!("1000.00")
            }
        )))
    );
}

#[test]
fn a_wire_transfer_carries_the_suppliers_account_and_a_unique_reference() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, PaymentMethod::TelegraphicTransfer);
    let p = w.order.payment(&id).expect("payment");
    let wire = p.instructions.as_ref().expect("instructions");
    assert_eq!(wire.account, account());
    assert_eq!(wire.reference, "TA-1");
    assert_eq!(wire.amount, usd!("1500.00"));
    assert_eq!(p.provider(), Provider::Bank);
    // Monday + 3..7 working days.
    assert_eq!(
        p.expected_arrival.earliest,
        NaiveDate::from_ymd_opt(2027, 1, 7).expect("date")
    );
    assert_eq!(
        p.expected_arrival.latest,
        NaiveDate::from_ymd_opt(2027, 1, 13).expect("date")
    );
}

#[test]
fn the_inspection_fee_is_a_line_of_the_initial_payment_and_not_of_the_coverage() {
    let mut d = draft();
    d.inspection = Some(Inspection {
        agency: InspectionAgency::Sgs,
        location: InspectionLocation::Overseas,
    });
    let mut w = World::new(d, usd!("50000.00"));
    w.confirm();
    assert_eq!(w.order.coverage().covered_amount, Some(usd!("1500.00")));
    let id = w.pay(Stage::Initial, card());
    let p = w.order.payment(&id).expect("payment");
    assert_eq!(p.amount, usd!("1800.00"));
    assert_eq!(p.inspection_fee, usd!("300.00"));
    w.succeed(&id);
    assert_eq!(
        w.order.amount_paid(),
        usd!("1500.00"),
        "the fee is not paid for goods"
    );
}

#[test]
fn the_balance_is_paid_only_after_shipment_and_not_while_a_dispute_is_unresolved() {
    let mut w = World::standard();
    w.paid_initial();
    let req = |id: &str| PaymentRequest {
        id: PaymentId::parse(id).expect("id"),
        stage: Stage::Balance,
        method: card(),
    };
    let ctx = PaymentContext::default();
    assert_eq!(
        kind_of(
            w.order
                .initiate_payment(&buyer(), req("pay_b1"), ctx, w.now)
        ),
        ErrorKind::Conflict
    );
    w.advance(TimeDelta::days(31)); // past ship-by: late
    w.ship();
    assert!(w.order.shipment().expect("shipment").late);
    w.open(DisputeReason::LateShipment, usd!("500.00"));
    assert_eq!(
        w.order
            .initiate_payment(&buyer(), req("pay_b2"), ctx, w.now),
        Err(OrderError::Conflict(Conflict::DisputeUnresolved))
    );
}

#[test]
fn an_order_with_no_balance_waits_for_receipt_confirmation_right_after_shipment() {
    let mut d = draft();
    d.initial_payment = usd!("3000.00");
    let mut w = World::new(d, usd!("50000.00"));
    w.paid_initial();
    w.ship();
    assert_eq!(w.order.status(), OrderStatus::AwaitingReceiptConfirmation);
}

// ---- disputes and refunds ----------------------------------------------------------

#[test]
fn a_late_shipment_claim_accepted_by_the_supplier_is_refunded_newest_payment_first() {
    let mut d = draft();
    d.coverage = CoverageType::PostDelivery;
    let mut w = World::new(d, usd!("50000.00"));
    w.paid_initial();
    w.advance(TimeDelta::days(31));
    w.ship();
    let balance = w.pay(Stage::Balance, card());
    w.succeed(&balance);
    assert_eq!(w.order.coverage().covered_amount, Some(usd!("3000.00")));
    w.open(DisputeReason::LateShipment, usd!("2000.00"));
    // Receipt is blocked while the dispute is unresolved.
    assert_eq!(
        w.order.confirm_receipt(&buyer(), w.now),
        Err(OrderError::Conflict(Conflict::DisputeUnresolved))
    );
    let events = w.respond(&supplier(), ResponseAction::Accept);
    // 2,000.00 of the 3,000.00 paid is a compensation: the order goes on and
    // the covered amount still reserved shrinks by what was refunded.
    assert_eq!(
        World::kinds(&events),
        [
            "DisputeResponded",
            "DisputeResolved",
            "ReservationReleased",
            "RefundRequested",
            "RefundRequested"
        ]
    );
    assert_eq!(w.order.status(), OrderStatus::AwaitingReceiptConfirmation);
    assert_eq!(w.limit.reserved(), usd!("1000.00"));
    let parts: Vec<_> = w
        .order
        .refunds()
        .iter()
        .map(|r| (r.payment_id.as_str().to_owned(), r.amount))
        .collect();
    assert_eq!(
        parts,
        [
            ("pay_2".to_owned(), usd!("1500.00")),
            ("pay_1".to_owned(), usd!("500.00"))
        ],
        "newest payment first"
    );
    w.settle_refunds();
    assert_eq!(w.order.status(), OrderStatus::AwaitingReceiptConfirmation);
    assert_eq!(w.order.amount_refunded(), usd!("2000.00"));
    assert_eq!(
        w.order.payment(&balance).map(|p| p.status),
        Some(PaymentStatus::Refunded),
        "refunds of its whole amount settled"
    );
    assert_eq!(
        w.order
            .payment(&PaymentId::parse("pay_1").expect("id"))
            .map(|p| p.status),
        Some(PaymentStatus::Succeeded),
        "a partly refunded payment stays succeeded"
    );
    assert!(
        !w.events
            .iter()
            .any(|e| matches!(e.body, EventBody::OrderRefunded { .. })),
        "a compensation does not close the order"
    );
    let r = w.order.confirm_receipt(&buyer(), w.now);
    w.apply(r);
    assert_eq!(w.order.status(), OrderStatus::Completed);
}

#[test]
fn a_counter_offer_accepted_by_the_buyer_resolves_the_dispute_with_the_offer() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("1500.00"));
    assert_eq!(
        kind_of(w.order.respond_dispute(
            &buyer(),
            DisputeResponse {
                action: ResponseAction::Offer(usd!("1.00")),
                message: None,
                evidence: vec![]
            },
            w.now
        )),
        ErrorKind::Forbidden
    );
    w.respond(&supplier(), ResponseAction::Offer(usd!("600.00")));
    let d = w.order.dispute().expect("dispute");
    assert_eq!(d.status, DisputeStatus::Negotiating);
    assert_eq!(d.pending_offer, Some(usd!("600.00")));
    w.respond(&buyer(), ResponseAction::Accept);
    let d = w.order.dispute().expect("dispute");
    assert_eq!(d.outcome, Some(DisputeOutcome::Agreed));
    assert_eq!(d.refund_amount, Some(usd!("600.00")));
    assert_eq!(
        d.entries.len(),
        3,
        "opened, offered, accepted — who, what, when"
    );
    // 600.00 of the 1,500.00 paid: a compensation, the order goes on.
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
    assert_eq!(w.order.coverage().reserved, usd!("900.00"));
    assert_eq!(w.limit.reserved(), usd!("900.00"));
    assert_eq!(w.order.covered_left(), usd!("900.00"));
}

#[test]
fn a_silent_supplier_is_escalated_by_the_sweep_after_five_days_and_the_arbiter_refunds_the_inspection_fee_too()
 {
    let mut d = draft();
    d.inspection = Some(Inspection {
        agency: InspectionAgency::Bv,
        location: InspectionLocation::China,
    });
    let mut w = World::new(d, usd!("50000.00"));
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("1500.00"));
    // Not yet: the buyer may not escalate, the sweep does nothing.
    assert_eq!(
        kind_of(w.order.escalate_dispute(&buyer(), w.now)),
        ErrorKind::Unprocessable
    );
    // A clock fires strictly after its instant: at 5 days the supplier may
    // still answer; one second later the sweep escalates.
    w.advance(TimeDelta::days(5));
    let r = w.order.sweep(w.now);
    assert!(w.apply(r).is_empty());
    w.advance(TimeDelta::seconds(1));
    let r = w.order.sweep(w.now);
    assert_eq!(World::kinds(&w.apply(r)), ["DisputeEscalated"]);
    let d = w.order.dispute().expect("dispute");
    assert_eq!(d.status, DisputeStatus::Escalated);
    assert_eq!(
        d.escalation_ground,
        Some(EscalationGround::SupplierNoResponse)
    );
    // Running the sweep again is harmless.
    let version = w.order.version();
    let r = w.order.sweep(w.now);
    assert!(w.apply(r).is_empty());
    assert_eq!(w.order.version(), version);

    assert_eq!(
        w.order.decide_dispute(
            &arbiter(),
            Decision::SupplierAtFault(usd!("1500.01")),
            w.now
        ),
        Err(OrderError::Rule(Rule::RefundExceedsCovered(usd!(
            "1500.00"
        ))))
    );
    let r = w.order.decide_dispute(
        &arbiter(),
        Decision::SupplierAtFault(usd!("1500.00")),
        w.now,
    );
    w.apply(r);
    let d = w.order.dispute().expect("dispute");
    assert_eq!(d.outcome, Some(DisputeOutcome::SupplierAtFault));
    assert_eq!(d.inspection_fee_refund, Some(usd!("200.00")));
    let total: Usd = Usd::sum(w.order.refunds().iter().map(|r| r.amount)).expect("sum");
    assert_eq!(
        total,
        usd!("1700.00"),
        "decided refund + inspection fee outside the cap"
    );
    w.settle_refunds();
    assert_eq!(w.order.status(), OrderStatus::Refunded);
}

#[test]
fn a_partial_refund_with_the_inspection_fee_leaves_the_rest_of_the_goods_paid() {
    let mut d = draft();
    d.inspection = Some(Inspection {
        agency: InspectionAgency::Bv,
        location: InspectionLocation::China,
    });
    let mut w = World::new(d, usd!("50000.00"));
    w.paid_initial();
    assert_eq!(
        w.order.amount_paid(),
        usd!("1500.00"),
        "the fee is not goods"
    );
    w.open(DisputeReason::Quality, usd!("1000.00"));
    w.advance(TimeDelta::days(5) + TimeDelta::seconds(1));
    let r = w.order.sweep(w.now);
    w.apply(r);
    let r = w.order.decide_dispute(
        &arbiter(),
        Decision::SupplierAtFault(usd!("1000.00")),
        w.now,
    );
    w.apply(r);
    // 1,200.00 goes back through the one payment (refund + fee); of the
    // 1,500.00 paid for the goods, 500.00 is still paid.
    let total: Usd = Usd::sum(w.order.refunds().iter().map(|r| r.amount)).expect("sum");
    assert_eq!(total, usd!("1200.00"));
    assert_eq!(w.order.amount_paid(), usd!("500.00"));
}

#[test]
fn a_rejected_claim_lets_the_order_continue_where_it_was() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("100.00"));
    w.respond(&supplier(), ResponseAction::Reject);
    // A rejection lets the buyer escalate at once.
    let r = w.order.escalate_dispute(&buyer(), w.now);
    w.apply(r);
    assert_eq!(
        w.order.dispute().and_then(|d| d.escalation_ground),
        Some(EscalationGround::SupplierRejected)
    );
    let r = w
        .order
        .decide_dispute(&arbiter(), Decision::ClaimRejected, w.now);
    w.apply(r);
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
    assert!(w.order.refunds().is_empty());
    w.ship();
    assert_eq!(w.order.status(), OrderStatus::Shipped);
}

#[test]
fn shipment_is_not_blocked_by_a_dispute_and_a_withdrawn_dispute_unblocks_receipt() {
    let mut d = draft();
    d.initial_payment = usd!("3000.00");
    let mut w = World::new(d, usd!("50000.00"));
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("100.00"));
    w.ship();
    assert_eq!(w.order.status(), OrderStatus::AwaitingReceiptConfirmation);
    let r = w.order.withdraw_dispute(&buyer(), w.now);
    w.apply(r);
    assert_eq!(
        w.order.dispute().and_then(|d| d.outcome),
        Some(DisputeOutcome::Withdrawn)
    );
    let r = w.order.confirm_receipt(&buyer(), w.now);
    w.apply(r);
    assert_eq!(w.order.status(), OrderStatus::Completed);
}

#[test]
fn one_dispute_at_a_time_and_only_once_the_initial_payment_has_arrived() {
    let mut w = World::standard();
    w.confirm();
    let open = |o: &mut Order, now| {
        o.raise_dispute(
            &buyer(),
            OpenDispute {
                reason: DisputeReason::Quality,
                requested_refund: usd!("10.00"),
                description: long("bad"),
                evidence: vec![],
            },
            now,
        )
    };
    assert_eq!(kind_of(open(&mut w.order, w.now)), ErrorKind::Conflict);
    let id = w.pay(Stage::Initial, card());
    assert_eq!(kind_of(open(&mut w.order, w.now)), ErrorKind::Conflict);
    w.succeed(&id);
    let opened = open(&mut w.order, w.now);
    w.apply(opened);
    assert_eq!(
        open(&mut w.order, w.now),
        Err(OrderError::Conflict(Conflict::DisputeAlreadyOpen))
    );
}

#[test]
fn a_failed_refund_part_is_requested_again_and_not_flagged_at_once() {
    let mut w = World::standard();
    w.paid_initial();
    // Everything paid: a closing refund.
    w.open(DisputeReason::Quality, usd!("1500.00"));
    w.respond(&supplier(), ResponseAction::Accept);
    assert_eq!(w.order.status(), OrderStatus::RefundPending);
    let part = w.order.refunds()[0].clone();
    let r = w.order.apply_refund_report(
        Provider::Card,
        RefundReport {
            refund_id: part.id.clone(),
            succeeded: false,
            amount: None,
        },
        w.now,
    );
    let events = w.apply(r);
    assert_eq!(World::kinds(&events), ["RefundFailed", "RefundRequested"]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e.body, EventBody::RefundRequested { attempt: 2, .. }))
    );
    let again = &w.order.refunds()[0];
    assert!(!again.flagged, "retried, not waiting for an operator yet");
    assert_eq!(again.attempts, 2);
    assert_eq!(again.attempt_key(), format!("{}:2", part.id));
    assert_eq!(w.order.status(), OrderStatus::RefundPending);
    w.settle_refunds();
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    // A duplicate success changes nothing.
    let version = w.order.version();
    let r = w.order.apply_refund_report(
        Provider::Card,
        RefundReport {
            refund_id: part.id,
            succeeded: true,
            amount: Some(part.amount),
        },
        w.now,
    );
    assert!(w.apply(r).is_empty());
    assert_eq!(w.order.version(), version);
}

#[test]
fn money_arriving_on_a_closed_order_is_flagged_and_refunded_automatically() {
    let mut w = World::standard();
    w.paid_initial();
    w.advance(TimeDelta::days(31));
    w.ship();
    let balance = w.pay(Stage::Balance, card());
    // A dispute opened while the balance is in flight ends in a refund.
    w.open(DisputeReason::LateShipment, usd!("1500.00"));
    w.respond(&supplier(), ResponseAction::Accept);
    w.settle_refunds();
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    let events = w.report(Provider::Card, &balance, PaymentSignal::Succeeded);
    assert_eq!(
        World::kinds(&events),
        ["PaymentSucceeded", "PaymentFlagged", "RefundRequested"]
    );
    assert_eq!(
        w.order.status(),
        OrderStatus::Refunded,
        "a terminal status stays"
    );
    assert_eq!(
        w.order
            .payment(&balance)
            .and_then(|p| p.flag.as_ref())
            .map(|f| f.reason),
        Some(FlagReason::ClosedOrder)
    );
    // A later event from the wrong provider does not replace that flag.
    let events = w.report(Provider::Echeck, &balance, PaymentSignal::Succeeded);
    assert!(
        World::kinds(&events).is_empty(),
        "{:?}",
        World::kinds(&events)
    );
    assert_eq!(
        w.order
            .payment(&balance)
            .and_then(|p| p.flag.as_ref())
            .map(|f| f.reason),
        Some(FlagReason::ClosedOrder)
    );
}

// ---- the sweeps and deadlines ----------------------------------------------------------

#[test]
fn the_sweep_cancels_an_order_unpaid_for_30_days_and_releases_its_reservation() {
    let mut w = World::standard();
    w.confirm();
    w.advance(TimeDelta::days(30));
    let r = w.order.sweep(w.now);
    assert!(w.apply(r).is_empty(), "not at the due instant itself");
    w.advance(TimeDelta::seconds(1));
    let r = w.order.sweep(w.now);
    let events = w.apply(r);
    assert_eq!(
        World::kinds(&events),
        ["OrderCancelled", "ReservationReleased"]
    );
    assert!(matches!(
        events[0].body,
        EventBody::OrderCancelled {
            reason: CancelReason::Unpaid
        }
    ));
    assert_eq!(w.limit.reserved(), Usd::ZERO);
}

#[test]
fn the_30_day_clock_pauses_while_a_payment_is_in_flight_and_resumes_after_it_fails() {
    let mut w = World::standard();
    w.confirm();
    let confirmed = w.now;
    w.advance(TimeDelta::days(20));
    let id = w.pay(Stage::Initial, card());
    assert_eq!(w.order.unpaid_due(), None, "paused while in flight");
    w.advance(TimeDelta::days(1));
    w.report(Provider::Card, &id, PaymentSignal::Failed);
    // 10 of the 30 days were left when the payment started: they resume.
    let due = w.now + TimeDelta::days(10);
    assert_eq!(w.order.unpaid_due(), Some(due));
    assert!(due > confirmed + TimeDelta::days(30));
    w.now = due;
    let r = w.order.sweep(w.now);
    assert!(
        w.apply(r).is_empty(),
        "31 days since confirmation, 30 unpaid"
    );
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
    w.advance(TimeDelta::seconds(1));
    let r = w.order.sweep(w.now);
    w.apply(r);
    assert_eq!(w.order.status(), OrderStatus::Cancelled);
}

#[test]
fn the_sweep_flags_an_overdue_payment_once() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card()); // Monday: latest Thursday
    w.advance(TimeDelta::days(3) + TimeDelta::hours(14)); // Thursday 23:00
    let r = w.order.sweep(w.now);
    assert!(w.apply(r).is_empty());
    w.advance(TimeDelta::hours(1)); // Friday 00:00
    let r = w.order.sweep(w.now);
    assert_eq!(
        World::kinds(&w.apply(r)),
        ["PaymentOverdue", "PaymentFlagged"]
    );
    let r = w.order.sweep(w.now);
    assert!(w.apply(r).is_empty(), "flagged once");
    // The money arriving late clears the overdue flag and is applied.
    w.succeed(&id);
    assert!(w.order.payment(&id).expect("p").flag.is_none());
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
}

#[test]
fn post_delivery_coverage_ends_with_the_quality_window_and_the_sweep_releases_it() {
    let mut d = draft();
    d.coverage = CoverageType::PostDelivery;
    d.initial_payment = usd!("3000.00");
    let mut w = World::new(d, usd!("2000.00"));
    w.paid_initial();
    assert_eq!(w.order.coverage().covered_amount, Some(usd!("2000.00")));
    w.ship();
    let shipped_at = w.now;
    w.advance(TimeDelta::days(10));
    let customs = w.now;
    let r = w
        .order
        .record_delivery(&buyer(), Some(customs), None, w.now);
    w.apply(r);
    let r = w.order.confirm_receipt(&buyer(), w.now);
    w.apply(r);
    assert_eq!(
        w.limit.reserved(),
        usd!("2000.00"),
        "post-delivery coverage outlives receipt"
    );
    let end = customs + TimeDelta::days(15);
    assert_eq!(w.order.quality_window_end(), Some(end));
    assert!(end < shipped_at + TimeDelta::days(180));
    assert!(
        w.order
            .deadlines()
            .iter()
            .any(|d| d.kind == DeadlineKind::QualityWindowEnd && d.due == end)
    );
    let release_due = end + TimeDelta::seconds(1);
    assert_eq!(w.order.next_sweep_due(), Some(release_due));
    w.now = release_due;
    let r = w.order.sweep(w.now);
    assert_eq!(World::kinds(&w.apply(r)), ["ReservationReleased"]);
    assert_eq!(w.limit.reserved(), Usd::ZERO);
    assert_eq!(w.order.next_sweep_due(), None);
}

#[test]
fn customs_clearance_is_recorded_once_and_only_the_buyer_records_delivery() {
    let mut w = World::standard();
    w.paid_initial();
    assert_eq!(
        kind_of(w.order.record_delivery(&buyer(), Some(w.now), None, w.now)),
        ErrorKind::Conflict,
        "not before shipment"
    );
    w.ship();
    w.advance(TimeDelta::days(2));
    assert_eq!(
        kind_of(
            w.order
                .record_delivery(&supplier(), None, Some(w.now), w.now)
        ),
        ErrorKind::Forbidden
    );
    // Nor customs: the supplier must not shorten the buyer's quality window.
    assert_eq!(
        kind_of(
            w.order
                .record_delivery(&supplier(), Some(w.now), None, w.now)
        ),
        ErrorKind::Forbidden
    );
    let r = w.order.record_delivery(&buyer(), Some(w.now), None, w.now);
    w.apply(r);
    assert_eq!(
        w.order.record_delivery(&buyer(), Some(w.now), None, w.now),
        Err(OrderError::Conflict(Conflict::AlreadyRecorded(
            "customs clearance"
        )))
    );
    let r = w.order.record_delivery(&buyer(), None, Some(w.now), w.now);
    w.apply(r);
    assert_eq!(
        w.order.status(),
        OrderStatus::Shipped,
        "dates change no status"
    );
}

#[test]
fn the_order_lists_its_running_deadlines() {
    let mut w = World::standard();
    let kinds = |o: &Order| o.deadlines().iter().map(|d| d.kind).collect::<Vec<_>>();
    assert_eq!(
        kinds(&w.order),
        [DeadlineKind::ConfirmationDue, DeadlineKind::ShipBy]
    );
    w.confirm();
    assert_eq!(
        kinds(&w.order),
        [DeadlineKind::UnpaidCancellation, DeadlineKind::ShipBy],
        "soonest first: confirmed + 30 days comes before the end of the ship-by date"
    );
    let id = w.pay(Stage::Initial, card());
    assert_eq!(
        kinds(&w.order),
        [
            DeadlineKind::PaymentExpectedBy,
            DeadlineKind::PaymentExpires,
            DeadlineKind::ShipBy
        ]
    );
    w.succeed(&id);
    w.open(DisputeReason::Quality, usd!("10.00"));
    assert_eq!(
        kinds(&w.order),
        [
            DeadlineKind::SupplierResponseDue,
            DeadlineKind::EscalationDue,
            DeadlineKind::ShipBy
        ]
    );
}

#[test]
fn an_order_survives_a_json_round_trip_unchanged() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("10.00"));
    let json = serde_json::to_string(&w.order).expect("serializes");
    let back: Order = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, w.order);
    let event = serde_json::to_value(&w.events[0]).expect("event serializes");
    assert_eq!(event["type"], "order_created");
    assert_eq!(event["status"], "awaiting_confirmation");
    assert_eq!(event["total"], "3000.00");
}

#[test]
fn every_change_leaves_a_history_entry_with_who_when_and_the_status_after() {
    let mut w = World::standard();
    w.paid_initial();
    let history: Vec<domain::event::HistoryEntry> = w.events.iter().map(Into::into).collect();
    let lines: Vec<_> = history
        .iter()
        .map(|h| (h.event.as_str(), h.status, h.summary.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                "OrderCreated",
                OrderStatus::AwaitingConfirmation,
                "order created for US $3000.00"
            ),
            (
                "OrderConfirmed",
                OrderStatus::AwaitingInitialPayment,
                "supplier confirmed the contract"
            ),
            (
                "CoverageReserved",
                OrderStatus::AwaitingInitialPayment,
                "US $1500.00 covered by the supplier's assurance limit"
            ),
            (
                "PaymentRequested",
                OrderStatus::InitialPaymentProcessing,
                "initial payment of US $1500.00 started by credit card"
            ),
            (
                "PaymentSucceeded",
                OrderStatus::AwaitingShipment,
                "initial payment of US $1500.00 arrived"
            ),
        ]
    );
    assert_eq!(history[0].actor, domain::Actor::Buyer(user("buyer-1")));
    assert_eq!(history[4].actor, domain::Actor::Provider(Provider::Card));
    assert!(history.iter().all(|h| h.at == start()));
}

#[test]
fn a_sweep_at_the_last_instant_of_the_quality_window_still_lets_the_buyer_open_a_quality_dispute() {
    let mut d = draft();
    d.coverage = CoverageType::PostDelivery;
    d.initial_payment = usd!("3000.00");
    let mut w = World::new(d, usd!("50000.00"));
    w.paid_initial();
    w.ship();
    let r = w.order.confirm_receipt(&buyer(), w.now);
    w.apply(r);
    let end = w
        .order
        .quality_window_end()
        .expect("post-delivery, shipped");
    w.now = end;
    let r = w.order.sweep(w.now);
    assert!(
        w.apply(r).is_empty(),
        "the window includes its last instant"
    );
    w.open(DisputeReason::Quality, usd!("100.00"));
    assert!(w.order.open_dispute().is_some());
}

#[test]
fn a_supplier_responding_after_its_deadline_does_not_take_away_escalation() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("100.00"));
    w.advance(TimeDelta::days(6));
    w.respond(&supplier(), ResponseAction::Comment);
    let r = w.order.escalate_dispute(&buyer(), w.now);
    w.apply(r);
    assert_eq!(
        w.order.dispute().and_then(|d| d.escalation_ground),
        Some(EscalationGround::SupplierNoResponse)
    );
}

#[test]
fn a_supplier_responding_in_time_waits_for_the_resolution_deadline() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("100.00"));
    w.advance(TimeDelta::days(5));
    w.respond(&supplier(), ResponseAction::Comment);
    w.advance(TimeDelta::days(1));
    assert_eq!(
        kind_of(w.order.escalate_dispute(&buyer(), w.now)),
        ErrorKind::Unprocessable
    );
    w.advance(TimeDelta::days(9));
    let r = w.order.sweep(w.now);
    assert!(w.apply(r).is_empty(), "at the resolution deadline itself");
    w.advance(TimeDelta::seconds(1));
    let r = w.order.sweep(w.now);
    assert_eq!(World::kinds(&w.apply(r)), ["DisputeEscalated"]);
    assert_eq!(
        w.order.dispute().and_then(|d| d.escalation_ground),
        Some(EscalationGround::NoSolutionInTime)
    );
}

#[test]
fn a_suppliers_average_rating_always_has_two_places() {
    let mut s = domain::feedback::RatingSummary::default();
    s.add(Rating::parse(5).expect("rating"));
    assert_eq!(s.average().map(|a| a.to_string()), Some("5.00".to_owned()));
}

// ---- every order ends: the clocks (issue 16) -------------------------------------

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}
fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("valid time")
}
/// The end of the ship-by date of [`draft`]: Wednesday 3 February 2027.
fn ship_by_end() -> Timestamp {
    utc(2027, 2, 3, 23, 59, 59)
}
/// [`draft`] with no balance: the initial payment is the whole 3000.00.
fn paid_in_full() -> TermsDraft {
    let mut d = draft();
    d.initial_payment = usd!("3000.00");
    d
}
/// [`draft`] shipping by 30 June 2027, so it can be amended months later.
fn late_ship_by() -> TermsDraft {
    let mut d = draft();
    d.ship_by = NaiveDate::from_ymd_opt(2027, 6, 30).expect("date");
    d
}

impl World {
    /// Sweep at every instant the due index names, up to `until`; every
    /// such sweep must have work (the index never points at nothing).
    fn sweep_until(&mut self, until: Timestamp) -> Vec<DomainEvent> {
        let mut all = Vec::new();
        for _ in 0..100 {
            let Some(due) = self.order.next_sweep_due().filter(|d| *d <= until) else {
                break;
            };
            self.now = self.now.max(due);
            let events = self.sweep();
            assert!(
                !events.is_empty(),
                "the sweep at the due instant {due} had nothing to do"
            );
            all.extend(events);
        }
        self.now = self.now.max(until);
        all
    }

    fn ship_now(&mut self) {
        self.ship();
    }

    fn open_with(
        &mut self,
        reason: DisputeReason,
        refund: Usd,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        self.order.raise_dispute(
            &buyer(),
            OpenDispute {
                reason,
                requested_refund: refund,
                description: long("not as agreed"),
                evidence: vec![],
            },
            self.now,
        )
    }

    fn withdraw(&mut self) {
        let r = self.order.withdraw_dispute(&buyer(), self.now);
        self.apply(r);
    }

    fn decide(&mut self, decision: Decision) -> Vec<DomainEvent> {
        let r = self.order.decide_dispute(&arbiter(), decision, self.now);
        self.apply(r)
    }

    fn resolve(&mut self, id: &PaymentId, resolution: FlagResolution) -> Vec<DomainEvent> {
        let r = self
            .order
            .resolve_payment(&arbiter(), id, resolution, self.now);
        self.apply(r)
    }

    fn resolve_part(&mut self, index: usize, resolution: RefundResolution) -> Vec<DomainEvent> {
        let id = self.order.refunds()[index].id.clone();
        let r = self
            .order
            .resolve_refund(&arbiter(), &id, resolution, self.now);
        self.apply(r)
    }
}

#[test]
fn when_a_draft_is_not_confirmed_in_30_days_the_sweep_cancels_it() {
    let mut w = World::standard();
    let due = start() + days(30);
    assert_eq!(w.order.confirmation_due(), Some(due));
    assert_eq!(w.deadline(DeadlineKind::ConfirmationDue), Some(due));
    assert_eq!(w.order.next_sweep_due(), Some(due + secs(1)));
    let events = w.sweep_at_and_after(due);
    assert_eq!(World::kinds(&events), ["OrderCancelled"]);
    assert_eq!(
        events[0].body,
        EventBody::OrderCancelled {
            reason: CancelReason::NotConfirmed
        }
    );
    assert_eq!(events[0].actor, domain::Actor::Scheduler);
    assert_eq!(w.order.status(), OrderStatus::Cancelled);
    assert_eq!(w.order.end_reason(), Some(EndReason::NotConfirmed));
    assert!(w.order.is_finished());
    assert_eq!(w.order.next_sweep_due(), None);
    assert!(w.order.deadlines().is_empty(), "{:?}", w.order.deadlines());
    let v = w.order.version();
    assert_eq!(
        kind_of(w.order.confirm(&supplier(), v, &w.limit, w.now)),
        ErrorKind::Conflict
    );
}

#[test]
fn an_amendment_restarts_the_draft_clock_but_never_beyond_90_days_from_creation() {
    // (name, amended after creation, due after creation)
    let cases = [
        ("never amended", None, 30),
        ("amended at +20 days", Some(20), 50),
        ("amended at +59 days", Some(59), 89),
        ("amended at +60 days", Some(60), 90),
        ("amended at +70 days: the 90-day cap", Some(70), 90),
        ("amended at +89 days: the 90-day cap", Some(89), 90),
    ];
    for (name, amended, due_days) in cases {
        let mut w = World::new(late_ship_by(), usd!("50000.00"));
        if let Some(a) = amended {
            w.advance(days(a));
            let r = w.order.amend(
                &supplier(),
                Terms::new(late_ship_by()).expect("terms"),
                w.now,
            );
            w.apply(r);
        }
        let due = start() + days(due_days);
        assert_eq!(w.order.confirmation_due(), Some(due), "{name}");
        let events = w.sweep_at_and_after(due);
        assert_eq!(World::kinds(&events), ["OrderCancelled"], "{name}");
        assert_eq!(
            w.order.end_reason(),
            Some(EndReason::NotConfirmed),
            "{name}"
        );
    }
}

#[test]
fn a_reminder_does_not_restart_the_draft_clock() {
    let mut w = World::standard();
    w.advance(days(20));
    let r = w.order.remind(&buyer(), w.now);
    w.apply(r);
    assert_eq!(w.order.confirmation_due(), Some(start() + days(30)));
}

#[test]
fn a_confirmation_committed_at_the_due_instant_wins_over_the_sweep() {
    let mut w = World::standard();
    w.now = start() + days(30);
    w.confirm();
    w.now += secs(1);
    let events = w.sweep();
    assert!(events.is_empty(), "{:?}", World::kinds(&events));
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
}

#[test]
fn the_unpaid_clock_resumes_with_at_least_7_days_after_a_failed_payment() {
    let mut w = World::standard();
    w.confirm();
    w.advance(days(28));
    let id = w.pay(Stage::Initial, card());
    w.advance(TimeDelta::hours(1));
    w.fail(&id);
    // 2 days were left; a failure leaves at least 7.
    let due = w.now + days(7);
    assert_eq!(w.order.unpaid_due(), Some(due));
    assert_eq!(w.deadline(DeadlineKind::UnpaidCancellation), Some(due));
    let events = w.sweep_at_and_after(due);
    assert_eq!(
        World::kinds(&events),
        ["OrderCancelled", "ReservationReleased"]
    );
    assert_eq!(w.order.end_reason(), Some(EndReason::Unpaid));
    assert_eq!(w.limit.reserved(), Usd::ZERO);
}

#[test]
fn a_card_payment_the_provider_never_confirms_expires_and_the_order_ends_within_200_days() {
    // The issue's reproduction: flagged on its last arrival day, then (before
    // issue 16) `initial_payment_processing` for ever with 1,500.00 reserved.
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card()); // Monday 4 January: Wed 6 – Thu 7
    let overdue = utc(2027, 1, 7, 23, 59, 59);
    let expires = utc(2027, 1, 21, 23, 59, 59); // + 10 working days
    assert_eq!(w.deadline(DeadlineKind::PaymentExpectedBy), Some(overdue));
    assert_eq!(w.deadline(DeadlineKind::PaymentExpires), Some(expires));
    assert_eq!(w.order.next_sweep_due(), Some(overdue + secs(1)));
    let events = w.sweep_at_and_after(overdue);
    assert_eq!(World::kinds(&events), ["PaymentOverdue", "PaymentFlagged"]);
    assert_eq!(w.order.next_sweep_due(), Some(expires + secs(1)));
    let events = w.sweep_at_and_after(expires);
    assert_eq!(World::kinds(&events), ["PaymentExpired"]);
    assert_eq!(
        events[0].body,
        EventBody::PaymentExpired {
            payment_id: id.clone(),
            stage: Stage::Initial,
            provider: Provider::Card,
        }
    );
    let p = w.order.payment(&id).expect("payment");
    assert_eq!(p.status, PaymentStatus::Failed);
    assert_eq!(p.failure, Some(FailureReason::Expired));
    assert!(p.flag.is_none(), "the expiry supersedes the overdue flag");
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
    // The unpaid clock was paused with all 30 days left; they resume.
    let unpaid = w.now + days(30);
    assert_eq!(w.order.unpaid_due(), Some(unpaid));
    w.sweep_until(start() + days(200));
    assert_eq!(w.order.status(), OrderStatus::Cancelled);
    assert_eq!(w.order.end_reason(), Some(EndReason::Unpaid));
    assert_eq!(w.limit.reserved(), Usd::ZERO);
    assert!(w.order.is_finished());
}

#[test]
fn a_payment_expiring_long_after_confirmation_sends_the_order_back_to_waiting_with_its_days_left() {
    let mut w = World::standard();
    w.confirm();
    w.pay(Stage::Initial, card());
    // The first sweep in 120 days: the payment expires; the unpaid clock,
    // paused with all 30 days while it was in flight, runs again.
    w.now = start() + days(120);
    let events = w.sweep();
    assert_eq!(World::kinds(&events), ["PaymentExpired"]);
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
    assert_eq!(w.order.unpaid_due(), Some(w.now + days(30)));
}

#[test]
fn a_pay_later_payment_is_never_overdue_before_its_agreement_and_expires_7_days_after_it_was_requested()
 {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, PaymentMethod::PayLater { term_months: 3 });
    assert_eq!(w.credit.reserved(), usd!("1500.00"));
    let due = start() + days(7);
    let kinds: Vec<_> = w.order.deadlines().iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [DeadlineKind::AgreementDue, DeadlineKind::ShipBy]);
    assert_eq!(w.deadline(DeadlineKind::AgreementDue), Some(due));
    // The old 1–3 day window from the request would have ended Thursday.
    w.now = utc(2027, 1, 8, 12, 0, 0);
    assert!(w.sweep().is_empty(), "not overdue before the agreement");
    assert!(!w.order.payment(&id).expect("p").overdue_reported);
    assert_eq!(w.order.next_sweep_due(), Some(due + secs(1)));
    let events = w.sweep_at_and_after(due);
    assert_eq!(World::kinds(&events), ["PaymentExpired", "CreditReleased"]);
    assert_eq!(
        events[0].body,
        EventBody::PaymentExpired {
            payment_id: id.clone(),
            stage: Stage::Initial,
            provider: Provider::Paylater,
        }
    );
    assert_eq!(w.credit.reserved(), Usd::ZERO, "no credit held by it");
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
    assert_eq!(
        w.order.payment(&id).and_then(|p| p.failure),
        Some(FailureReason::Expired)
    );
}

#[test]
fn a_pay_later_arrival_window_starts_at_the_agreement_and_then_expires_like_any_payment() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, PaymentMethod::PayLater { term_months: 3 });
    w.now = utc(2027, 1, 7, 10, 0, 0); // Thursday
    w.report(Provider::Paylater, &id, PaymentSignal::AgreementCompleted);
    // 1–3 working days from Thursday: Friday 8 – Tuesday 12.
    let overdue = utc(2027, 1, 12, 23, 59, 59);
    let expires = utc(2027, 1, 26, 23, 59, 59);
    assert_eq!(w.deadline(DeadlineKind::AgreementDue), None);
    assert_eq!(w.deadline(DeadlineKind::PaymentExpectedBy), Some(overdue));
    assert_eq!(w.deadline(DeadlineKind::PaymentExpires), Some(expires));
    let events = w.sweep_at_and_after(overdue);
    assert_eq!(World::kinds(&events), ["PaymentOverdue", "PaymentFlagged"]);
    let events = w.sweep_at_and_after(expires);
    assert_eq!(World::kinds(&events), ["PaymentExpired", "CreditReleased"]);
    assert_eq!(w.credit.reserved(), Usd::ZERO);
}

#[test]
fn a_provider_success_after_the_expiry_is_flagged_and_an_arbiter_accepts_it_while_the_stage_waits()
{
    for method in [card(), PaymentMethod::PayLater { term_months: 2 }] {
        let name = format!("{:?}", method.kind());
        let mut w = World::standard();
        w.confirm();
        let id = w.pay(Stage::Initial, method.clone());
        w.sweep_until(start() + days(20));
        assert_eq!(
            w.order.payment(&id).and_then(|p| p.failure),
            Some(FailureReason::Expired),
            "{name}"
        );
        assert_eq!(w.credit.reserved(), Usd::ZERO, "{name}");
        let events = w.report(
            w.order.payment(&id).expect("p").provider(),
            &id,
            PaymentSignal::Succeeded,
        );
        assert_eq!(World::kinds(&events), ["PaymentFlagged"], "{name}");
        let p = w.order.payment(&id).expect("p");
        assert_eq!(p.status, PaymentStatus::Failed, "{name}: not applied");
        assert_eq!(
            p.flag.as_ref().map(|f| f.reason),
            Some(FlagReason::ContradictsFinalStatus),
            "{name}"
        );
        assert!(w.order.awaits_arbiter(), "{name}");
        assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
        let events = w.resolve(&id, FlagResolution::Accept);
        let expected: &[&str] = if name == "PayLater" {
            &["PaymentFlagResolved", "CreditReserved", "PaymentSucceeded"]
        } else {
            &["PaymentFlagResolved", "PaymentSucceeded"]
        };
        assert_eq!(World::kinds(&events), expected, "{name}");
        assert_eq!(w.order.status(), OrderStatus::AwaitingShipment, "{name}");
        let p = w.order.payment(&id).expect("p");
        assert_eq!(p.status, PaymentStatus::Succeeded, "{name}");
        assert_eq!(p.failure, None, "{name}");
        assert_eq!(w.order.unpaid_due(), None, "{name}");
        assert_eq!(w.order.amount_paid(), usd!("1500.00"), "{name}");
        let credit = if name == "PayLater" {
            usd!("1500.00")
        } else {
            Usd::ZERO
        };
        assert_eq!(w.credit.reserved(), credit, "{name}: credit reserved again");
        assert!(!w.order.awaits_arbiter(), "{name}");
    }
}

#[test]
fn a_late_success_cannot_be_accepted_once_its_stage_no_longer_waits_and_is_refunded_instead() {
    let mut w = World::standard();
    w.confirm();
    let late = w.pay(Stage::Initial, card());
    w.sweep_until(start() + days(20));
    assert_eq!(
        w.order.payment(&late).and_then(|p| p.failure),
        Some(FailureReason::Expired)
    );
    let again = w.pay(Stage::Initial, card());
    w.succeed(&late);
    let cannot = Err(OrderError::Conflict(Conflict::CannotResolve(
        "accepted: its stage no longer waits for it (refund it instead)",
    )));
    // Another payment in flight.
    assert_eq!(
        w.order
            .resolve_payment(&arbiter(), &late, FlagResolution::Accept, w.now),
        cannot
    );
    w.succeed(&again);
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
    // The stage is paid.
    assert_eq!(
        w.order
            .resolve_payment(&arbiter(), &late, FlagResolution::Accept, w.now),
        cannot
    );
    let events = w.resolve(&late, FlagResolution::Refund);
    assert_eq!(
        World::kinds(&events),
        ["PaymentFlagResolved", "RefundRequested"]
    );
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
    assert_eq!(w.order.amount_paid(), usd!("1500.00"), "only the second");
    w.settle_refunds();
    assert_eq!(
        w.order.payment(&late).map(|p| p.status),
        Some(PaymentStatus::Refunded)
    );
}

#[test]
fn a_late_balance_success_is_accepted_only_while_the_order_is_shipped_with_no_dispute() {
    let mut w = World::standard();
    w.paid_initial();
    w.advance(days(3));
    w.ship_now();
    let balance = w.pay(Stage::Balance, card());
    w.sweep_until(w.now + days(25));
    assert_eq!(
        w.order.payment(&balance).and_then(|p| p.failure),
        Some(FailureReason::Expired)
    );
    assert_eq!(w.order.status(), OrderStatus::Shipped);
    w.succeed(&balance);
    let r = w.open_with(DisputeReason::Quality, usd!("100.00"));
    w.apply(r);
    assert_eq!(
        kind_of(
            w.order
                .resolve_payment(&arbiter(), &balance, FlagResolution::Accept, w.now)
        ),
        ErrorKind::Conflict,
        "a dispute is unresolved"
    );
    w.withdraw();
    w.resolve(&balance, FlagResolution::Accept);
    assert_eq!(w.order.status(), OrderStatus::AwaitingReceiptConfirmation);
    assert_eq!(w.order.balance_due(), None);
    assert_eq!(
        w.order.receipt_due(),
        Some(w.now + days(30)),
        "the receipt clock starts"
    );
}

#[test]
fn the_third_failed_payment_of_a_stage_ends_the_order() {
    // (name, stage, how the third payment fails, status, end reason)
    let cases = [
        (
            "initial: three declined",
            Stage::Initial,
            false,
            OrderStatus::Cancelled,
            EndReason::Unpaid,
        ),
        (
            "initial: two declined, one expired",
            Stage::Initial,
            true,
            OrderStatus::Cancelled,
            EndReason::Unpaid,
        ),
        (
            "balance: three declined",
            Stage::Balance,
            false,
            OrderStatus::Closed,
            EndReason::BalanceUnpaid,
        ),
        (
            "balance: two declined, one expired",
            Stage::Balance,
            true,
            OrderStatus::Closed,
            EndReason::BalanceUnpaid,
        ),
    ];
    for (name, stage, expire_last, status, reason) in cases {
        let mut w = World::standard();
        if stage == Stage::Initial {
            w.confirm();
        } else {
            w.paid_initial();
            w.ship_now();
        }
        let waiting = w.order.status();
        for _ in 0..2 {
            let id = w.pay(stage, card());
            w.fail(&id);
            assert_eq!(w.order.status(), waiting, "{name}: waits again");
        }
        assert_eq!(w.order.failed_payments(stage), 2, "{name}");
        let id = w.pay(stage, card());
        let events = if expire_last {
            w.sweep_until(w.now + days(25))
        } else {
            w.fail(&id)
        };
        assert_eq!(w.order.status(), status, "{name}");
        assert_eq!(w.order.end_reason(), Some(reason), "{name}");
        assert_eq!(w.limit.reserved(), Usd::ZERO, "{name}: released");
        let end = if status == OrderStatus::Cancelled {
            EventBody::OrderCancelled {
                reason: CancelReason::Unpaid,
            }
        } else {
            EventBody::OrderClosed {
                reason: CloseReason::BalanceUnpaid,
            }
        };
        assert!(
            events.iter().any(|e| e.body == end),
            "{name}: {:?}",
            World::kinds(&events)
        );
        assert!(w.order.is_finished(), "{name}");
    }
}

#[test]
fn when_goods_are_not_shipped_30_days_after_the_ship_by_date_the_sweep_refunds_everything_paid() {
    let mut w = World::standard();
    let initial = w.paid_initial();
    let due = ship_by_end() + days(30);
    assert_eq!(w.deadline(DeadlineKind::NotShippedRefund), Some(due));
    assert_eq!(w.order.next_sweep_due(), Some(due + secs(1)));
    let events = w.sweep_at_and_after(due);
    assert_eq!(
        World::kinds(&events),
        ["NotShippedRefundStarted", "RefundRequested"]
    );
    assert_eq!(
        events[0].body,
        EventBody::NotShippedRefundStarted {
            refund: usd!("1500.00")
        }
    );
    assert_eq!(w.order.status(), OrderStatus::RefundPending);
    assert_eq!(w.order.end_reason(), Some(EndReason::NotShipped));
    assert!(w.order.payment(&initial).expect("p").flag.is_none());
    w.settle_refunds();
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    assert_eq!(w.limit.reserved(), Usd::ZERO);
    assert!(w.order.is_finished());
}

#[test]
fn the_not_shipped_refund_is_capped_at_the_coverage_and_what_is_beyond_is_flagged_for_an_arbiter() {
    // (name, arbiter's resolution, refund parts afterwards)
    let cases = [
        ("accepted: the supplier keeps it", FlagResolution::Accept, 1),
        ("refunded: the rest goes back", FlagResolution::Refund, 2),
    ];
    for (name, resolution, parts) in cases {
        // A limit of 1,000.00 covers 1,000.00 of the 1,500.00 paid.
        let mut w = World::new(draft(), usd!("1000.00"));
        let initial = w.paid_initial();
        assert_eq!(w.order.covered_left(), usd!("1000.00"), "{name}");
        let events = w.sweep_until(ship_by_end() + days(31));
        assert!(
            events.iter().any(|e| e.body
                == EventBody::NotShippedRefundStarted {
                    refund: usd!("1000.00")
                }),
            "{name}"
        );
        assert_eq!(
            w.order
                .payment(&initial)
                .and_then(|p| p.flag.as_ref())
                .map(|f| f.reason),
            Some(FlagReason::BeyondCoverage),
            "{name}"
        );
        assert!(w.order.awaits_arbiter(), "{name}");
        w.resolve(&initial, resolution);
        assert_eq!(w.order.refunds().len(), parts, "{name}");
        if resolution == FlagResolution::Refund {
            assert_eq!(w.order.refunds()[1].amount, usd!("500.00"), "{name}");
        }
        w.settle_refunds();
        assert_eq!(w.order.status(), OrderStatus::Refunded, "{name}");
        assert!(!w.order.awaits_arbiter(), "{name}");
    }
}

#[test]
fn when_a_compensation_used_the_whole_cover_the_not_shipped_refund_ends_refunded_at_once() {
    // Found by the status-table property: a limit of 1,000.00 covers
    // 1,000.00 of the 1,500.00 paid; a late-shipment compensation of
    // 1,000.00 settles; the goods never ship. Nothing covered is left to
    // refund, so the order ends refunded in the sweep that starts the
    // refund (through refund_pending), the 500.00 beyond the cover flagged.
    let mut w = World::new(draft(), usd!("1000.00"));
    let initial = w.paid_initial();
    w.now = ship_by_end() + days(1);
    w.open(DisputeReason::LateShipment, usd!("1000.00"));
    w.respond(&supplier(), ResponseAction::Accept);
    w.settle_refunds();
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
    assert_eq!(w.order.covered_left(), Usd::ZERO);
    let events = w.sweep_until(ship_by_end() + days(31));
    assert!(
        events
            .iter()
            .any(|e| e.body == EventBody::NotShippedRefundStarted { refund: Usd::ZERO }),
        "{:?}",
        World::kinds(&events)
    );
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    assert_eq!(w.order.amount_refunded(), usd!("1000.00"));
    assert_eq!(
        w.order
            .payment(&initial)
            .and_then(|p| p.flag.as_ref())
            .map(|f| f.reason),
        Some(FlagReason::BeyondCoverage)
    );
    assert_eq!(w.limit.reserved(), Usd::ZERO);
    assert!(w.order.is_finished());
}

#[test]
fn an_unresolved_dispute_holds_the_not_shipped_refund_until_it_ends() {
    let mut w = World::standard();
    w.paid_initial();
    w.now = ship_by_end() + days(10);
    let r = w.open_with(DisputeReason::LateShipment, usd!("1500.00"));
    w.apply(r);
    assert_eq!(w.deadline(DeadlineKind::NotShippedRefund), None);
    let events = w.sweep_until(ship_by_end() + days(60));
    assert_eq!(World::kinds(&events), ["DisputeEscalated"]);
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
    w.withdraw();
    // The clock ran out long ago: the next sweep refunds.
    assert_eq!(
        w.order.next_sweep_due(),
        Some(ship_by_end() + days(30) + secs(1))
    );
    let events = w.sweep();
    assert!(World::kinds(&events).contains(&"NotShippedRefundStarted"));
    assert_eq!(w.order.status(), OrderStatus::RefundPending);
}

#[test]
fn a_not_shipped_order_whose_coverage_is_used_up_ends_refunded_at_once() {
    let mut w = World::new(draft(), usd!("1000.00"));
    let initial = w.paid_initial();
    w.now = ship_by_end() + days(1);
    let r = w.open_with(DisputeReason::LateShipment, usd!("1000.00"));
    w.apply(r);
    w.respond(&supplier(), ResponseAction::Accept);
    assert_eq!(
        w.order.status(),
        OrderStatus::AwaitingShipment,
        "compensation"
    );
    assert_eq!(w.order.covered_left(), Usd::ZERO);
    assert_eq!(w.order.coverage().reserved, Usd::ZERO);
    w.settle_refunds();
    let events = w.sweep_until(ship_by_end() + days(31));
    assert!(
        events
            .iter()
            .any(|e| e.body == EventBody::NotShippedRefundStarted { refund: Usd::ZERO })
    );
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    assert_eq!(w.order.end_reason(), Some(EndReason::NotShipped));
    assert_eq!(
        w.order
            .payment(&initial)
            .and_then(|p| p.flag.as_ref())
            .map(|f| f.reason),
        Some(FlagReason::BeyondCoverage),
        "the 500.00 kept beyond the coverage waits for an arbiter"
    );
}

#[test]
fn an_order_shipped_with_the_balance_never_paid_is_closed_90_days_after_the_shipment_was_recorded()
{
    let mut w = World::standard();
    w.paid_initial();
    w.advance(days(3));
    w.ship_now();
    let shipped = w.now;
    let due = shipped + days(90);
    assert_eq!(w.order.balance_due(), Some(due));
    assert_eq!(w.deadline(DeadlineKind::BalanceDue), Some(due));
    assert_eq!(w.order.next_sweep_due(), Some(due + secs(1)));
    let events = w.sweep_at_and_after(due);
    assert_eq!(
        World::kinds(&events),
        ["OrderClosed", "ReservationReleased"]
    );
    assert_eq!(
        events[0].body,
        EventBody::OrderClosed {
            reason: CloseReason::BalanceUnpaid
        }
    );
    assert_eq!(w.order.status(), OrderStatus::Closed);
    assert_eq!(w.order.end_reason(), Some(EndReason::BalanceUnpaid));
    assert!(w.order.is_finished());
    assert_eq!(w.limit.reserved(), Usd::ZERO);
    assert!(
        w.order.refunds().is_empty(),
        "the supplier keeps the initial payment"
    );
    assert_eq!(
        kind_of(w.open_with(DisputeReason::Quality, usd!("10.00"))),
        ErrorKind::Conflict,
        "no dispute on a closed order"
    );
    let req = PaymentRequest {
        id: PaymentId::parse("pay_late").expect("id"),
        stage: Stage::Balance,
        method: card(),
    };
    assert_eq!(
        kind_of(
            w.order
                .initiate_payment(&buyer(), req, PaymentContext::default(), w.now)
        ),
        ErrorKind::Conflict
    );
}

#[test]
fn a_recorded_delivery_makes_the_balance_due_30_days_later_with_at_least_7_days_left() {
    // (name, delivered after shipment, recorded after shipment, due after shipment)
    let cases = [
        ("delivered +1d, recorded +1d", 1, 1, 31),
        ("delivered +10d, recorded +10d", 10, 10, 40),
        (
            "delivered at shipment, recorded +60d: 7 days left",
            0,
            60,
            67,
        ),
        ("delivered +70d, recorded +70d: the 90-day cap", 70, 70, 90),
        ("delivered +89d, recorded +89d: the 90-day cap", 89, 89, 90),
    ];
    for (name, delivered, recorded, due) in cases {
        let mut w = World::standard();
        w.paid_initial();
        w.ship_now();
        let shipped = w.now;
        w.now = shipped + days(recorded);
        w.record(None, Some(shipped + days(delivered)));
        let due = shipped + days(due);
        assert_eq!(w.order.balance_due(), Some(due), "{name}");
        let events = w.sweep_at_and_after(due);
        assert_eq!(
            World::kinds(&events),
            ["OrderClosed", "ReservationReleased"],
            "{name}"
        );
    }
}

#[test]
fn a_dispute_pauses_the_balance_clock_and_its_end_leaves_at_least_7_days() {
    let mut w = World::standard();
    w.paid_initial();
    w.ship_now();
    let shipped = w.now;
    w.now = shipped + days(85);
    let r = w.open_with(DisputeReason::Quality, usd!("100.00"));
    w.apply(r);
    assert_eq!(w.order.balance_due(), None, "paused");
    assert_eq!(w.deadline(DeadlineKind::BalanceDue), None);
    let events = w.sweep_until(shipped + days(120));
    assert_eq!(World::kinds(&events), ["DisputeEscalated"]);
    assert_eq!(
        w.order.status(),
        OrderStatus::Shipped,
        "never closed while paused"
    );
    w.decide(Decision::ClaimRejected);
    // 5 days were left; at least 7 remain.
    let due = w.now + days(7);
    assert_eq!(w.order.balance_due(), Some(due));
    let events = w.sweep_at_and_after(due);
    assert_eq!(
        World::kinds(&events),
        ["OrderClosed", "ReservationReleased"]
    );
}

#[test]
fn a_dispute_unresolved_at_shipment_holds_the_balance_clock_from_the_start() {
    let mut w = World::standard();
    w.paid_initial();
    w.advance(days(1));
    let r = w.open_with(DisputeReason::Quality, usd!("100.00"));
    w.apply(r);
    w.advance(days(1));
    w.ship_now();
    assert_eq!(w.order.status(), OrderStatus::Shipped);
    assert_eq!(w.order.balance_due(), None);
    w.advance(days(2));
    w.withdraw();
    assert_eq!(w.order.balance_due(), Some(w.now + days(90)));
}

#[test]
fn the_balance_clock_never_fires_while_a_balance_payment_is_in_flight_and_an_expiry_leaves_7_days()
{
    let mut w = World::standard();
    w.paid_initial();
    w.advance(days(3));
    w.ship_now(); // Thursday 7 January
    let shipped = w.now;
    w.now = shipped + days(89); // Tuesday 6 April
    let balance = w.pay(Stage::Balance, card()); // expected by Friday 9 April
    let expires = utc(2027, 4, 23, 23, 59, 59);
    assert_eq!(w.deadline(DeadlineKind::BalanceDue), None);
    assert_eq!(w.deadline(DeadlineKind::PaymentExpires), Some(expires));
    let events = w.sweep_until(expires);
    assert_eq!(World::kinds(&events), ["PaymentOverdue", "PaymentFlagged"]);
    assert_eq!(w.order.status(), OrderStatus::BalancePaymentProcessing);
    let events = w.sweep_at_and_after(expires);
    assert_eq!(World::kinds(&events), ["PaymentExpired"]);
    assert_eq!(w.order.status(), OrderStatus::Shipped);
    assert_eq!(
        w.order.payment(&balance).and_then(|p| p.failure),
        Some(FailureReason::Expired)
    );
    let due = w.now + days(7);
    assert_eq!(w.order.balance_due(), Some(due));
    let events = w.sweep_at_and_after(due);
    assert_eq!(
        World::kinds(&events),
        ["OrderClosed", "ReservationReleased"]
    );
}

#[test]
fn when_the_buyer_neither_confirms_receipt_nor_disputes_the_sweep_confirms_it_after_30_days() {
    let mut w = World::new(paid_in_full(), usd!("50000.00"));
    w.paid_initial();
    w.advance(days(3));
    w.ship_now();
    let entered = w.now;
    assert_eq!(w.order.status(), OrderStatus::AwaitingReceiptConfirmation);
    let due = entered + days(30);
    assert_eq!(w.order.receipt_due(), Some(due));
    assert_eq!(w.deadline(DeadlineKind::ReceiptAutoConfirmation), Some(due));
    // The notice, 3 days before, once.
    let notice = due - days(3);
    assert_eq!(w.order.next_sweep_due(), Some(notice + secs(1)));
    let events = w.sweep_at_and_after(notice);
    assert_eq!(World::kinds(&events), ["ReceiptAutoConfirmationDue"]);
    assert_eq!(
        events[0].body,
        EventBody::ReceiptAutoConfirmationDue { due }
    );
    w.advance(days(1));
    assert!(w.sweep().is_empty(), "announced once");
    assert_eq!(w.order.next_sweep_due(), Some(due + secs(1)));
    let events = w.sweep_at_and_after(due);
    assert_eq!(
        World::kinds(&events),
        ["ReceiptConfirmed", "ReservationReleased"]
    );
    assert_eq!(events[0].actor, domain::Actor::Scheduler);
    assert_eq!(w.order.status(), OrderStatus::Completed);
    assert_eq!(w.order.completed_at(), Some(due + secs(1)));
    assert_eq!(w.limit.reserved(), Usd::ZERO, "pre-shipment coverage ends");
    assert!(w.order.is_finished());
    // It counts as the buyer's: the feedback window opens.
    let r = w.order.leave_feedback(
        &buyer(),
        Rating::parse(4).expect("rating"),
        long("fine"),
        w.now,
    );
    w.apply(r);
}

#[test]
fn the_receipt_clock_counts_from_the_recorded_delivery_when_that_is_later() {
    // Delivered before the balance arrived: 30 days from entering the status.
    let mut w = World::standard();
    w.paid_initial();
    w.ship_now();
    let shipped = w.now;
    w.now = shipped + days(5);
    w.record(None, Some(shipped + days(4)));
    w.now = shipped + days(10);
    let balance = w.pay(Stage::Balance, card());
    w.succeed(&balance);
    assert_eq!(w.order.receipt_due(), Some(shipped + days(40)));

    // Delivered after entering it: 30 days from the delivery.
    let mut w = World::new(paid_in_full(), usd!("50000.00"));
    w.paid_initial();
    w.ship_now();
    let entered = w.now;
    w.now = entered + days(20);
    w.record(None, Some(entered + days(19)));
    assert_eq!(w.order.receipt_due(), Some(entered + days(49)));
    w.now = entered + days(25);
    w.record(Some(entered + days(24)), None);
    assert_eq!(
        w.order.receipt_due(),
        Some(entered + days(49)),
        "customs moves nothing"
    );
}

#[test]
fn the_buyer_may_extend_the_receipt_clock_twice_by_15_days_and_each_extension_is_announced_again() {
    let mut w = World::new(paid_in_full(), usd!("50000.00"));
    w.paid_initial();
    w.ship_now();
    let entered = w.now;
    assert_eq!(
        kind_of(w.order.extend_receipt(&supplier(), w.now)),
        ErrorKind::Forbidden
    );
    let events = w.sweep_at_and_after(entered + days(27));
    assert_eq!(World::kinds(&events), ["ReceiptAutoConfirmationDue"]);
    w.advance(days(1));
    let r = w.order.extend_receipt(&buyer(), w.now);
    let events = w.apply(r);
    assert_eq!(
        events[0].body,
        EventBody::ReceiptExtended {
            due: entered + days(45)
        }
    );
    assert_eq!(w.order.receipt_due(), Some(entered + days(45)));
    let events = w.sweep_at_and_after(entered + days(42));
    assert_eq!(World::kinds(&events), ["ReceiptAutoConfirmationDue"]);
    let r = w.order.extend_receipt(&buyer(), w.now);
    w.apply(r);
    assert_eq!(w.order.receipt_due(), Some(entered + days(60)));
    assert_eq!(w.order.receipt_clock().map(|c| c.extensions), Some(2));
    assert_eq!(
        w.order.extend_receipt(&buyer(), w.now),
        Err(OrderError::Rule(Rule::NoExtensionsLeft(2)))
    );
    let events = w.sweep_until(entered + days(61));
    assert_eq!(
        World::kinds(&events),
        [
            "ReceiptAutoConfirmationDue",
            "ReceiptConfirmed",
            "ReservationReleased"
        ]
    );
    assert_eq!(
        kind_of(w.order.extend_receipt(&buyer(), w.now)),
        ErrorKind::Conflict,
        "nothing to extend once completed"
    );
}

#[test]
fn a_dispute_pauses_the_receipt_clock_and_its_end_leaves_at_least_5_days() {
    let mut w = World::new(paid_in_full(), usd!("50000.00"));
    w.paid_initial();
    w.ship_now();
    let entered = w.now;
    w.now = entered + days(28);
    let r = w.open_with(DisputeReason::Quality, usd!("100.00"));
    w.apply(r);
    assert_eq!(w.order.receipt_due(), None);
    assert_eq!(w.deadline(DeadlineKind::ReceiptAutoConfirmation), None);
    let events = w.sweep_until(entered + days(60));
    assert_eq!(World::kinds(&events), ["DisputeEscalated"]);
    assert_eq!(w.order.status(), OrderStatus::AwaitingReceiptConfirmation);
    w.withdraw();
    // 2 days were left; at least 5 remain.
    let due = w.now + days(5);
    assert_eq!(w.order.receipt_due(), Some(due));
    let events = w.sweep_until(due + secs(1));
    assert_eq!(
        World::kinds(&events),
        [
            "ReceiptAutoConfirmationDue",
            "ReceiptConfirmed",
            "ReservationReleased"
        ]
    );
}

// ---- disputes, refunds and bounds (issue 16) ---------------------------------------

fn docs(n: usize, tag: &str) -> Vec<DocumentRef> {
    (0..n)
        .map(|i| DocumentRef {
            name: short(&format!("{tag} {i}")),
            url: HttpsUrl::parse(&format!("https://evidence.example.com/{tag}/{i}.jpg"))
                .expect("url"),
            sha256: domain::text::Sha256Hex::parse(&"cd".repeat(32)).expect("digest"),
        })
        .collect()
}

fn text_of(n: usize) -> LongText {
    LongText::parse(&"x".repeat(n)).expect("text")
}

impl World {
    /// A party's response, without applying it.
    fn try_respond(
        &mut self,
        who: &Caller,
        action: ResponseAction,
        message: Option<LongText>,
        evidence: Vec<DocumentRef>,
    ) -> Result<Vec<DomainEvent>, OrderError> {
        self.order.respond_dispute(
            who,
            DisputeResponse {
                action,
                message,
                evidence,
            },
            self.now,
        )
    }
}

#[test]
fn a_rejected_dispute_is_escalated_by_the_next_sweep_after_the_rejection() {
    // The issue: a rejected dispute waited for day 15.
    let mut w = World::standard();
    w.paid_initial();
    w.advance(days(1));
    w.open(DisputeReason::Quality, usd!("100.00"));
    w.advance(TimeDelta::hours(1));
    w.respond(&supplier(), ResponseAction::Reject);
    let rejected = w.now;
    assert_eq!(w.order.next_sweep_due(), Some(rejected + secs(1)));
    let events = w.sweep_at_and_after(rejected);
    assert_eq!(World::kinds(&events), ["DisputeEscalated"]);
    assert_eq!(
        events[0].body,
        EventBody::DisputeEscalated {
            ground: EscalationGround::SupplierRejected
        }
    );
    assert!(w.order.awaits_arbiter());
    assert_eq!(w.order.next_sweep_due(), None, "waits only for an arbiter");
}

#[test]
fn the_supplier_may_reject_a_claim_only_once_until_it_makes_an_offer() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("500.00"));
    w.respond(&supplier(), ResponseAction::Reject);
    assert_eq!(
        w.try_respond(&supplier(), ResponseAction::Reject, None, vec![]),
        Err(OrderError::Conflict(Conflict::AlreadyRejected))
    );
    w.respond(&supplier(), ResponseAction::Offer(usd!("200.00")));
    w.respond(&supplier(), ResponseAction::Reject);
    assert_eq!(
        w.try_respond(&supplier(), ResponseAction::Reject, None, vec![]),
        Err(OrderError::Conflict(Conflict::AlreadyRejected))
    );
}

#[test]
fn an_arbiters_claim_rejected_is_final_for_that_reason_and_a_suppliers_rejection_is_not() {
    let mut w = World::standard();
    w.paid_initial();
    w.now = ship_by_end() + days(1);
    // A supplier's rejection, then a withdrawal: the buyer may try again.
    w.open(DisputeReason::LateShipment, usd!("500.00"));
    w.respond(&supplier(), ResponseAction::Reject);
    w.withdraw();
    w.open(DisputeReason::LateShipment, usd!("500.00"));
    w.respond(&supplier(), ResponseAction::Reject);
    let r = w.order.escalate_dispute(&buyer(), w.now);
    w.apply(r);
    w.decide(Decision::ClaimRejected);
    assert_eq!(
        w.open_with(DisputeReason::LateShipment, usd!("500.00")),
        Err(OrderError::Rule(Rule::ClaimRejectedFinal("late-shipment")))
    );
    // Another reason remains possible.
    let r = w.open_with(DisputeReason::Quality, usd!("500.00"));
    w.apply(r);
    assert!(w.order.open_dispute().is_some());
}

#[test]
fn an_order_has_at_most_3_disputes_withdrawn_ones_included() {
    let mut w = World::standard();
    w.paid_initial();
    for _ in 0..3 {
        w.open(DisputeReason::Quality, usd!("10.00"));
        w.withdraw();
    }
    assert_eq!(w.order.past_disputes().len() + 1, 3);
    assert_eq!(
        w.open_with(DisputeReason::Quality, usd!("10.00")),
        Err(OrderError::Rule(Rule::TooManyDisputes(3)))
    );
}

#[test]
fn an_arbiter_whose_sub_is_the_buyer_or_the_supplier_can_never_decide_or_resolve_on_the_order() {
    // The issue: a token whose `sub` is the buyer but whose groups say only
    // `arbiter` decided that buyer's own dispute.
    let mut w = World::standard();
    let initial = w.paid_initial();
    w.report(Provider::Bank, &initial, PaymentSignal::Succeeded); // flagged
    w.open(DisputeReason::Quality, usd!("1500.00"));
    w.respond(&supplier(), ResponseAction::Reject);
    let r = w.order.escalate_dispute(&buyer(), w.now);
    w.apply(r);
    let part = domain::ids::RefundId::parse("ref_1_1").expect("id");
    let callers = [
        (
            "sub = buyer, groups [arbiter]",
            Caller::new(user("buyer-1"), [Role::Arbiter]),
        ),
        (
            "sub = supplier, groups [arbiter]",
            Caller::new(user("sup-1"), [Role::Arbiter]),
        ),
        (
            "sub = buyer, groups [buyer, arbiter]",
            Caller::new(user("buyer-1"), [Role::Buyer, Role::Arbiter]),
        ),
        (
            "sub = supplier, groups [supplier, arbiter]",
            Caller::new(user("sup-1"), [Role::Supplier, Role::Arbiter]),
        ),
    ];
    for (name, caller) in callers {
        let before = w.order.clone();
        let decided =
            w.order
                .decide_dispute(&caller, Decision::SupplierAtFault(usd!("1500.00")), w.now);
        assert_eq!(kind_of(decided), ErrorKind::Forbidden, "{name}: decide");
        let resolved = w
            .order
            .resolve_payment(&caller, &initial, FlagResolution::Accept, w.now);
        assert_eq!(kind_of(resolved), ErrorKind::Forbidden, "{name}: payment");
        let resolved =
            w.order
                .resolve_refund(&caller, &part, RefundResolution::SettledOutside, w.now);
        assert_eq!(kind_of(resolved), ErrorKind::Forbidden, "{name}: refund");
        assert_eq!(w.order, before, "{name}: nothing changed");
    }
    // An arbiter who is not a party decides.
    w.decide(Decision::ClaimRejected);
    assert_eq!(
        w.order.dispute().and_then(|d| d.outcome),
        Some(DisputeOutcome::ClaimRejected)
    );
}

#[test]
fn a_1_00_compensation_lets_the_order_go_on_the_supplier_ship_and_the_balance_be_paid() {
    // The issue: a late-shipment dispute settled with a 1.00 compensation
    // left the order `refunded` once `refund.succeeded` arrived.
    let mut w = World::standard();
    let initial = w.paid_initial();
    w.now = ship_by_end() + days(1);
    w.open(DisputeReason::LateShipment, usd!("100.00"));
    w.respond(&supplier(), ResponseAction::Offer(usd!("1.00")));
    let events = w.respond(&buyer(), ResponseAction::Accept);
    assert_eq!(
        World::kinds(&events),
        [
            "DisputeResponded",
            "DisputeResolved",
            "ReservationReleased",
            "RefundRequested"
        ]
    );
    assert!(events.iter().any(|e| matches!(
        e.body,
        EventBody::ReservationReleased { amount, .. } if amount == usd!("1.00")
    )));
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
    assert_eq!(w.order.end_reason(), None);
    assert_eq!(w.order.coverage().reserved, usd!("1499.00"));
    assert_eq!(w.limit.reserved(), usd!("1499.00"));
    assert_eq!(w.order.covered_left(), usd!("1499.00"));
    assert_eq!(w.order.coverage().refunded, usd!("1.00"));
    let events = w.refund_report(0, true);
    assert_eq!(World::kinds(&events), ["RefundSucceeded"]);
    assert_eq!(w.order.status(), OrderStatus::AwaitingShipment);
    let p = w.order.payment(&initial).expect("p");
    assert_eq!(p.status, PaymentStatus::Succeeded, "partly refunded");
    assert_eq!(p.refunded, usd!("1.00"));
    assert_eq!(w.order.amount_paid(), usd!("1499.00"));
    // The supplier ships (late), the balance is paid, receipt confirmed.
    w.ship_now();
    assert!(w.order.shipment().expect("shipped").late);
    assert_eq!(w.order.status(), OrderStatus::Shipped);
    let balance = w.pay(Stage::Balance, card());
    w.succeed(&balance);
    let r = w.order.confirm_receipt(&buyer(), w.now);
    w.apply(r);
    assert_eq!(w.order.status(), OrderStatus::Completed);
    assert_eq!(w.limit.reserved(), Usd::ZERO);
    assert!(w.order.is_finished());
}

#[test]
fn the_covered_amount_left_shrinks_across_disputes_and_only_a_refund_of_everything_paid_closes_the_order()
 {
    let mut d = draft();
    d.coverage = CoverageType::PostDelivery;
    let mut w = World::new(d, usd!("50000.00"));
    w.paid_initial();
    w.ship_now();
    let balance = w.pay(Stage::Balance, card());
    w.succeed(&balance);
    assert_eq!(w.order.covered_left(), usd!("3000.00"));
    w.open(DisputeReason::Quality, usd!("1000.00"));
    w.respond(&supplier(), ResponseAction::Accept);
    assert_eq!(w.order.status(), OrderStatus::AwaitingReceiptConfirmation);
    assert_eq!(w.order.covered_left(), usd!("2000.00"));
    assert_eq!(w.order.amount_paid(), usd!("2000.00"));
    assert_eq!(w.limit.reserved(), usd!("2000.00"));
    assert_eq!(
        w.open_with(DisputeReason::Quality, usd!("2000.01")),
        Err(OrderError::Rule(Rule::RefundExceedsCovered(usd!(
            "2000.00"
        ))))
    );
    w.open(DisputeReason::Quality, usd!("2000.00"));
    w.respond(&supplier(), ResponseAction::Accept);
    assert_eq!(w.order.status(), OrderStatus::RefundPending);
    assert_eq!(w.order.end_reason(), Some(EndReason::Dispute));
    assert_eq!(w.order.covered_left(), Usd::ZERO);
    assert_eq!(w.limit.reserved(), usd!("2000.00"), "held until settled");
    w.settle_refunds();
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    assert_eq!(w.order.amount_refunded(), usd!("3000.00"));
    assert_eq!(w.limit.reserved(), Usd::ZERO);
    assert!(
        w.order
            .payments()
            .iter()
            .all(|p| p.status == PaymentStatus::Refunded)
    );
}

#[test]
fn a_refund_part_is_retried_up_to_5_attempts_then_flagged_and_an_arbiter_resolves_it() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("1500.00"));
    w.respond(&supplier(), ResponseAction::Accept);
    for attempt in 2..=5 {
        let events = w.refund_report(0, false);
        assert_eq!(World::kinds(&events), ["RefundFailed", "RefundRequested"]);
        assert!(
            events.iter().any(|e| matches!(
                e.body,
                EventBody::RefundRequested { attempt: a, .. } if a == attempt
            )),
            "attempt {attempt}"
        );
        assert!(!w.order.refunds()[0].flagged);
    }
    let events = w.refund_report(0, false);
    assert_eq!(World::kinds(&events), ["RefundFailed", "RefundFlagged"]);
    assert!(events.iter().any(|e| e.body
        == EventBody::RefundFlagged {
            refund_id: w.order.refunds()[0].id.clone(),
            reason: Some(RefundFlagReason::RefundFailed)
        }));
    let part = w.order.refunds()[0].clone();
    assert!(part.flagged);
    assert_eq!(part.attempts, 5);
    assert_eq!(part.flag_reason, Some(RefundFlagReason::RefundFailed));
    assert!(w.refund_report(0, false).is_empty(), "no more retries");
    assert!(w.order.awaits_arbiter());
    assert_eq!(w.order.next_sweep_due(), None);
    // Only an arbiter resolves it.
    let id = part.id.clone();
    assert_eq!(
        kind_of(
            w.order
                .resolve_refund(&buyer(), &id, RefundResolution::Retry, w.now)
        ),
        ErrorKind::Forbidden
    );
    let events = w.resolve_part(0, RefundResolution::Retry);
    assert_eq!(World::kinds(&events), ["RefundResolved", "RefundRequested"]);
    assert_eq!(w.order.refunds()[0].attempts, 6);
    assert!(!w.order.refunds()[0].flagged);
    assert_eq!(
        w.order
            .resolve_refund(&arbiter(), &id, RefundResolution::Retry, w.now),
        Err(OrderError::Conflict(Conflict::RefundNotFlagged)),
        "not flagged any more"
    );
    let events = w.refund_report(0, false);
    assert_eq!(World::kinds(&events), ["RefundFailed", "RefundFlagged"]);
    let events = w.resolve_part(0, RefundResolution::SettledOutside);
    assert_eq!(
        World::kinds(&events),
        [
            "RefundResolved",
            "RefundSucceeded",
            "OrderRefunded",
            "ReservationReleased"
        ]
    );
    assert!(w.order.refunds()[0].settled_outside);
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    assert_eq!(
        w.order
            .resolve_refund(&arbiter(), &id, RefundResolution::Retry, w.now),
        Err(OrderError::Conflict(Conflict::RefundNotFlagged)),
        "settled"
    );
    let unknown = domain::ids::RefundId::parse("ref_9_9").expect("id");
    assert_eq!(
        kind_of(
            w.order
                .resolve_refund(&arbiter(), &unknown, RefundResolution::Retry, w.now)
        ),
        ErrorKind::NotFound
    );
}

#[test]
fn a_refund_part_not_confirmed_10_working_days_after_its_attempt_is_flagged_overdue() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("1500.00"));
    w.respond(&supplier(), ResponseAction::Accept); // Monday 4 January
    let due = utc(2027, 1, 18, 23, 59, 59);
    let part = w.order.refunds()[0].id.clone();
    let listed = w
        .order
        .deadlines()
        .into_iter()
        .find(|d| d.kind == DeadlineKind::RefundExpectedBy)
        .expect("listed");
    assert_eq!((listed.due, listed.refund_id), (due, Some(part.clone())));
    assert_eq!(w.order.next_sweep_due(), Some(due + secs(1)));
    let events = w.sweep_at_and_after(due);
    assert_eq!(World::kinds(&events), ["RefundFlagged"]);
    assert_eq!(
        events[0].body,
        EventBody::RefundFlagged {
            refund_id: part,
            reason: Some(RefundFlagReason::Overdue)
        }
    );
    assert_eq!(w.order.next_sweep_due(), None);
    assert!(w.order.awaits_arbiter());
    // A retry is a new attempt with its own 10 working days.
    w.now = utc(2027, 1, 20, 12, 0, 0); // Wednesday
    w.resolve_part(0, RefundResolution::Retry);
    assert_eq!(
        w.deadline(DeadlineKind::RefundExpectedBy),
        Some(utc(2027, 2, 3, 23, 59, 59))
    );
    // A provider's success still settles it.
    w.refund_report(0, true);
    assert_eq!(w.order.status(), OrderStatus::Refunded);
}

#[test]
fn a_refund_confirmed_for_another_amount_or_by_the_wrong_provider_is_flagged_mismatch() {
    for wrong_provider in [false, true] {
        let mut w = World::standard();
        w.paid_initial();
        w.open(DisputeReason::Quality, usd!("1500.00"));
        w.respond(&supplier(), ResponseAction::Accept);
        let part = w.order.refunds()[0].clone();
        let (provider, amount) = if wrong_provider {
            (Provider::Bank, part.amount)
        } else {
            (part.provider, usd!("1499.99"))
        };
        let r = w.order.apply_refund_report(
            provider,
            RefundReport {
                refund_id: part.id.clone(),
                succeeded: true,
                amount: Some(amount),
            },
            w.now,
        );
        let events = w.apply(r);
        assert_eq!(World::kinds(&events), ["RefundFlagged"]);
        assert_eq!(
            w.order.refunds()[0].flag_reason,
            Some(RefundFlagReason::Mismatch)
        );
        assert_eq!(w.order.status(), OrderStatus::RefundPending);
    }
}

#[test]
fn a_dispute_holds_at_most_50_offers_and_comments_25_per_party_and_actions_are_never_refused_by_count()
 {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("1000.00"));
    let say = || Some(long("see the photos"));
    for _ in 0..25 {
        let r = w.try_respond(&buyer(), ResponseAction::Comment, say(), vec![]);
        w.apply(r);
    }
    assert_eq!(
        w.try_respond(&buyer(), ResponseAction::Comment, say(), vec![]),
        Err(OrderError::Rule(Rule::TooManyMessagesForParty(25)))
    );
    for i in 0..25 {
        let action = if i == 24 {
            ResponseAction::Offer(usd!("300.00"))
        } else {
            ResponseAction::Comment
        };
        let r = w.try_respond(&supplier(), action, say(), vec![]);
        w.apply(r);
    }
    for who in [buyer(), supplier()] {
        assert_eq!(
            w.try_respond(&who, ResponseAction::Comment, say(), vec![]),
            Err(OrderError::Rule(Rule::TooManyMessages(50)))
        );
    }
    assert_eq!(
        w.try_respond(
            &supplier(),
            ResponseAction::Offer(usd!("400.00")),
            None,
            vec![]
        ),
        Err(OrderError::Rule(Rule::TooManyMessages(50))),
        "an offer counts"
    );
    // Moving or ending the dispute is never refused by a count.
    let r = w.try_respond(&buyer(), ResponseAction::Reject, say(), vec![]);
    w.apply(r);
    w.respond(&supplier(), ResponseAction::Reject);
    let r = w.order.escalate_dispute(&buyer(), w.now);
    w.apply(r);
    w.withdraw();
    // The next dispute has its own room.
    w.open(DisputeReason::Quality, usd!("10.00"));
    let r = w.try_respond(&buyer(), ResponseAction::Comment, say(), vec![]);
    w.apply(r);
}

#[test]
fn a_dispute_holds_at_most_20_pieces_of_evidence_10_per_party() {
    let mut w = World::standard();
    w.paid_initial();
    let r = w.order.raise_dispute(
        &buyer(),
        OpenDispute {
            reason: DisputeReason::Quality,
            requested_refund: usd!("10.00"),
            description: long("broken"),
            evidence: docs(11, "b"),
        },
        w.now,
    );
    assert_eq!(r, Err(OrderError::Rule(Rule::TooMuchEvidenceForParty(10))));
    let r = w.order.raise_dispute(
        &buyer(),
        OpenDispute {
            reason: DisputeReason::Quality,
            requested_refund: usd!("10.00"),
            description: long("broken"),
            evidence: docs(10, "b"),
        },
        w.now,
    );
    w.apply(r);
    assert_eq!(
        w.try_respond(&buyer(), ResponseAction::Comment, None, docs(1, "b2")),
        Err(OrderError::Rule(Rule::TooMuchEvidenceForParty(10)))
    );
    let r = w.try_respond(&supplier(), ResponseAction::Comment, None, docs(10, "s"));
    w.apply(r);
    for who in [buyer(), supplier()] {
        assert_eq!(
            w.try_respond(&who, ResponseAction::Comment, None, docs(1, "x")),
            Err(OrderError::Rule(Rule::TooMuchEvidence(20)))
        );
    }
}

#[test]
fn a_partys_dispute_texts_are_bounded_at_32_kib_after_which_actions_carry_at_most_500_characters_up_to_8_kib()
 {
    use domain::dispute::{MAX_PARTY_OVERFLOW_BYTES, MAX_PARTY_TEXT_BYTES};
    assert_eq!(
        (MAX_PARTY_TEXT_BYTES, MAX_PARTY_OVERFLOW_BYTES),
        (32_768, 8_192)
    );
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("1000.00")); // "not as agreed": 13 bytes
    for _ in 0..16 {
        let r = w.try_respond(
            &buyer(),
            ResponseAction::Comment,
            Some(text_of(2000)),
            vec![],
        );
        w.apply(r);
    }
    // 13 + 16 × 2000 = 32,013: 755 bytes fit exactly.
    let r = w.try_respond(
        &buyer(),
        ResponseAction::Comment,
        Some(text_of(755)),
        vec![],
    );
    w.apply(r);
    assert_eq!(w.order.dispute_text_bytes(Party::Buyer), (32_768, 0));
    let full = Err(OrderError::Rule(Rule::DisputeTextsFull(32_768)));
    assert_eq!(
        w.try_respond(&buyer(), ResponseAction::Comment, Some(text_of(1)), vec![]),
        full
    );
    assert_eq!(
        w.try_respond(&buyer(), ResponseAction::Comment, None, docs(1, "late")),
        full
    );
    // The other party's room is its own.
    let r = w.try_respond(
        &supplier(),
        ResponseAction::Comment,
        Some(text_of(2000)),
        vec![],
    );
    w.apply(r);
    // Actions that move the dispute still carry a short message.
    w.respond(&supplier(), ResponseAction::Offer(usd!("100.00")));
    assert_eq!(
        w.try_respond(&buyer(), ResponseAction::Reject, Some(text_of(501)), vec![]),
        Err(OrderError::Rule(Rule::MessageTooLongWhenFull(500)))
    );
    for i in 0..16 {
        if i > 0 {
            w.respond(&supplier(), ResponseAction::Offer(usd!("100.00")));
        }
        let r = w.try_respond(&buyer(), ResponseAction::Reject, Some(text_of(500)), vec![]);
        w.apply(r);
    }
    assert_eq!(w.order.dispute_text_bytes(Party::Buyer), (32_768, 8_000));
    assert!(
        w.order
            .dispute()
            .and_then(|d| d.entries.last())
            .is_some_and(|e| e.over_budget)
    );
    w.respond(&supplier(), ResponseAction::Offer(usd!("100.00")));
    assert_eq!(
        w.try_respond(&buyer(), ResponseAction::Reject, Some(text_of(193)), vec![]),
        Err(OrderError::Rule(Rule::NoMessageRoomLeft))
    );
    let r = w.try_respond(&buyer(), ResponseAction::Reject, Some(text_of(192)), vec![]);
    w.apply(r);
    w.respond(&supplier(), ResponseAction::Offer(usd!("100.00")));
    assert_eq!(
        w.try_respond(&buyer(), ResponseAction::Reject, Some(text_of(1)), vec![]),
        Err(OrderError::Rule(Rule::NoMessageRoomLeft))
    );
    // Without a message an action is always accepted.
    let r = w.try_respond(&buyer(), ResponseAction::Accept, None, vec![]);
    w.apply(r);
    assert_eq!(
        w.order.dispute().and_then(|d| d.outcome),
        Some(DisputeOutcome::Agreed)
    );
}

#[test]
fn a_second_reminder_by_the_same_party_within_24_hours_is_refused_with_retry_after() {
    let mut w = World::standard();
    let first = w.now;
    let r = w.order.remind(&buyer(), w.now);
    w.apply(r);
    let cases = [
        ("+1 hour", TimeDelta::hours(1), Some(23 * 3600)),
        ("+24 hours − 1 s", TimeDelta::hours(24) - secs(1), Some(1)),
        (
            "+24 hours − 1 ms",
            TimeDelta::hours(24) - TimeDelta::milliseconds(1),
            Some(1),
        ),
        ("+24 hours", TimeDelta::hours(24), None),
    ];
    for (name, after, retry) in cases {
        let mut order = w.order.clone();
        let revision = order.revision();
        let r = order.remind(&buyer(), first + after);
        match retry {
            Some(secs) => {
                let e = r.expect_err(name);
                assert_eq!(e.kind(), ErrorKind::TooManyRequests, "{name}");
                assert!(
                    matches!(e, OrderError::TooManyRequests { retry_after_secs, .. } if retry_after_secs == secs),
                    "{name}: {e:?}"
                );
                assert_eq!(order, w.order, "{name}: nothing changed");
            }
            None => {
                r.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(order.revision(), revision + 1, "{name}");
                assert_eq!(order.version(), w.order.version(), "{name}");
            }
        }
    }
    // Each party has its own 24 hours; a conflict outranks the rate limit.
    w.advance(TimeDelta::hours(2));
    let r = w
        .order
        .amend(&supplier(), Terms::new(draft()).expect("terms"), w.now);
    w.apply(r);
    let r = w.order.remind(&supplier(), w.now);
    w.apply(r);
    assert_eq!(
        w.order.remind(&buyer(), w.now),
        Err(OrderError::Conflict(Conflict::NothingToRemind))
    );
}

#[test]
fn the_deadlines_show_every_running_clock_and_the_due_index_is_the_first_one_plus_a_second() {
    let eod = |d: u32| utc(2027, 1, d, 23, 59, 59);
    use DeadlineKind as K;
    type Build = fn() -> World;
    type Case = (
        &'static str,
        Build,
        Vec<(DeadlineKind, Timestamp)>,
        Option<Timestamp>,
    );
    let cases: Vec<Case> = vec![
        (
            "draft",
            || World::standard(),
            vec![
                (K::ConfirmationDue, start() + days(30)),
                (K::ShipBy, ship_by_end()),
            ],
            Some(start() + days(30) + secs(1)),
        ),
        (
            "awaiting the initial payment",
            || {
                let mut w = World::standard();
                w.confirm();
                w
            },
            vec![
                (K::UnpaidCancellation, start() + days(30)),
                (K::ShipBy, ship_by_end()),
            ],
            Some(start() + days(30) + secs(1)),
        ),
        (
            "a card payment in flight",
            || {
                let mut w = World::standard();
                w.confirm();
                w.pay(Stage::Initial, card());
                w
            },
            vec![
                (K::PaymentExpectedBy, eod(7)),
                (K::PaymentExpires, eod(21)),
                (K::ShipBy, ship_by_end()),
            ],
            Some(eod(7) + secs(1)),
        ),
        (
            "a Pay Later payment awaiting its agreement",
            || {
                let mut w = World::standard();
                w.confirm();
                w.pay(Stage::Initial, PaymentMethod::PayLater { term_months: 1 });
                w
            },
            vec![
                (K::AgreementDue, start() + days(7)),
                (K::ShipBy, ship_by_end()),
            ],
            Some(start() + days(7) + secs(1)),
        ),
        (
            "awaiting shipment",
            || {
                let mut w = World::standard();
                w.paid_initial();
                w
            },
            vec![
                (K::ShipBy, ship_by_end()),
                (K::NotShippedRefund, ship_by_end() + days(30)),
            ],
            Some(ship_by_end() + days(30) + secs(1)),
        ),
        (
            "a dispute open",
            || {
                let mut w = World::standard();
                w.paid_initial();
                w.open(DisputeReason::Quality, usd!("10.00"));
                w
            },
            vec![
                (K::SupplierResponseDue, start() + days(5)),
                (K::EscalationDue, start() + days(15)),
                (K::ShipBy, ship_by_end()),
            ],
            Some(start() + days(5) + secs(1)),
        ),
        (
            "an escalated dispute waits only for an arbiter",
            || {
                let mut w = World::standard();
                w.paid_initial();
                w.open(DisputeReason::Quality, usd!("10.00"));
                w.respond(&supplier(), ResponseAction::Reject);
                let r = w.order.escalate_dispute(&buyer(), w.now);
                w.apply(r);
                w
            },
            vec![(K::ShipBy, ship_by_end())],
            None,
        ),
        (
            "shipped, the balance due",
            || {
                let mut w = World::standard();
                w.paid_initial();
                w.ship_now();
                w
            },
            vec![(K::BalanceDue, start() + days(90))],
            Some(start() + days(90) + secs(1)),
        ),
        (
            "a balance payment in flight",
            || {
                let mut w = World::standard();
                w.paid_initial();
                w.ship_now();
                w.pay(Stage::Balance, card());
                w
            },
            vec![(K::PaymentExpectedBy, eod(7)), (K::PaymentExpires, eod(21))],
            Some(eod(7) + secs(1)),
        ),
        (
            "awaiting receipt: the notice first",
            || {
                let mut w = World::new(paid_in_full(), usd!("50000.00"));
                w.paid_initial();
                w.ship_now();
                w
            },
            vec![(K::ReceiptAutoConfirmation, start() + days(30))],
            Some(start() + days(27) + secs(1)),
        ),
        (
            "completed, post-delivery coverage running",
            || {
                let mut d = paid_in_full();
                d.coverage = CoverageType::PostDelivery;
                let mut w = World::new(d, usd!("50000.00"));
                w.paid_initial();
                w.ship_now();
                let r = w.order.confirm_receipt(&buyer(), w.now);
                w.apply(r);
                w
            },
            vec![
                (K::FeedbackWindowEnd, start() + days(60)),
                (K::QualityWindowEnd, start() + days(180)),
            ],
            Some(start() + days(180) + secs(1)),
        ),
        (
            "refund pending",
            || {
                let mut w = World::standard();
                w.paid_initial();
                w.open(DisputeReason::Quality, usd!("1500.00"));
                w.respond(&supplier(), ResponseAction::Accept);
                w
            },
            vec![(K::RefundExpectedBy, eod(18))],
            Some(eod(18) + secs(1)),
        ),
    ];
    for (name, build, expected, next) in cases {
        let w = build();
        let actual: Vec<_> = w
            .order
            .deadlines()
            .iter()
            .map(|d| (d.kind, d.due))
            .collect();
        assert_eq!(actual, expected, "{name}");
        assert_eq!(w.order.next_sweep_due(), next, "{name}: due index");
        if !w.order.is_finished() && next.is_none() {
            assert!(w.order.awaits_arbiter(), "{name}: no deadline, no arbiter");
        }
    }
}

#[test]
fn the_inspection_fee_is_refunded_once_however_many_quality_disputes_find_the_supplier_at_fault() {
    let mut d = paid_in_full();
    d.coverage = CoverageType::PostDelivery;
    d.inspection = Some(Inspection {
        agency: InspectionAgency::Sgs,
        location: InspectionLocation::China,
    });
    let mut w = World::new(d, usd!("50000.00"));
    w.paid_initial();
    w.ship_now();
    let r = w.order.confirm_receipt(&buyer(), w.now);
    w.apply(r);
    for round in 0..2 {
        w.advance(days(1));
        w.open(DisputeReason::Quality, usd!("100.00"));
        w.advance(days(6));
        w.sweep();
        w.decide(Decision::SupplierAtFault(usd!("100.00")));
        assert_eq!(w.order.status(), OrderStatus::Completed, "round {round}");
    }
    let fees: Vec<_> = std::iter::once(w.order.dispute().expect("last"))
        .chain(w.order.past_disputes())
        .filter_map(|d| d.inspection_fee_refund)
        .collect();
    assert_eq!(fees, [usd!("200.00")], "the 200.00 fee is refunded once");
    let total: Usd = Usd::sum(w.order.refunds().iter().map(|r| r.amount)).expect("sum");
    assert_eq!(total, usd!("400.00"), "2 × 100.00 + the fee once");
}

#[test]
fn an_expiry_clears_only_an_overdue_flag_and_other_flags_stay_for_the_arbiter() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card());
    // A confirmation for another amount: flagged, not applied.
    let r = w.order.apply_payment_report(
        Provider::Card,
        PaymentReport {
            payment_id: id.clone(),
            signal: PaymentSignal::Succeeded,
            confirmed: Some((usd!("1499.99"), "USD".into())),
            provider_reference: None,
        },
        w.now,
    );
    w.apply(r);
    let events = w.sweep_until(utc(2027, 1, 22, 0, 0, 0));
    assert!(World::kinds(&events).contains(&"PaymentExpired"));
    let p = w.order.payment(&id).expect("p");
    assert_eq!(p.failure, Some(FailureReason::Expired));
    assert_eq!(
        p.flag.as_ref().map(|f| f.reason),
        Some(FlagReason::AmountMismatch)
    );
    assert!(w.order.awaits_arbiter());
}

#[test]
fn finished_means_terminal_or_completed_with_nothing_reserved() {
    use OrderStatus as S;
    for s in S::ALL {
        let terminal = matches!(s, S::Refunded | S::Cancelled | S::Closed);
        assert_eq!(s.is_terminal(), terminal, "{s}");
        assert_eq!(s.is_closed(), terminal || s == S::RefundPending, "{s}");
    }
    // Completed post-delivery: not finished while its coverage holds the limit.
    let mut d = paid_in_full();
    d.coverage = CoverageType::PostDelivery;
    let mut w = World::new(d, usd!("50000.00"));
    w.paid_initial();
    w.ship_now();
    let r = w.order.confirm_receipt(&buyer(), w.now);
    w.apply(r);
    assert!(!w.order.is_finished());
    w.sweep_until(start() + days(181));
    assert_eq!(w.order.coverage().reserved, Usd::ZERO);
    assert!(w.order.is_finished());
    assert_eq!(w.order.next_sweep_due(), None);
}

#[test]
fn a_declined_payment_is_no_longer_overdue() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card());
    let events = w.sweep_until(utc(2027, 1, 8, 0, 0, 0));
    assert_eq!(World::kinds(&events), ["PaymentOverdue", "PaymentFlagged"]);
    w.fail(&id);
    let p = w.order.payment(&id).expect("p");
    assert_eq!(p.failure, Some(FailureReason::Declined));
    assert!(
        p.flag.is_none(),
        "like an expiry, a decline ends the overdue flag"
    );
    assert!(!w.order.awaits_arbiter());
}

#[test]
fn a_flag_that_says_no_money_arrived_is_acknowledged_never_refunded() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card());
    // The wrong provider's success: nothing arrived that could be returned.
    w.report(Provider::Bank, &id, PaymentSignal::Succeeded);
    assert_eq!(
        w.order
            .payment(&id)
            .and_then(|p| p.flag.as_ref())
            .map(|f| f.reason),
        Some(FlagReason::WrongProvider)
    );
    assert_eq!(
        kind_of(
            w.order
                .resolve_payment(&arbiter(), &id, FlagResolution::Refund, w.now)
        ),
        ErrorKind::Conflict
    );
    assert!(w.order.refunds().is_empty());
    w.resolve(&id, FlagResolution::Accept);
    assert!(w.order.payment(&id).expect("p").flag.is_none());
    assert!(!w.order.awaits_arbiter());
}

// ---- a flag about money stays; an offer takes back a rejection; a dispute
// ---- can always be opened --------------------------------------------------------

impl World {
    fn flag_of(&self, id: &PaymentId) -> Option<FlagReason> {
        self.order
            .payment(id)
            .and_then(|p| p.flag.as_ref())
            .map(|f| f.reason)
    }
}

/// A card payment is declined; the card provider then confirms it after
/// all: money arrived that was not applied (`contradicts_final_status`).
/// Another provider's report about the same payment must not replace that
/// flag with `wrong_provider` — which an arbiter could only acknowledge,
/// leaving the buyer's money with nobody to return it: the flag stays, no
/// event is emitted, the order is unchanged, and the arbiter can still
/// refund the money (or, while the stage waits, accept it late).
#[test]
fn a_wrong_provider_report_never_hides_money_that_arrived() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card());
    w.fail(&id);
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
    let events = w.report(Provider::Card, &id, PaymentSignal::Succeeded);
    assert_eq!(World::kinds(&events), ["PaymentFlagged"]);
    assert_eq!(w.flag_of(&id), Some(FlagReason::ContradictsFinalStatus));

    for provider in [Provider::Bank, Provider::Echeck, Provider::Paylater] {
        for signal in [PaymentSignal::Succeeded, PaymentSignal::Failed] {
            let before = w.order.clone();
            let events = w.report(provider, &id, signal);
            assert!(
                events.is_empty(),
                "{provider:?} {signal:?}: {:?}",
                World::kinds(&events)
            );
            assert_eq!(w.order, before, "{provider:?} {signal:?}");
        }
    }
    // The same report again keeps the flag as it is: no new event.
    let events = w.report(Provider::Card, &id, PaymentSignal::Succeeded);
    assert!(events.is_empty(), "{:?}", World::kinds(&events));
    let p = w.order.payment(&id).expect("p");
    assert_eq!(
        (p.status, p.failure, p.flag.as_ref().map(|f| f.reason)),
        (
            PaymentStatus::Failed,
            Some(FailureReason::Declined),
            Some(FlagReason::ContradictsFinalStatus)
        )
    );
    assert!(w.order.awaits_arbiter());

    // Accepting it late is still possible: its stage waits, nothing in
    // flight (shown on a copy).
    let mut copy = w.order.clone();
    let events = copy
        .resolve_payment(&arbiter(), &id, FlagResolution::Accept, w.now)
        .expect("accepted late");
    assert_eq!(
        World::kinds(&events),
        ["PaymentFlagResolved", "PaymentSucceeded"]
    );
    assert_eq!(copy.status(), OrderStatus::AwaitingShipment);

    // The arbiter refunds it: the money is returned whole.
    let events = w.resolve(&id, FlagResolution::Refund);
    assert_eq!(
        World::kinds(&events),
        ["PaymentFlagResolved", "RefundRequested"]
    );
    assert_eq!(w.flag_of(&id), None);
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
    assert_eq!(w.order.amount_paid(), Usd::ZERO, "nothing applied");
    w.settle_refunds();
    let p = w.order.payment(&id).expect("p");
    assert_eq!(p.status, PaymentStatus::Refunded);
    assert_eq!(w.order.amount_refunded(), usd!("1500.00"));
    assert!(!w.order.awaits_arbiter());
}

/// A payment overdue (a flag about a date) then confirmed for another
/// amount (about money): money replaces the date. Then the wrong
/// provider's report, the sweep's expiry and the overdue report (emitted
/// once) leave the money flag as it is.
#[test]
fn a_flag_about_an_event_or_a_date_gives_way_to_money_and_never_the_other_way() {
    let mut w = World::standard();
    w.confirm();
    let id = w.pay(Stage::Initial, card());
    // Paid on Monday; latest arrival Thursday; flagged at Friday's sweep.
    let events = w.sweep_until(utc(2027, 1, 8, 0, 0, 0));
    assert_eq!(World::kinds(&events), ["PaymentOverdue", "PaymentFlagged"]);
    assert_eq!(w.flag_of(&id), Some(FlagReason::Overdue));
    // The wrong provider: an event flag replaces the date flag.
    let events = w.report(Provider::Bank, &id, PaymentSignal::Processing);
    assert_eq!(World::kinds(&events), ["PaymentFlagged"]);
    assert_eq!(w.flag_of(&id), Some(FlagReason::WrongProvider));
    let r = w.order.apply_payment_report(
        Provider::Card,
        PaymentReport {
            payment_id: id.clone(),
            signal: PaymentSignal::Succeeded,
            confirmed: Some((usd!("1500.01"), "USD".into())),
            provider_reference: None,
        },
        w.now,
    );
    let events = w.apply(r);
    assert_eq!(World::kinds(&events), ["PaymentFlagged"]);
    assert_eq!(w.flag_of(&id), Some(FlagReason::AmountMismatch));
    let events = w.report(Provider::Bank, &id, PaymentSignal::Succeeded);
    assert!(events.is_empty(), "{:?}", World::kinds(&events));
    assert_eq!(w.flag_of(&id), Some(FlagReason::AmountMismatch));
    // The payment expires: the money flag stays for the arbiter.
    let events = w.sweep_until(utc(2027, 1, 22, 0, 0, 0));
    assert!(World::kinds(&events).contains(&"PaymentExpired"));
    assert!(!World::kinds(&events).contains(&"PaymentFlagged"));
    assert_eq!(w.flag_of(&id), Some(FlagReason::AmountMismatch));
    // And the arbiter returns the money that arrived.
    let events = w.resolve(&id, FlagResolution::Refund);
    assert_eq!(
        World::kinds(&events),
        ["PaymentFlagResolved", "RefundRequested"]
    );
}

/// Money kept beyond the coverage of an order never shipped is flagged
/// `beyond_coverage`; a late `payment.failed` from its provider, or
/// another provider's report, does not replace that flag (which would
/// leave the arbiter only an acknowledgement): the arbiter still refunds
/// what the payment holds.
#[test]
fn a_contradiction_or_the_wrong_provider_never_replaces_money_kept_beyond_the_coverage() {
    // Covered: the $1000.00 of limit available, of the $1500.00 paid.
    let mut w = World::new(draft(), usd!("1000.00"));
    let id = w.paid_initial();
    w.sweep_until(ship_by_end() + days(31));
    assert_eq!(w.order.status(), OrderStatus::RefundPending);
    assert_eq!(w.flag_of(&id), Some(FlagReason::BeyondCoverage));
    for (provider, signal) in [
        (Provider::Card, PaymentSignal::Failed),
        (Provider::Bank, PaymentSignal::Succeeded),
    ] {
        let events = w.report(provider, &id, signal);
        assert!(
            events.is_empty(),
            "{provider:?} {signal:?}: {:?}",
            World::kinds(&events)
        );
        assert_eq!(w.flag_of(&id), Some(FlagReason::BeyondCoverage));
    }
    let events = w.resolve(&id, FlagResolution::Refund);
    assert_eq!(
        World::kinds(&events),
        ["PaymentFlagResolved", "RefundRequested"]
    );
    w.settle_refunds();
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    assert_eq!(w.order.amount_refunded(), usd!("1500.00"));
}

/// Money arriving on a closed order replaces any flag with `closed_order`
/// (its refund is requested at once): here a balance payment confirmed
/// for another amount while a dispute refunding everything paid closed
/// the order.
#[test]
fn money_arriving_on_a_closed_order_replaces_a_flag_about_money_with_closed_order() {
    let mut w = World::standard();
    w.paid_initial();
    w.advance(TimeDelta::days(31));
    w.ship();
    let balance = w.pay(Stage::Balance, card());
    let r = w.order.apply_payment_report(
        Provider::Card,
        PaymentReport {
            payment_id: balance.clone(),
            signal: PaymentSignal::Succeeded,
            confirmed: Some((usd!("1499.00"), "USD".into())),
            provider_reference: None,
        },
        w.now,
    );
    w.apply(r);
    assert_eq!(w.flag_of(&balance), Some(FlagReason::AmountMismatch));
    w.open(DisputeReason::LateShipment, usd!("1500.00"));
    w.respond(&supplier(), ResponseAction::Accept);
    assert_eq!(w.order.status(), OrderStatus::RefundPending);
    let events = w.report(Provider::Card, &balance, PaymentSignal::Succeeded);
    assert_eq!(
        World::kinds(&events),
        ["PaymentSucceeded", "PaymentFlagged", "RefundRequested"]
    );
    assert_eq!(w.flag_of(&balance), Some(FlagReason::ClosedOrder));
    w.settle_refunds();
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    assert_eq!(w.order.amount_refunded(), usd!("3000.00"));
    // Resolving it only acknowledges it.
    let events = w.resolve(&balance, FlagResolution::Accept);
    assert_eq!(World::kinds(&events), ["PaymentFlagResolved"]);
    assert_eq!(w.order.amount_refunded(), usd!("3000.00"));
}

/// The supplier rejects the claim, then (before any sweep ran) makes an
/// offer: the offer takes the rejection back. The dispute is negotiated
/// again: the sweep does not escalate it for the rejection (only at the
/// resolution deadline), the buyer may not escalate on that ground, and
/// the supplier may reject again — which the next sweep escalates.
#[test]
fn an_offer_after_a_rejection_takes_it_back_and_the_sweep_does_not_escalate_for_it() {
    let mut w = World::standard();
    w.paid_initial();
    w.advance(days(1));
    w.open(DisputeReason::Quality, usd!("100.00"));
    let resolution_due = w.order.dispute().expect("dispute").resolution_due;
    w.advance(TimeDelta::hours(1));
    w.respond(&supplier(), ResponseAction::Reject);
    let rejected = w.now;
    assert_eq!(w.order.next_sweep_due(), Some(rejected + secs(1)));
    // The offer, in the same second as the rejection.
    w.respond(&supplier(), ResponseAction::Offer(usd!("50.00")));
    let d = w.order.open_dispute().expect("open");
    assert_eq!(
        (
            d.supplier_rejected,
            d.rejected_at,
            d.pending_offer,
            d.status
        ),
        (false, None, Some(usd!("50.00")), DisputeStatus::Negotiating)
    );
    assert_eq!(
        w.order.next_sweep_due(),
        Some(resolution_due + secs(1)),
        "only the resolution deadline is left"
    );
    for at in [rejected + secs(1), rejected + days(1)] {
        w.now = at;
        let events = w.sweep();
        assert!(events.is_empty(), "{at}: {:?}", World::kinds(&events));
    }
    let not_yet = w.order.escalate_dispute(&buyer(), w.now);
    assert!(
        matches!(
            not_yet,
            Err(OrderError::Rule(Rule::NotYetEscalatable { .. }))
        ),
        "{not_yet:?}"
    );
    // The buyer turns the offer down: still nothing to escalate for.
    w.respond(&buyer(), ResponseAction::Reject);
    assert!(!w.order.open_dispute().expect("open").supplier_rejected);
    assert!(w.sweep().is_empty());
    assert_eq!(
        kind_of(w.order.escalate_dispute(&buyer(), w.now)),
        ErrorKind::Unprocessable
    );
    // The supplier may reject again; the next sweep escalates it.
    w.advance(TimeDelta::hours(2));
    w.respond(&supplier(), ResponseAction::Reject);
    let rejected_again = w.now;
    let d = w.order.open_dispute().expect("open");
    assert_eq!(
        (d.supplier_rejected, d.rejected_at),
        (true, Some(rejected_again))
    );
    let events = w.sweep_at_and_after(rejected_again);
    assert_eq!(
        events.iter().map(|e| e.body.clone()).collect::<Vec<_>>(),
        [EventBody::DisputeEscalated {
            ground: EscalationGround::SupplierRejected
        }]
    );
}

/// The same taking back, seen by the buyer: rejected, the buyer may
/// escalate at once; after the supplier's offer they may not (until the
/// resolution deadline, or another rejection).
#[test]
fn after_an_offer_takes_back_a_rejection_the_buyer_escalates_only_at_the_resolution_deadline() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("100.00"));
    let resolution_due = w.order.dispute().expect("dispute").resolution_due;
    w.respond(&supplier(), ResponseAction::Reject);
    let mut copy = w.order.clone();
    copy.escalate_dispute(&buyer(), w.now)
        .expect("a rejection may be escalated at once");
    w.respond(&supplier(), ResponseAction::Offer(usd!("20.00")));
    w.respond(&buyer(), ResponseAction::Reject);
    w.now = resolution_due - secs(1);
    assert_eq!(
        kind_of(w.order.escalate_dispute(&buyer(), w.now)),
        ErrorKind::Unprocessable
    );
    w.now = resolution_due;
    let r = w.order.escalate_dispute(&buyer(), w.now);
    let events = w.apply(r);
    assert_eq!(
        events.iter().map(|e| e.body.clone()).collect::<Vec<_>>(),
        [EventBody::DisputeEscalated {
            ground: EscalationGround::NoSolutionInTime
        }]
    );
}

/// The buyer uses up its 32 KiB share of dispute texts and its 8 KiB of
/// short messages beyond it, and withdraws. Opening a new dispute is still
/// accepted with a description of at most 500 characters (beyond the
/// overflow: the three disputes an order may have bound it), never with a
/// longer one or with evidence; the order's third dispute is its last.
#[test]
fn a_party_whose_text_share_and_overflow_are_used_up_can_still_open_a_dispute_with_a_short_description()
 {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("1000.00")); // "not as agreed": 13 bytes
    for n in [2000; 16].into_iter().chain([755]) {
        let r = w.try_respond(&buyer(), ResponseAction::Comment, Some(text_of(n)), vec![]);
        w.apply(r);
    }
    assert_eq!(w.order.dispute_text_bytes(Party::Buyer), (32_768, 0));
    // Sixteen rejections of 500 characters and one of 192: 8,192 bytes.
    for n in [500; 16].into_iter().chain([192]) {
        w.respond(&supplier(), ResponseAction::Offer(usd!("100.00")));
        let r = w.try_respond(&buyer(), ResponseAction::Reject, Some(text_of(n)), vec![]);
        w.apply(r);
    }
    assert_eq!(w.order.dispute_text_bytes(Party::Buyer), (32_768, 8_192));
    w.respond(&supplier(), ResponseAction::Offer(usd!("100.00")));
    assert_eq!(
        w.try_respond(&buyer(), ResponseAction::Reject, Some(text_of(1)), vec![]),
        Err(OrderError::Rule(Rule::NoMessageRoomLeft))
    );
    w.withdraw();

    let open = |w: &mut World, description: LongText, evidence: Vec<DocumentRef>| {
        w.order.raise_dispute(
            &buyer(),
            OpenDispute {
                reason: DisputeReason::Quality,
                requested_refund: usd!("100.00"),
                description,
                evidence,
            },
            w.now,
        )
    };
    let before = w.order.clone();
    assert_eq!(
        open(&mut w, text_of(501), vec![]),
        Err(OrderError::Rule(Rule::MessageTooLongWhenFull(500)))
    );
    assert_eq!(
        open(&mut w, text_of(10), docs(1, "late")),
        Err(OrderError::Rule(Rule::DisputeTextsFull(32_768)))
    );
    assert_eq!(w.order, before, "refused: nothing changed");
    // 500 characters: accepted, beyond the overflow.
    let r = open(&mut w, text_of(500), vec![]);
    let events = w.apply(r);
    assert_eq!(World::kinds(&events), ["DisputeOpened"]);
    assert_eq!(w.order.dispute_text_bytes(Party::Buyer), (32_768, 8_692));
    let d = w.order.open_dispute().expect("open");
    assert!(d.entries.last().is_some_and(|e| e.over_budget));
    // The supplier's share is its own: it answers with a long message.
    let r = w.try_respond(
        &supplier(),
        ResponseAction::Offer(usd!("50.00")),
        Some(text_of(2000)),
        vec![],
    );
    w.apply(r);
    // The buyer's actions in it carry no message any more, but are taken.
    assert_eq!(
        w.try_respond(&buyer(), ResponseAction::Reject, Some(text_of(1)), vec![]),
        Err(OrderError::Rule(Rule::NoMessageRoomLeft))
    );
    let r = w.try_respond(&buyer(), ResponseAction::Reject, None, vec![]);
    w.apply(r);
    w.withdraw();
    // The order's third dispute, with a one-character description.
    let r = open(&mut w, text_of(1), vec![]);
    w.apply(r);
    assert_eq!(w.order.dispute_text_bytes(Party::Buyer), (32_768, 8_693));
    w.withdraw();
    assert_eq!(
        open(&mut w, text_of(1), vec![]),
        Err(OrderError::Rule(Rule::TooManyDisputes(3)))
    );
}
