//! The sweep's and the dispute refund path's part of the store contract.
//! These cases read the whole deadline index and drain the whole outbox,
//! so each needs a store of its own: `sweep_contract_suite!(expr)` asks
//! `expr` for a fresh backend per case (a new table on DynamoDB).

use chrono::TimeDelta;
use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::coverage::CoverageType;
use domain::dispute::{DisputeReason, DisputeStatus, EscalationGround, ResponseAction};
use domain::event::{DomainEvent, EventBody};
use domain::ids::{OrderId, PaymentId};
use domain::order::{DisputeResponse, OpenDispute, PaymentRequest, ShipmentDetails};
use domain::payment::{AccountType, CardBrand, PaymentContext, PaymentMethod, Stage};
use domain::refund::RefundStatus;
use domain::status::OrderStatus;
use domain::text::{CountryCode, LongText, ShortText};
use domain::{Order, Usd};

use crate::store_contract::{
    Parties, commit_ok, confirm_with_retry, create_with, payment_body, provider_message,
    stored_order, t0, terms_with, unique,
};
use app::consumer::{self, Applied};
use app::error::MessagingError;
use app::memory::MemoryBus;
use app::page::PageRequest;
use app::ports::{Backend, EventBus};
use app::sweep::{self, SweepError, SweepReport};

fn usd(s: &str) -> Usd {
    Usd::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Run a command on the stored order and commit it on the version read.
async fn change<B: Backend>(
    backend: &B,
    id: &OrderId,
    now: Timestamp,
    command: impl FnOnce(&mut Order) -> Vec<DomainEvent>,
) -> Order {
    let mut o = stored_order(backend, id).await;
    let before = o.revision();
    let events = command(&mut o);
    commit_ok(backend, &o, Some(before), &events, now).await;
    o
}

/// The buyer pays `stage` with `method` and the provider's webhook
/// confirms it through the consumer.
async fn pay<B: Backend>(
    backend: &B,
    p: &Parties,
    id: &OrderId,
    stage: Stage,
    method: PaymentMethod,
    provider: Provider,
    now: Timestamp,
) -> PaymentId {
    let pay = PaymentId::parse(unique("pay_")).unwrap_or_else(|e| panic!("{e}"));
    let o = change(backend, id, now, |o| {
        o.initiate_payment(
            &p.buyer,
            PaymentRequest {
                id: pay.clone(),
                stage,
                method,
            },
            PaymentContext::default(),
            now,
        )
        .unwrap_or_else(|e| panic!("pay: {e}"))
    })
    .await;
    let amount = o
        .payment(&pay)
        .map(|x| x.amount)
        .unwrap_or_else(|| panic!("payment"));
    let m = provider_message(
        provider,
        &unique("msg_"),
        payment_body("payment.succeeded", id, &pay, &amount.to_string(), "USD"),
    );
    let applied = consumer::consume(backend, &m, now)
        .await
        .unwrap_or_else(|e| panic!("consume: {e:?}"));
    assert!(matches!(applied, Applied::Applied { .. }), "{applied:?}");
    pay
}

const CARD: PaymentMethod = PaymentMethod::CreditCard {
    card_brand: CardBrand::Visa,
};

/// A confirmed `coverage` order whose initial payment (400.00 by card)
/// has arrived at `at`.
async fn paid_order<B: Backend>(
    backend: &B,
    coverage: CoverageType,
    at: Timestamp,
) -> (Parties, OrderId) {
    let p = Parties::fresh();
    backend
        .set_limit(&p.supplier.id, usd("100000.00"), None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let id = create_with(backend, &p, terms_with(coverage), at)
        .await
        .id()
        .clone();
    confirm_with_retry(backend, &p, &id, at).await;
    pay(backend, &p, &id, Stage::Initial, CARD, Provider::Card, at).await;
    (p, id)
}

async fn open_dispute<B: Backend>(
    backend: &B,
    p: &Parties,
    id: &OrderId,
    refund: &str,
    at: Timestamp,
) {
    change(backend, id, at, |o| {
        o.raise_dispute(
            &p.buyer,
            OpenDispute {
                reason: DisputeReason::Quality,
                requested_refund: usd(refund),
                description: LongText::parse("not as agreed").unwrap_or_else(|e| panic!("{e}")),
                evidence: Vec::new(),
            },
            at,
        )
        .unwrap_or_else(|e| panic!("open: {e}"))
    })
    .await;
}

async fn run<B: Backend, U: EventBus>(backend: &B, bus: &U, at: Timestamp) -> SweepReport {
    sweep::run(backend, bus, at)
        .await
        .unwrap_or_else(|e| panic!("sweep: {e:?}"))
}

async fn history_len<B: Backend>(backend: &B, id: &OrderId) -> usize {
    backend
        .history(id, &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items
        .len()
}

fn dispute_status(o: &Order) -> Option<(DisputeStatus, Option<EscalationGround>)> {
    o.dispute().map(|d| (d.status, d.escalation_ground))
}

/// A silent supplier: not escalated at 4 days 23 hours nor at the very
/// instant its 5 days end (a response committed then still wins), escalated
/// by the scheduler just after; a dispute the supplier answered waits for
/// 15 days (not at 14, nor at 15 exactly). A second run at the same
/// instant changes nothing.
pub async fn sweep_escalates_stale_disputes_on_their_deadlines_and_a_second_run_changes_nothing<
    B: Backend,
>(
    backend: B,
) {
    let bus = MemoryBus::default();
    let (sp, silent) = paid_order(&backend, CoverageType::PreShipment, t0()).await;
    let (p, answered) = paid_order(&backend, CoverageType::PreShipment, t0()).await;
    let opened = t0() + TimeDelta::hours(1);
    open_dispute(&backend, &sp, &silent, "300.00", opened).await;
    open_dispute(&backend, &p, &answered, "300.00", opened).await;
    change(&backend, &answered, opened + TimeDelta::days(1), |o| {
        o.respond_dispute(
            &p.supplier,
            DisputeResponse {
                action: ResponseAction::Offer(usd("100.00")),
                message: None,
                evidence: Vec::new(),
            },
            opened + TimeDelta::days(1),
        )
        .unwrap_or_else(|e| panic!("offer: {e}"))
    })
    .await;

    let r = run(
        &backend,
        &bus,
        opened + TimeDelta::days(4) + TimeDelta::hours(23),
    )
    .await;
    assert_eq!((r.due, r.escalated), (0, 0), "{r:?}");
    let r = run(&backend, &bus, opened + TimeDelta::days(5)).await;
    assert_eq!((r.changed, r.escalated), (0, 0), "at the instant: {r:?}");
    let after = opened + TimeDelta::days(5) + TimeDelta::seconds(1);
    let r = run(&backend, &bus, after).await;
    assert_eq!((r.due, r.changed, r.escalated), (1, 1, 1), "{r:?}");
    let o = stored_order(&backend, &silent).await;
    assert_eq!(
        dispute_status(&o),
        Some((
            DisputeStatus::Escalated,
            Some(EscalationGround::SupplierNoResponse)
        ))
    );
    let version = o.version();
    let events = history_len(&backend, &silent).await;
    let escalated: Vec<_> = bus
        .published()
        .into_iter()
        .filter(|e| matches!(e.body, EventBody::DisputeEscalated { .. }))
        .collect();
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0].actor, domain::actor::Actor::Scheduler);

    // The same instant again: nothing due, nothing written.
    let r = run(&backend, &bus, after).await;
    assert_eq!((r.due, r.changed), (0, 0), "{r:?}");
    let o = stored_order(&backend, &silent).await;
    assert_eq!(o.version(), version);
    assert_eq!(history_len(&backend, &silent).await, events);

    // The answered dispute: still negotiating at 14 days, escalated at 15.
    let r = run(&backend, &bus, opened + TimeDelta::days(14)).await;
    assert_eq!(r.escalated, 0, "{r:?}");
    assert_eq!(
        dispute_status(&stored_order(&backend, &answered).await),
        Some((DisputeStatus::Negotiating, None))
    );
    let r = run(&backend, &bus, opened + TimeDelta::days(15)).await;
    assert_eq!(r.escalated, 0, "at the instant: {r:?}");
    let r = run(
        &backend,
        &bus,
        opened + TimeDelta::days(15) + TimeDelta::seconds(1),
    )
    .await;
    assert_eq!(r.escalated, 1, "{r:?}");
    assert_eq!(
        dispute_status(&stored_order(&backend, &answered).await),
        Some((
            DisputeStatus::Escalated,
            Some(EscalationGround::NoSolutionInTime)
        ))
    );
}

/// Sweeps racing each other over the same due orders: each order is
/// escalated once, whoever wins.
pub async fn concurrent_sweeps_escalate_each_dispute_once<B: Backend>(backend: B) {
    let bus = MemoryBus::default();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (p, id) = paid_order(&backend, CoverageType::PreShipment, t0()).await;
        open_dispute(&backend, &p, &id, "100.00", t0()).await;
        ids.push(id);
    }
    let at = t0() + TimeDelta::days(6);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (backend, bus) = (backend.clone(), bus.clone());
            tokio::spawn(async move { sweep::run(&backend, &bus, at).await })
        })
        .collect();
    let mut escalated = 0;
    for r in runs {
        let report = r
            .await
            .unwrap_or_else(|e| panic!("join: {e}"))
            .unwrap_or_else(|e| panic!("sweep: {e:?}"));
        escalated += report.escalated;
    }
    assert_eq!(escalated, ids.len());
    for id in &ids {
        let history = backend
            .history(id, &PageRequest::first(100))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .items;
        let n = history
            .iter()
            .filter(|e| matches!(e.body, EventBody::DisputeEscalated { .. }))
            .count();
        assert_eq!(n, 1, "{id}");
    }
}

/// The payment clocks: a payment past its latest arrival date is flagged
/// once, with an event; 10 working days later it expires, and the order
/// waits for that stage again. A confirmed order unpaid for 30 days is
/// cancelled, just after its clock runs out, and its reservation released.
pub async fn sweep_cancels_unpaid_orders_and_flags_overdue_payments<B: Backend>(backend: B) {
    let bus = MemoryBus::default();
    let p = Parties::fresh();
    backend
        .set_limit(&p.supplier.id, usd("100000.00"), None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let unpaid = crate::store_contract::create(&backend, &p, t0()).await;
    confirm_with_retry(&backend, &p, unpaid.id(), t0()).await;
    let (q, overdue) = paid_order(&backend, CoverageType::PreShipment, t0()).await;
    // A card balance can't be paid before shipment: ship, then pay the
    // balance and never hear back.
    change(&backend, &overdue, t0(), |o| {
        o.ship(
            &q.supplier,
            ShipmentDetails {
                carrier: ShortText::parse("DHL").unwrap_or_else(|e| panic!("{e}")),
                tracking_number: ShortText::parse("1").unwrap_or_else(|e| panic!("{e}")),
                shipped_at: None,
            },
            t0(),
        )
        .unwrap_or_else(|e| panic!("ship: {e}"))
    })
    .await;
    let balance = PaymentId::parse(unique("pay_")).unwrap_or_else(|e| panic!("{e}"));
    let o = change(&backend, &overdue, t0(), |o| {
        o.initiate_payment(
            &q.buyer,
            PaymentRequest {
                id: balance.clone(),
                stage: Stage::Balance,
                method: CARD,
            },
            PaymentContext::default(),
            t0(),
        )
        .unwrap_or_else(|e| panic!("pay: {e}"))
    })
    .await;
    let overdue_after = o
        .payment(&balance)
        .map(|x| x.expected_arrival.overdue_after())
        .unwrap_or_else(|| panic!("payment"));

    let r = run(&backend, &bus, t0() + TimeDelta::days(5)).await;
    assert!(t0() + TimeDelta::days(5) > overdue_after);
    assert_eq!(
        (r.cancelled, r.released, r.overdue_flagged, r.expired),
        (0, 0, 1, 0),
        "{r:?}"
    );
    let o = stored_order(&backend, &overdue).await;
    let flagged = o.payment(&balance).and_then(|x| x.flag.clone());
    assert!(flagged.is_some(), "the overdue payment is flagged");
    let r = run(&backend, &bus, t0() + TimeDelta::days(6)).await;
    assert_eq!((r.changed, r.overdue_flagged), (0, 0), "once: {r:?}");

    let r = run(&backend, &bus, t0() + TimeDelta::days(30)).await;
    assert_eq!((r.cancelled, r.expired), (0, 1), "{r:?}");
    let o = stored_order(&backend, &overdue).await;
    let expired = o
        .payment(&balance)
        .cloned()
        .unwrap_or_else(|| panic!("payment"));
    assert_eq!(expired.status, domain::payment::PaymentStatus::Failed);
    assert_eq!(
        expired.failure,
        Some(domain::payment::FailureReason::Expired)
    );
    assert!(
        expired.flag.is_none(),
        "the expiry supersedes the overdue flag"
    );
    assert_eq!(o.status(), OrderStatus::Shipped, "the balance is due again");
    let r = run(
        &backend,
        &bus,
        t0() + TimeDelta::days(30) + TimeDelta::seconds(1),
    )
    .await;
    assert_eq!((r.cancelled, r.released), (1, 1), "{r:?}");
    let o = stored_order(&backend, unpaid.id()).await;
    assert_eq!(o.status(), OrderStatus::Cancelled);
    assert_eq!(o.coverage().reserved, Usd::ZERO);
    let limit = backend
        .get_limit(&p.supplier.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("limit"));
    assert_eq!(limit.reserved(), Usd::ZERO);
    let r = run(&backend, &bus, t0() + TimeDelta::days(31)).await;
    assert_eq!(r.changed, 0, "{r:?}");
}

struct DownBus;

impl EventBus for DownBus {
    async fn publish(&self, _events: &[DomainEvent]) -> Result<(), MessagingError> {
        Err(MessagingError::Unavailable("bus down".into()))
    }
}

/// Events whose publishing failed stay in the outbox; the next sweep
/// republishes them, in order. A sweep whose bus is down still does its
/// order work and says the publishing is incomplete.
pub async fn sweep_republishes_events_a_failed_publish_left_in_the_outbox<B: Backend>(backend: B) {
    let (p, id) = paid_order(&backend, CoverageType::PreShipment, t0()).await;
    assert!(app::publisher::drain(&backend, &DownBus).await.is_err());
    let history = backend
        .history(&id, &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    assert!(!history.is_empty());
    open_dispute(&backend, &p, &id, "100.00", t0()).await;
    let failed = sweep::run(
        &backend,
        &DownBus,
        t0() + TimeDelta::days(5) + TimeDelta::seconds(1),
    )
    .await;
    match failed {
        Err(SweepError::Incomplete {
            failed: 0,
            report,
            publish: Some(_),
        }) => assert_eq!(report.escalated, 1),
        other => panic!("expected an incomplete sweep, got {other:?}"),
    }
    let waiting = backend
        .unpublished(1000)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let all = backend
        .history(&id, &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    assert_eq!(waiting.len(), all.len(), "every event still waits");

    let bus = MemoryBus::default();
    let r = run(&backend, &bus, t0() + TimeDelta::days(5)).await;
    assert_eq!((r.changed, r.published), (0, all.len()), "{r:?}");
    assert_eq!(bus.published(), all, "republished once, in order");
    let r = run(&backend, &bus, t0() + TimeDelta::days(5)).await;
    assert_eq!(r.published, 0);
}

/// A post-delivery order paid in two payments by two providers (400.00 by
/// card, 600.00 by e-check); the supplier accepts a quality claim of
/// 1000.00, everything paid: a closing refund, split newest first (600.00
/// through the e-check provider, 400.00 through the card), each part
/// settled by its own provider's webhook; then the order is refunded and
/// the supplier's reservation released.
pub async fn a_refund_split_across_two_payments_is_settled_by_their_webhooks<B: Backend>(
    backend: B,
) {
    let (p, id) = paid_order(&backend, CoverageType::PostDelivery, t0()).await;
    let at = t0() + TimeDelta::days(1);
    change(&backend, &id, at, |o| {
        o.ship(
            &p.supplier,
            ShipmentDetails {
                carrier: ShortText::parse("DHL").unwrap_or_else(|e| panic!("{e}")),
                tracking_number: ShortText::parse("JD1").unwrap_or_else(|e| panic!("{e}")),
                shipped_at: None,
            },
            at,
        )
        .unwrap_or_else(|e| panic!("ship: {e}"))
    })
    .await;
    let echeck = PaymentMethod::ECheck {
        bank_country: CountryCode::US,
        account_type: AccountType::Checking,
    };
    let balance = pay(
        &backend,
        &p,
        &id,
        Stage::Balance,
        echeck,
        Provider::Echeck,
        at,
    )
    .await;
    let o = stored_order(&backend, &id).await;
    assert_eq!(o.status(), OrderStatus::AwaitingReceiptConfirmation);
    assert_eq!(o.coverage().covered_amount, Some(usd("1000.00")));
    let at = at + TimeDelta::days(2);
    open_dispute(&backend, &p, &id, "1000.00", at).await;
    let o = change(&backend, &id, at, |o| {
        o.respond_dispute(
            &p.supplier,
            DisputeResponse {
                action: ResponseAction::Accept,
                message: None,
                evidence: Vec::new(),
            },
            at,
        )
        .unwrap_or_else(|e| panic!("accept: {e}"))
    })
    .await;
    assert_eq!(o.status(), OrderStatus::RefundPending);
    let parts: Vec<_> = o
        .refunds()
        .iter()
        .map(|r| (r.payment_id.clone(), r.provider, r.amount))
        .collect();
    let initial = o
        .payments()
        .iter()
        .find(|x| x.stage == Stage::Initial)
        .map(|x| x.id.clone())
        .unwrap_or_else(|| panic!("initial"));
    assert_eq!(
        parts,
        [
            (balance.clone(), Provider::Echeck, usd("600.00")),
            (initial, Provider::Card, usd("400.00")),
        ]
    );
    let requested: Vec<_> = backend
        .history(&id, &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::RefundRequested {
                provider, amount, ..
            } => Some((provider, amount)),
            _ => None,
        })
        .collect();
    assert_eq!(
        requested,
        [
            (Provider::Echeck, usd("600.00")),
            (Provider::Card, usd("400.00"))
        ]
    );

    let settle = |part: &domain::refund::RefundPart| {
        provider_message(
            part.provider,
            &unique("msg_"),
            serde_json::json!({"type": "refund.succeeded", "data": {
                "refund_id": part.id.as_str(), "order_id": id.as_str(),
                "amount": part.amount.to_string()}}),
        )
    };
    let first = settle(&o.refunds()[0]);
    let applied = consumer::consume(&backend, &first, at)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(matches!(applied, Applied::Applied { .. }));
    let mid = stored_order(&backend, &id).await;
    assert_eq!(
        mid.status(),
        OrderStatus::RefundPending,
        "one part still open"
    );
    let second = settle(&o.refunds()[1]);
    consumer::consume(&backend, &second, at)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    // A redelivery changes nothing.
    assert_eq!(
        consumer::consume(&backend, &second, at)
            .await
            .unwrap_or_else(|e| panic!("{e:?}")),
        Applied::Duplicate
    );
    let done = stored_order(&backend, &id).await;
    assert_eq!(done.status(), OrderStatus::Refunded);
    assert!(
        done.refunds()
            .iter()
            .all(|r| r.status == RefundStatus::Succeeded)
    );
    assert_eq!(done.amount_refunded(), usd("1000.00"));
    assert_eq!(done.coverage().reserved, Usd::ZERO);
    let limit = backend
        .get_limit(&p.supplier.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("limit"));
    assert_eq!(limit.reserved(), Usd::ZERO, "the reservation is released");
}

/// Ship `id` at `at` (the supplier records it then).
async fn ship<B: Backend>(backend: &B, p: &Parties, id: &OrderId, at: Timestamp) -> Order {
    change(backend, id, at, |o| {
        o.ship(
            &p.supplier,
            ShipmentDetails {
                carrier: ShortText::parse("DHL").unwrap_or_else(|e| panic!("{e}")),
                tracking_number: ShortText::parse("JD1").unwrap_or_else(|e| panic!("{e}")),
                shipped_at: None,
            },
            at,
        )
        .unwrap_or_else(|e| panic!("ship: {e}"))
    })
    .await
}

/// Every order ends (the design's "every order ends" table, on the store):
/// with nobody acting but the scheduler, a draft nobody confirms, an order
/// nobody pays, a card payment its provider never confirms, an order
/// shipped whose balance never comes, an order fully paid whose receipt is
/// never confirmed, an order never shipped and a dispute the supplier
/// rejected are each taken to their end by sweeps over 200 days, reading
/// the deadline index; every reservation they held is released but the
/// one of the order still refunding (its refund part, never confirmed, is
/// flagged for an operator) and the one whose escalated dispute waits for
/// an arbiter.
pub async fn every_clock_ends_its_order_on_the_sweep<B: Backend>(backend: B) {
    let bus = MemoryBus::default();
    let day = |n: i64| t0() + TimeDelta::days(n);
    // A draft nobody confirms.
    let dp = Parties::fresh();
    let draft = crate::store_contract::create(&backend, &dp, t0())
        .await
        .id()
        .clone();
    // Confirmed, never paid.
    let up = Parties::fresh();
    backend
        .set_limit(&up.supplier.id, usd("100000.00"), None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let unpaid = crate::store_contract::create(&backend, &up, t0())
        .await
        .id()
        .clone();
    confirm_with_retry(&backend, &up, &unpaid, t0()).await;
    // A card payment the provider never confirms.
    let cp = Parties::fresh();
    backend
        .set_limit(&cp.supplier.id, usd("100000.00"), None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let silent = crate::store_contract::create(&backend, &cp, t0())
        .await
        .id()
        .clone();
    confirm_with_retry(&backend, &cp, &silent, t0()).await;
    let never = PaymentId::parse(unique("pay_")).unwrap_or_else(|e| panic!("{e}"));
    change(&backend, &silent, t0(), |o| {
        o.initiate_payment(
            &cp.buyer,
            PaymentRequest {
                id: never.clone(),
                stage: Stage::Initial,
                method: CARD,
            },
            PaymentContext::default(),
            t0(),
        )
        .unwrap_or_else(|e| panic!("pay: {e}"))
    })
    .await;
    // Shipped; the balance never comes.
    let (bp, unpaid_balance) = paid_order(&backend, CoverageType::PreShipment, t0()).await;
    ship(&backend, &bp, &unpaid_balance, t0()).await;
    // Fully paid; receipt never confirmed.
    let (rp, unconfirmed) = paid_order(&backend, CoverageType::PreShipment, t0()).await;
    ship(&backend, &rp, &unconfirmed, t0()).await;
    pay(
        &backend,
        &rp,
        &unconfirmed,
        Stage::Balance,
        CARD,
        Provider::Card,
        t0(),
    )
    .await;
    // Paid, never shipped (ship-by 2027-06-01).
    let (_np, unshipped) = paid_order(&backend, CoverageType::PreShipment, t0()).await;
    // A dispute the supplier rejects.
    let (xp, rejected) = paid_order(&backend, CoverageType::PreShipment, t0()).await;
    open_dispute(&backend, &xp, &rejected, "100.00", t0()).await;
    let rejected_at = t0() + TimeDelta::hours(2);
    change(&backend, &rejected, rejected_at, |o| {
        o.respond_dispute(
            &xp.supplier,
            DisputeResponse {
                action: ResponseAction::Reject,
                message: None,
                evidence: Vec::new(),
            },
            rejected_at,
        )
        .unwrap_or_else(|e| panic!("reject: {e}"))
    })
    .await;
    // The sweep's next run after the rejection escalates it.
    let r = run(&backend, &bus, rejected_at + TimeDelta::minutes(5)).await;
    assert_eq!(r.escalated, 1, "{r:?}");
    assert_eq!(
        dispute_status(&stored_order(&backend, &rejected).await),
        Some((
            DisputeStatus::Escalated,
            Some(EscalationGround::SupplierRejected)
        ))
    );

    let mut report = SweepReport::default();
    for n in (1..=200).step_by(3) {
        let r = run(&backend, &bus, day(n)).await;
        report.expired += r.expired;
        report.cancelled += r.cancelled;
        report.closed += r.closed;
        report.receipts_confirmed += r.receipts_confirmed;
        report.not_shipped_refunds += r.not_shipped_refunds;
        report.refunds_flagged += r.refunds_flagged;
        report.overdue_flagged += r.overdue_flagged;
    }
    assert_eq!(
        (
            report.overdue_flagged,
            report.expired,
            report.cancelled,
            report.closed,
            report.receipts_confirmed,
            report.not_shipped_refunds,
            report.refunds_flagged
        ),
        (1, 1, 3, 1, 1, 1, 1),
        "{report:?}"
    );
    let status = |o: &Order| (o.status(), o.end_reason());
    use domain::order::EndReason as R;
    assert_eq!(
        status(&stored_order(&backend, &draft).await),
        (OrderStatus::Cancelled, Some(R::NotConfirmed))
    );
    assert_eq!(
        status(&stored_order(&backend, &unpaid).await),
        (OrderStatus::Cancelled, Some(R::Unpaid))
    );
    let o = stored_order(&backend, &silent).await;
    assert_eq!(status(&o), (OrderStatus::Cancelled, Some(R::Unpaid)));
    assert_eq!(
        o.payment(&never).map(|x| (x.status, x.failure)),
        Some((
            domain::payment::PaymentStatus::Failed,
            Some(domain::payment::FailureReason::Expired)
        ))
    );
    assert_eq!(
        status(&stored_order(&backend, &unpaid_balance).await),
        (OrderStatus::Closed, Some(R::BalanceUnpaid))
    );
    let o = stored_order(&backend, &unconfirmed).await;
    assert_eq!(status(&o), (OrderStatus::Completed, None));
    assert!(o.completed_at().is_some());
    let o = stored_order(&backend, &unshipped).await;
    assert_eq!(
        status(&o),
        (OrderStatus::RefundPending, Some(R::NotShipped))
    );
    assert!(
        o.refunds().iter().all(|r| r.flagged),
        "waits for an operator"
    );
    assert_eq!(o.coverage().reserved, usd("400.00"), "held until refunded");
    let o = stored_order(&backend, &rejected).await;
    assert_eq!(o.status(), OrderStatus::AwaitingShipment);
    assert!(o.awaits_arbiter());
    for (p, held) in [
        (&up, "0.00"),
        (&cp, "0.00"),
        (&bp, "0.00"),
        (&rp, "0.00"),
        (&xp, "400.00"),
    ] {
        let limit = backend
            .get_limit(&p.supplier.id)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .unwrap_or_else(|| panic!("limit"));
        assert_eq!(limit.reserved(), usd(held), "{}", p.supplier.id);
    }
    // Nothing is due any more but what waits for an arbiter: nothing.
    let r = run(&backend, &bus, day(400)).await;
    assert_eq!(r.changed, 0, "{r:?}");
}

/// Expands to one `#[tokio::test]` per sweep case, each with a backend of
/// its own from `expr`.
#[macro_export]
macro_rules! sweep_contract_suite {
    ($make:expr) => {
        $crate::sweep_contract_suite!(@cases $make;
            sweep_escalates_stale_disputes_on_their_deadlines_and_a_second_run_changes_nothing,
            concurrent_sweeps_escalate_each_dispute_once,
            sweep_cancels_unpaid_orders_and_flags_overdue_payments,
            sweep_republishes_events_a_failed_publish_left_in_the_outbox,
            a_refund_split_across_two_payments_is_settled_by_their_webhooks,
            every_clock_ends_its_order_on_the_sweep,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let backend = $make.await;
                $crate::sweep_contract::$case(backend).await;
            }
        )*
    };
}
