//! The DynamoDB call budget, counted by an SDK interceptor: one call to read
//! an order (with its idempotency record and a supplier limit when asked),
//! one call to write a state transition with everything it carries.

use app::idempotency::{IdemKey, IdemRecord, PayloadHash, StoredResponse};
use app::ports::{Commit, LoadRequest, OrderStore, SupplierLimits};
use aws_adapters::dynamodb::DynamoStore;
use domain::Usd;
use test_kit::counting::CallCounter;
use test_kit::store_contract::{Parties, create, t0};

async fn counted() -> (DynamoStore, CallCounter) {
    test_kit::moto::counted_dynamo_store("trade-assurance-calls").await
}

#[tokio::test]
async fn reading_one_order_is_one_get_item() {
    let (store, counter) = counted().await;
    let p = Parties::fresh();
    let order = create(&store, &p, t0()).await;
    let request = LoadRequest {
        order: order.id(),
        idempotency: None,
        limit_of: None,
        credit_of: None,
    };
    let (loaded, calls) = counter.during(store.load(request, t0())).await;
    assert!(loaded.expect("load").order.is_some());
    assert_eq!(calls, ["GetItem"]);
}

#[tokio::test]
async fn a_confirmation_with_idempotency_and_the_limit_is_one_read_and_one_write() {
    let (store, counter) = counted().await;
    let p = Parties::fresh();
    store
        .set_limit(&p.supplier.id, Usd::dollars(10_000).expect("usd"), None)
        .await
        .expect("limit");
    let order = create(&store, &p, t0()).await;
    let key = IdemKey::new(&p.supplier.id, "POST", "/v1/orders/x/confirm", "k-1").expect("key");
    counter.reset();

    let (loaded, read) = counter
        .during(store.load(
            LoadRequest {
                order: order.id(),
                idempotency: Some(&key),
                limit_of: Some(&p.supplier.id),
                credit_of: None,
            },
            t0(),
        ))
        .await;
    let loaded = loaded.expect("load");
    let mut order = loaded.order.expect("order");
    let limit = loaded.limit.expect("limit read with the order");
    let events = order
        .confirm(&p.supplier, 1, &limit, t0())
        .expect("confirm");
    let record = IdemRecord::complete(
        key,
        PayloadHash::of(b"{\"version\":1}"),
        StoredResponse {
            status: 200,
            content_type: "application/json".into(),
            body: "{}".into(),
            headers: Vec::new(),
        },
        t0(),
    );
    let (result, write) = counter
        .during(store.commit(Commit {
            previous_flags: &[],
            order: &order,
            expected_revision: Some(1),
            events: &events,
            idempotency: Some(&record),
            dedup: None,
            now: t0(),
        }))
        .await;
    result.expect("commit");
    assert_eq!(read, ["TransactGetItems"]);
    assert_eq!(
        write,
        ["TransactWriteItems"],
        "order, events, limit and idempotency in one write"
    );
    let stored = store
        .get_limit(&p.supplier.id)
        .await
        .expect("limit")
        .expect("exists");
    assert_eq!(stored.reserved(), Usd::dollars(400).expect("usd"));
}

#[tokio::test]
async fn a_provider_event_is_one_read_and_one_write_fresh_or_duplicated() {
    use app::consumer::{Applied, consume};
    use domain::actor::Provider;
    use test_kit::store_contract::{order_paying_by_card, payment_body, provider_message, unique};
    let (store, counter) = counted().await;
    let (_, id, pay) = order_paying_by_card(&store).await;
    let body = payment_body("payment.succeeded", &id, &pay, "400.00", "USD");
    let message = provider_message(Provider::Card, &unique("msg_"), body);
    counter.reset();
    let (applied, calls) = counter.during(consume(&store, &message, t0())).await;
    assert!(matches!(applied.expect("applied"), Applied::Applied { .. }));
    assert_eq!(calls, ["GetItem", "TransactWriteItems"]);
    let (again, calls) = counter.during(consume(&store, &message, t0())).await;
    assert_eq!(again.expect("duplicate"), Applied::Duplicate);
    assert_eq!(calls, ["GetItem", "TransactWriteItems"]);
}

/// The provider-action step: one read and one conditional write for a
/// requested payment, and one read alone (no provider call, no write) for
/// its redelivery.
#[tokio::test]
async fn a_provider_action_is_one_read_and_one_write_and_a_redelivery_one_read() {
    use app::ports::OrderStore as _;
    use app::provider_actions::{Acted, act};
    use test_kit::providers::ScriptedProviders;
    use test_kit::store_contract::order_paying_by_card;
    let (store, counter) = counted().await;
    let (_, id, _) = order_paying_by_card(&store).await;
    let event = store
        .history(&id, &app::page::PageRequest::first(100))
        .await
        .expect("history")
        .items
        .into_iter()
        .find(|e| e.body.detail_type() == "PaymentRequested")
        .expect("PaymentRequested");
    let providers = ScriptedProviders::new();
    counter.reset();
    let (acted, calls) = counter.during(act(&store, &providers, &event, t0())).await;
    assert!(matches!(acted.expect("acted"), Acted::Requested { .. }));
    assert_eq!(calls, ["GetItem", "TransactWriteItems"]);
    let (again, calls) = counter.during(act(&store, &providers, &event, t0())).await;
    assert_eq!(again.expect("redelivery"), Acted::AlreadyDone);
    assert_eq!(calls, ["GetItem"]);
    assert_eq!(providers.calls().len(), 1);
}

/// The sweep reads what is due, not the table: among 1,000 confirmed
/// orders that are in the deadline index but not due yet, and 3 that are
/// due, one run reads the index (a page of 3, then an empty page once they
/// are done) and loads and writes only the 3.
#[tokio::test]
async fn the_sweep_reads_only_the_due_orders_among_a_thousand_that_are_not_due() {
    use app::memory::MemoryBus;
    use app::ports::Commit;
    use chrono::TimeDelta;
    use domain::Order;
    use domain::ids::OrderId;
    use domain::order::{Counterparty, NewOrder};
    use test_kit::store_contract::unique;
    let (store, counter) = test_kit::moto::counted_dynamo_store(&unique("ta-sweep-calls-")).await;
    let p = Parties::fresh();
    store
        .set_limit(&p.supplier.id, Usd::dollars(10_000_000).expect("usd"), None)
        .await
        .expect("limit");
    let limit = store
        .get_limit(&p.supplier.id)
        .await
        .expect("read")
        .expect("limit");
    // Confirmed orders are cancelled once unpaid for 30 days: 3 confirmed
    // 31 days before the sweep (due), 1,000 confirmed 10 days before (in
    // the index, due in 20 days). The 1,000 are seeded as bare order items
    // (a batch write per 25); the 3 due ones are committed like any order.
    let now = t0() + TimeDelta::days(40);
    let mut due = Vec::new();
    let mut not_due = Vec::new();
    for i in 0..1003 {
        let confirmed_at = if i < 3 {
            now - TimeDelta::days(31)
        } else {
            now - TimeDelta::days(10)
        };
        let id = OrderId::parse(unique("ord_")).expect("id");
        let (mut order, mut events) = Order::create(
            &p.buyer,
            NewOrder {
                id: id.clone(),
                counterparty: Counterparty::Supplier(p.supplier.id.clone()),
                terms: test_kit::store_contract::terms(),
                clocks: domain::clocks::Clocks::default(),
            },
            t0(),
        )
        .expect("create");
        events.extend(
            order
                .confirm(&p.supplier, 1, &limit, confirmed_at)
                .expect("confirm"),
        );
        if i < 3 {
            store
                .commit(Commit {
                    previous_flags: &[],
                    order: &order,
                    expected_revision: None,
                    events: &events,
                    idempotency: None,
                    dedup: None,
                    now: confirmed_at,
                })
                .await
                .expect("commit");
            due.push(id);
        } else {
            not_due.push(order);
        }
    }
    test_kit::moto::seed_orders(&store, &not_due)
        .await
        .expect("seed");
    let in_index = app::ports::DeadlineIndex::due(&store, now + TimeDelta::days(21), 2000)
        .await
        .expect("due later");
    assert_eq!(in_index.len(), 1003, "all 1,003 are in the deadline index");
    // What setting up published is not the sweep's work.
    app::publisher::drain(&store, &MemoryBus::default())
        .await
        .expect("drain");
    counter.reset();

    let bus = MemoryBus::default();
    let (report, calls) = counter.during(app::sweep::run(&store, &bus, now)).await;
    let report = report.expect("sweep");
    assert_eq!((report.due, report.cancelled, report.released), (3, 3, 3));
    let count = |op: &str| calls.iter().filter(|c| *c == op).count();
    assert_eq!(count("GetItem"), 3, "{calls:?}");
    assert_eq!(count("TransactWriteItems"), 3, "3 orders: {calls:?}");
    // Each cancellation's events (two per order here) marked
    // published, one plain update each.
    let marked = count("UpdateItem");
    assert_eq!(marked, 2 * 3, "{calls:?}");
    // Two pages of the due index (3 items, then none) and one of the outbox.
    assert_eq!(count("Query"), 3, "{calls:?}");
    assert_eq!(count("Scan"), 0, "{calls:?}");
    assert_eq!(calls.len(), 3 + 3 + marked + 3, "{calls:?}");
    for id in &due {
        let o = store
            .load(
                LoadRequest {
                    order: id,
                    idempotency: None,
                    limit_of: None,
                    credit_of: None,
                },
                now,
            )
            .await
            .expect("load")
            .order
            .expect("order");
        assert_eq!(o.status(), domain::status::OrderStatus::Cancelled);
    }
    // Nothing is due any more: one empty page of the index, one of the outbox.
    let (again, calls) = counter.during(app::sweep::run(&store, &bus, now)).await;
    assert_eq!(again.expect("sweep").due, 0);
    assert_eq!(calls, ["Query", "Query"]);
}

/// Each clock of "every order ends" costs the sweep what any transition
/// costs: for every due order one read and one conditional write, however
/// many clocks it has. Five orders due on five different clocks — a draft
/// nobody confirmed, a payment that never arrived, a balance never paid,
/// a receipt never confirmed, a dispute the supplier rejected — are each
/// loaded once and written once.
#[tokio::test]
async fn every_clock_of_the_sweep_is_one_read_and_one_write_per_due_order() {
    use app::memory::MemoryBus;
    use app::ports::Commit;
    use chrono::TimeDelta;
    use domain::Order;
    use domain::actor::Provider;
    use domain::dispute::{DisputeReason, ResponseAction};
    use domain::ids::{OrderId, PaymentId};
    use domain::order::{
        Counterparty, DisputeResponse, NewOrder, OpenDispute, PaymentReport, PaymentRequest,
        ShipmentDetails,
    };
    use domain::payment::{CardBrand, PaymentContext, PaymentMethod, PaymentSignal, Stage};
    use domain::status::OrderStatus;
    use domain::text::{LongText, ShortText};
    use test_kit::store_contract::{terms, unique};

    let (store, counter) = test_kit::moto::counted_dynamo_store(&unique("ta-clock-calls-")).await;
    let p = Parties::fresh();
    store
        .set_limit(&p.supplier.id, Usd::dollars(1_000_000).expect("usd"), None)
        .await
        .expect("limit");
    let limit = store
        .get_limit(&p.supplier.id)
        .await
        .expect("read")
        .expect("limit");
    let card = PaymentMethod::CreditCard {
        card_brand: CardBrand::Visa,
    };
    let at = t0();
    let new = || {
        Order::create(
            &p.buyer,
            NewOrder {
                id: OrderId::parse(unique("ord_")).expect("id"),
                counterparty: Counterparty::Supplier(p.supplier.id.clone()),
                terms: terms(),
                clocks: domain::clocks::Clocks::default(),
            },
            at,
        )
        .expect("create")
    };
    let pay = |o: &mut Order, stage: Stage, arrives: bool| {
        let id = PaymentId::parse(unique("pay_")).expect("id");
        let mut events = o
            .initiate_payment(
                &p.buyer,
                PaymentRequest {
                    id: id.clone(),
                    stage,
                    method: card.clone(),
                },
                PaymentContext::default(),
                at,
            )
            .expect("pay");
        if arrives {
            let amount = o.payment(&id).expect("payment").amount;
            events.extend(
                o.apply_payment_report(
                    Provider::Card,
                    PaymentReport {
                        payment_id: id,
                        signal: PaymentSignal::Succeeded,
                        confirmed: Some((amount, "USD".into())),
                        provider_reference: None,
                    },
                    at,
                )
                .expect("arrived"),
            );
        }
        events
    };
    let ship = |o: &mut Order| {
        o.ship(
            &p.supplier,
            ShipmentDetails {
                carrier: ShortText::parse("DHL").expect("text"),
                tracking_number: ShortText::parse("1").expect("text"),
                shipped_at: None,
            },
            at,
        )
        .expect("ship")
    };
    let mut orders = Vec::new();
    // A draft nobody confirms.
    orders.push(new());
    // A card payment that never arrives.
    let (mut o, mut ev) = new();
    ev.extend(o.confirm(&p.supplier, 1, &limit, at).expect("confirm"));
    ev.extend(pay(&mut o, Stage::Initial, false));
    orders.push((o, ev));
    // Shipped, delivered, the balance never paid.
    let (mut o, mut ev) = new();
    ev.extend(o.confirm(&p.supplier, 1, &limit, at).expect("confirm"));
    ev.extend(pay(&mut o, Stage::Initial, true));
    ev.extend(ship(&mut o));
    ev.extend(
        o.record_delivery(&p.buyer, None, Some(at), at)
            .expect("delivered"),
    );
    orders.push((o, ev));
    // Paid in full; receipt never confirmed.
    let (mut o, mut ev) = new();
    ev.extend(o.confirm(&p.supplier, 1, &limit, at).expect("confirm"));
    ev.extend(pay(&mut o, Stage::Initial, true));
    ev.extend(ship(&mut o));
    ev.extend(pay(&mut o, Stage::Balance, true));
    orders.push((o, ev));
    // A dispute the supplier rejected (at day 31, just before the sweep).
    let (mut o, mut ev) = new();
    let late = at + TimeDelta::days(31) - TimeDelta::minutes(10);
    ev.extend(o.confirm(&p.supplier, 1, &limit, at).expect("confirm"));
    ev.extend(pay(&mut o, Stage::Initial, true));
    ev.extend(
        o.raise_dispute(
            &p.buyer,
            OpenDispute {
                reason: DisputeReason::Quality,
                requested_refund: Usd::dollars(10).expect("usd"),
                description: LongText::parse("scratched").expect("text"),
                evidence: Vec::new(),
            },
            late,
        )
        .expect("opened"),
    );
    ev.extend(
        o.respond_dispute(
            &p.supplier,
            DisputeResponse {
                action: ResponseAction::Reject,
                message: None,
                evidence: Vec::new(),
            },
            late,
        )
        .expect("rejected"),
    );
    orders.push((o, ev));
    let ids: Vec<OrderId> = orders.iter().map(|(o, _)| o.id().clone()).collect();
    for (order, events) in &orders {
        store
            .commit(Commit {
                previous_flags: &[],
                order,
                expected_revision: None,
                events,
                idempotency: None,
                dedup: None,
                now: at,
            })
            .await
            .expect("commit");
    }
    app::publisher::drain(&store, &MemoryBus::default())
        .await
        .expect("drain");
    counter.reset();

    let now = at + TimeDelta::days(31);
    let (report, calls) = counter
        .during(app::sweep::run(&store, &MemoryBus::default(), now))
        .await;
    let report = report.expect("sweep");
    assert_eq!(
        (
            report.due,
            report.changed,
            report.cancelled,
            report.expired,
            report.closed,
            report.receipts_confirmed,
            report.escalated
        ),
        (5, 5, 1, 1, 1, 1, 1),
        "{report:?}"
    );
    let count = |op: &str| calls.iter().filter(|c| *c == op).count();
    assert_eq!(count("GetItem"), 5, "one read per due order: {calls:?}");
    assert_eq!(
        count("TransactWriteItems"),
        5,
        "one write per due order: {calls:?}"
    );
    assert_eq!(count("Scan"), 0, "{calls:?}");
    let mut statuses = Vec::new();
    for id in &ids {
        let o = store
            .load(
                LoadRequest {
                    order: id,
                    idempotency: None,
                    limit_of: None,
                    credit_of: None,
                },
                now,
            )
            .await
            .expect("load")
            .order
            .expect("order");
        statuses.push(o.status());
    }
    assert_eq!(
        statuses,
        [
            OrderStatus::Cancelled,
            OrderStatus::AwaitingInitialPayment,
            OrderStatus::Closed,
            OrderStatus::Completed,
            OrderStatus::AwaitingShipment,
        ]
    );
}
