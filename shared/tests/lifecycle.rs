//! Scenarios through the whole order lifecycle, as the use cases will drive
//! it: each step's status, events and effects on the supplier's limit and
//! the buyer's credit line.

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use domain::actor::{Caller, Provider, Role};
use domain::calendar::Timestamp;
use domain::contract::{
    Inspection, InspectionAgency, InspectionLocation, LineItem, Terms, TermsDraft,
};
use domain::coverage::{AssuranceLimit, CoverageType, ReceivingAccount};
use domain::deadline::DeadlineKind;
use domain::dispute::{
    Decision, DisputeOutcome, DisputePolicy, DisputeReason, DisputeStatus, EscalationGround,
    ResponseAction,
};
use domain::error::{Conflict, ErrorKind, OrderError, Rule};
use domain::event::{CancelReason, DomainEvent, EventBody, FlagResolution};
use domain::feedback::Rating;
use domain::ids::{ApplicationId, OrderId, PaymentId, UserId};
use domain::order::{
    Counterparty, DisputeResponse, NewOrder, OpenDispute, Order, PaymentReport, PaymentRequest,
    RefundReport, ShipmentDetails,
};
use domain::payment::{
    AccountType, CardBrand, CreditLine, FlagReason, PaymentContext, PaymentMethod, PaymentRule,
    PaymentSignal, PaymentStatus, Stage,
};
use domain::refund::RefundStatus;
use domain::status::OrderStatus;
use domain::text::{CountryCode, DocumentRef, LongText, ShortText, Text};
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
        let r = self.order.open_dispute_with(
            &buyer(),
            OpenDispute {
                reason,
                requested_refund: refund,
                description: long("not as agreed"),
                evidence: vec![],
            },
            DisputePolicy::default(),
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
        url: Text::parse("s3://contracts/ord_2.pdf").expect("url"),
        sha256: domain::text::Sha256Hex::parse(&"ab".repeat(32)).expect("digest"),
    });
    let terms = Terms::new(d).expect("terms");
    let new = NewOrder {
        id: OrderId::parse("ord_2").expect("id"),
        counterparty: Counterparty::Buyer(user("buyer-1")),
        terms,
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
    let w = World::standard();
    let before = w.order.clone();
    let events = w.order.remind(&buyer(), w.now).expect("reminded");
    assert_eq!(World::kinds(&events), ["ConfirmationReminded"]);
    assert_eq!(w.order, before);
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
    let p = w.order.payment(&id).expect("payment");
    assert_eq!(
        p.flag.as_ref().map(|f| f.reason),
        Some(FlagReason::AmountMismatch)
    );
    assert_eq!(p.status, PaymentStatus::Processing);

    let r = w.order.apply_payment_report(
        Provider::Card,
        PaymentReport {
            payment_id: id.clone(),
            signal: PaymentSignal::Succeeded,
            confirmed: Some((usd!("1500.00"), "EUR".into())),
            provider_reference: None,
        },
        w.now,
    );
    w.apply(r);
    assert_eq!(
        w.order
            .payment(&id)
            .and_then(|p| p.flag.as_ref())
            .map(|f| f.reason),
        Some(FlagReason::CurrencyMismatch)
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
    w.report(Provider::Bank, &id, PaymentSignal::Succeeded);
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
    assert_eq!(
        World::kinds(&events),
        [
            "DisputeResponded",
            "DisputeResolved",
            "RefundRequested",
            "RefundRequested"
        ]
    );
    assert_eq!(w.order.status(), OrderStatus::RefundPending);
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
    assert_eq!(w.order.status(), OrderStatus::Refunded);
    assert_eq!(w.order.amount_refunded(), usd!("2000.00"));
    assert_eq!(w.limit.reserved(), Usd::ZERO, "released once refunded");
    assert!(w.events.iter().any(
        |e| matches!(e.body, EventBody::OrderRefunded { refunded } if refunded == usd!("2000.00"))
    ));
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
    assert_eq!(w.order.status(), OrderStatus::RefundPending);
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
    w.advance(TimeDelta::days(5) - TimeDelta::seconds(1));
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
    w.advance(TimeDelta::days(5));
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
        o.open_dispute_with(
            &buyer(),
            OpenDispute {
                reason: DisputeReason::Quality,
                requested_refund: usd!("10.00"),
                description: long("bad"),
                evidence: vec![],
            },
            DisputePolicy::default(),
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
fn a_failed_refund_part_is_flagged_and_requested_again() {
    let mut w = World::standard();
    w.paid_initial();
    w.open(DisputeReason::Quality, usd!("300.00"));
    w.respond(&supplier(), ResponseAction::Accept);
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
    let again = &w.order.refunds()[0];
    assert!(again.flagged);
    assert_eq!(again.attempts, 2);
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
    w.advance(TimeDelta::days(30) - TimeDelta::seconds(1));
    let r = w.order.sweep(w.now);
    assert!(w.apply(r).is_empty());
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
fn the_30_day_clock_restarts_when_a_payment_fails() {
    let mut w = World::standard();
    w.confirm();
    w.advance(TimeDelta::days(20));
    let id = w.pay(Stage::Initial, card());
    w.report(Provider::Card, &id, PaymentSignal::Failed);
    w.advance(TimeDelta::days(20));
    let r = w.order.sweep(w.now);
    assert!(
        w.apply(r).is_empty(),
        "40 days since confirmation, 20 since the failure"
    );
    assert_eq!(w.order.status(), OrderStatus::AwaitingInitialPayment);
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
        .record_delivery(&supplier(), Some(customs), None, w.now);
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
    let r = w
        .order
        .record_delivery(&supplier(), Some(w.now), None, w.now);
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
    assert_eq!(kinds(&w.order), [DeadlineKind::ShipBy]);
    w.confirm();
    assert_eq!(
        kinds(&w.order),
        [DeadlineKind::UnpaidCancellation, DeadlineKind::ShipBy],
        "soonest first: confirmed + 30 days comes before the end of the ship-by date"
    );
    let id = w.pay(Stage::Initial, card());
    assert_eq!(
        kinds(&w.order),
        [DeadlineKind::PaymentExpectedBy, DeadlineKind::ShipBy]
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
