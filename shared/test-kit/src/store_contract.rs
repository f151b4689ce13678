//! The contract every store backend must pass, generic over the backend.
//! `contract_suite!(expr)` expands to one `#[tokio::test]` per case, each
//! given a backend from `expr` (an async block). Cases use fresh ids, so
//! they may share one table.
//!
//! The races here are real: tasks run on a multi-threaded runtime and hit
//! the backend concurrently; the verdicts do not depend on scheduling.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use domain::actor::{Caller, Provider, Role};
use domain::calendar::Timestamp;
use domain::contract::{LineItem, Terms, TermsDraft};
use domain::coverage::CoverageType;
use domain::event::{DomainEvent, EventBody, FlagResolution};
use domain::ids::{ApplicationId, OrderId, PaymentId, UserId};
use domain::order::{Counterparty, NewOrder, PaymentReport, PaymentRequest};
use domain::payment::{
    CardBrand, CreditLine, CreditLineStatus, FlagReason, PaymentContext, PaymentMethod,
    PaymentSignal, PaymentStatus, Stage,
};
use domain::refund::{RefundPart, RefundStatus};
use domain::status::OrderStatus;
use domain::text::{CountryCode, LongText, ShortText};
use domain::{Order, Usd};

use app::consumer::{self, Applied, ConsumeError};
use app::error::{ConflictKind, StoreError};
use app::flags::{FlagEntry, RefusedEvent};
use app::idempotency::{IdemDecision, IdemKey, IdemRecord, PayloadHash, StoredResponse, decide};
use app::page::PageRequest;
use app::ports::{Commit, DedupMark, Listing, LoadRequest, ProviderMessage};
use domain::order::AttentionKind;

pub use app::ports::Backend;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A prefix no other case (or run) uses.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or(0);
    format!("{prefix}{}x{nanos:x}x{n}", std::process::id())
}

fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap_or_else(|e| panic!("user id {s}: {e}"))
}

pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("valid time"))
}

/// A buyer, a supplier and their callers, with fresh ids.
pub struct Parties {
    pub buyer: Caller,
    pub supplier: Caller,
}

impl Parties {
    pub fn fresh() -> Self {
        Parties {
            buyer: Caller::new(user(&unique("b-")), [Role::Buyer]),
            supplier: Caller::new(user(&unique("s-")), [Role::Supplier]),
        }
    }
}

/// 10 × 100.00 = 1000.00, initial 400.00, pre-shipment.
pub fn terms() -> Terms {
    terms_with(CoverageType::PreShipment)
}

/// [`terms`] with another coverage type.
pub fn terms_with(coverage: CoverageType) -> Terms {
    Terms::new(TermsDraft {
        items: vec![LineItem {
            description: ShortText::parse("widget").unwrap_or_else(|e| panic!("{e}")),
            quantity: 10,
            unit_price: Usd::dollars(100).unwrap_or_else(|e| panic!("{e}")),
        }],
        shipping_fee: Usd::ZERO,
        initial_payment: Usd::dollars(400).unwrap_or_else(|e| panic!("{e}")),
        ship_by: NaiveDate::from_ymd_opt(2027, 6, 1).unwrap_or_else(|| panic!("date")),
        quality_terms: LongText::parse("as sampled").unwrap_or_else(|e| panic!("{e}")),
        destination_country: CountryCode::US,
        coverage,
        inspection: None,
        contract_document: None,
    })
    .unwrap_or_else(|e| panic!("terms: {e}"))
}

/// Create an order (buyer → supplier) and commit it.
pub async fn create<B: Backend>(backend: &B, p: &Parties, at: Timestamp) -> Order {
    create_with(backend, p, terms(), at).await
}

/// [`create`] on given terms.
pub async fn create_with<B: Backend>(
    backend: &B,
    p: &Parties,
    terms: Terms,
    at: Timestamp,
) -> Order {
    let id = OrderId::parse(unique("ord_")).unwrap_or_else(|e| panic!("{e}"));
    let (order, events) = Order::create(
        &p.buyer,
        NewOrder {
            id,
            counterparty: Counterparty::Supplier(p.supplier.id.clone()),
            terms,
            clocks: domain::clocks::Clocks::default(),
        },
        at,
    )
    .unwrap_or_else(|e| panic!("create: {e}"));
    commit_ok(backend, &order, None, &events, at).await;
    order
}

pub async fn commit_ok<B: Backend>(
    backend: &B,
    order: &Order,
    expected: Option<u64>,
    events: &[DomainEvent],
    now: Timestamp,
) {
    // The flags the order had at the revision it is saved on: the commit
    // writes what opened and removes what closed.
    let previous_flags = match expected {
        Some(_) => load(backend, order.id(), None, now)
            .await
            .order
            .map(|o| o.open_flags())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    backend
        .commit(Commit {
            previous_flags: &previous_flags,
            order,
            expected_revision: expected,
            events,
            idempotency: None,
            dedup: None,
            now,
        })
        .await
        .unwrap_or_else(|e| panic!("commit: {e:?}"));
    // What a store keeps is the order exactly (the DynamoDB adapter stores
    // it deflated, with its null fields left out).
    let stored = load(backend, order.id(), None, now).await.order;
    assert_eq!(
        stored.as_ref(),
        Some(order),
        "the order reads back as committed"
    );
}

async fn load<B: Backend>(
    backend: &B,
    id: &OrderId,
    limit_of: Option<&UserId>,
    now: Timestamp,
) -> app::ports::Loaded {
    backend
        .load(
            LoadRequest {
                order: id,
                idempotency: None,
                limit_of,
                credit_of: None,
            },
            now,
        )
        .await
        .unwrap_or_else(|e| panic!("load: {e:?}"))
}

/// Confirm by the supplier, reading the limit with the order, retrying on a
/// concurrent change as a use case would. Returns the covered amount, or
/// `None` if the supplier had no room left.
pub async fn confirm_with_retry<B: Backend>(
    backend: &B,
    p: &Parties,
    id: &OrderId,
    now: Timestamp,
) -> Option<Usd> {
    for _ in 0..200 {
        let loaded = load(backend, id, Some(&p.supplier.id), now).await;
        let mut order = loaded.order.unwrap_or_else(|| panic!("order exists"));
        let limit = loaded.limit.unwrap_or_else(|| panic!("limit exists"));
        let before = order.revision();
        let events = match order.confirm(&p.supplier, order.version(), &limit, now) {
            Ok(events) => events,
            Err(e) if e.kind() == domain::ErrorKind::Unprocessable => return None,
            Err(e) => panic!("confirm: {e}"),
        };
        let result = backend
            .commit(Commit {
                previous_flags: &[],
                order: &order,
                expected_revision: Some(before),
                events: &events,
                idempotency: None,
                dedup: None,
                now,
            })
            .await;
        match result {
            Ok(()) => return order.coverage().covered_amount,
            Err(StoreError::Conflict(ConflictKind::LimitInsufficient | ConflictKind::Version)) => {
                continue;
            }
            Err(e) => panic!("commit: {e:?}"),
        }
    }
    panic!("confirmation did not settle after 200 attempts")
}

// ---- the cases ----------------------------------------------------------------

/// Two saves from the same version: exactly one wins, the other is a
/// version conflict; creating an existing order is a conflict too.
pub async fn concurrent_saves_conflict_on_version<B: Backend>(backend: B) {
    let p = Parties::fresh();
    let order = create(&backend, &p, t0()).await;
    let dup = backend
        .commit(Commit {
            previous_flags: &[],
            order: &order,
            expected_revision: None,
            events: &[],
            idempotency: None,
            dedup: None,
            now: t0(),
        })
        .await;
    assert_eq!(
        dup.err().and_then(|e| e.conflict_kind()),
        Some(ConflictKind::Version)
    );

    let mut tasks = Vec::new();
    for i in 0..8 {
        let backend = backend.clone();
        let mut copy = order.clone();
        let caller = if i % 2 == 0 {
            p.buyer.clone()
        } else {
            p.supplier.clone()
        };
        tasks.push(tokio::spawn(async move {
            let events = copy.cancel(&caller, t0()).unwrap_or_else(|e| panic!("{e}"));
            backend
                .commit(Commit {
                    previous_flags: &[],
                    order: &copy,
                    expected_revision: Some(1),
                    events: &events,
                    idempotency: None,
                    dedup: None,
                    now: t0(),
                })
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap_or_else(|e| panic!("task: {e}")) {
            Ok(()) => wins += 1,
            Err(e) => assert_eq!(e.conflict_kind(), Some(ConflictKind::Version), "{e:?}"),
        }
    }
    assert_eq!(wins, 1, "exactly one of the racing saves wins");
    let stored = load(&backend, order.id(), None, t0()).await.order;
    assert_eq!(
        stored.map(|o| (o.version(), o.status())),
        Some((2, OrderStatus::Cancelled))
    );
    let history = backend
        .history(order.id(), &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    let kinds: Vec<_> = history.iter().map(|e| e.body.detail_type()).collect();
    assert_eq!(
        kinds,
        ["OrderCreated", "OrderCancelled"],
        "the loser's events are not stored"
    );
}

/// 50 confirmations race for one supplier's limit: `reserved` never
/// exceeds the limit and equals the sum of what the confirmed orders cover.
pub async fn concurrent_confirmations_never_over_reserve<B: Backend>(backend: B) {
    let p = Parties::fresh();
    // Room for 12.5 orders of 400.00: 12 full, one partial (200.00), the rest none.
    let limit = Usd::dollars(5000).unwrap_or_else(|e| panic!("{e}"));
    backend
        .set_limit(&p.supplier.id, limit, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(create(&backend, &p, t0()).await.id().clone());
    }
    let p = std::sync::Arc::new(p);
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let backend = backend.clone();
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            confirm_with_retry(&backend, &p, &id, t0()).await
        }));
    }
    let mut covered = Vec::new();
    for t in tasks {
        if let Some(c) = t.await.unwrap_or_else(|e| panic!("task: {e}")) {
            covered.push(c);
        }
    }
    let stored = backend
        .get_limit(&p.supplier.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("limit"));
    let sum = Usd::sum(covered.iter().copied()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        stored.reserved() <= stored.limit(),
        "reserved {} > limit {}",
        stored.reserved(),
        stored.limit()
    );
    assert_eq!(
        stored.reserved(),
        sum,
        "reserved equals the sum of covered amounts"
    );
    assert_eq!(sum, limit, "the limit is used up exactly");
    assert_eq!(covered.len(), 13, "12 full coverages and one partial");
    let mut in_store = Usd::ZERO;
    for id in &ids {
        let o = load(&backend, id, None, t0())
            .await
            .order
            .unwrap_or_else(|| panic!("order"));
        in_store = in_store
            .checked_add(o.coverage().reserved)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        in_store, sum,
        "the orders' reservations match the limit record"
    );
}

/// Idempotency records: in progress, complete, another payload, expired.
pub async fn idempotency_records_progress_complete_mismatch_and_expire<B: Backend>(backend: B) {
    let caller = user(&unique("u-"));
    let key =
        IdemKey::new(&caller, "POST", "/v1/orders", &unique("k")).unwrap_or_else(|e| panic!("{e}"));
    let body = PayloadHash::of(b"{\"a\":1}");
    let other = PayloadHash::of(b"{\"a\":2}");
    let now = t0();
    let got = backend
        .get_record(&key, now)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(decide(got.as_ref(), &body, now), IdemDecision::Proceed);

    let lease = IdemRecord::in_progress(key.clone(), body.clone(), now);
    backend
        .begin(&lease, now)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let again = backend.begin(&lease, now).await;
    assert_eq!(
        again.err().and_then(|e| e.conflict_kind()),
        Some(ConflictKind::Idempotency)
    );
    let got = backend
        .get_record(&key, now)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(decide(got.as_ref(), &body, now), IdemDecision::InProgress);

    let response = StoredResponse {
        headers: Vec::new(),
        status: 201,
        content_type: "application/json".into(),
        body: "{\"id\":\"ord_1\"}".into(),
    };
    let done = IdemRecord::complete(key.clone(), body.clone(), response.clone(), now);
    // Another payload may not complete over this request's lease.
    let foreign = IdemRecord::complete(key.clone(), other.clone(), response.clone(), now);
    let r = backend.complete(&foreign, now).await;
    assert_eq!(
        r.err().and_then(|e| e.conflict_kind()),
        Some(ConflictKind::Idempotency)
    );
    backend
        .complete(&done, now)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let got = backend
        .get_record(&key, now)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        decide(got.as_ref(), &body, now),
        IdemDecision::Replay(response.clone())
    );
    assert_eq!(
        decide(got.as_ref(), &other, now),
        IdemDecision::PayloadMismatch
    );
    // A completed record is never overwritten while live.
    let r = backend.complete(&done, now).await;
    assert_eq!(
        r.err().and_then(|e| e.conflict_kind()),
        Some(ConflictKind::Idempotency)
    );

    // Kept 24 hours; expiry is checked on read (TTL deletion is lazy).
    let later = now + TimeDelta::hours(24) - TimeDelta::seconds(1);
    assert!(
        backend
            .get_record(&key, later)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .is_some()
    );
    let expired = now + TimeDelta::hours(24) + TimeDelta::seconds(1);
    assert_eq!(
        backend
            .get_record(&key, expired)
            .await
            .unwrap_or_else(|e| panic!("{e:?}")),
        None
    );
    let fresh = IdemRecord::in_progress(key.clone(), other.clone(), expired);
    backend
        .begin(&fresh, expired)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
}

/// A failed request gives up its own lease so that its retry runs at once;
/// releasing never removes another payload's lease or a completed record.
pub async fn a_released_lease_lets_the_retry_run_and_nothing_else_is_released<B: Backend>(
    backend: B,
) {
    let caller = user(&unique("u-"));
    let key =
        IdemKey::new(&caller, "POST", "/v1/orders", &unique("k")).unwrap_or_else(|e| panic!("{e}"));
    let body = PayloadHash::of(b"{\"a\":1}");
    let other = PayloadHash::of(b"{\"a\":2}");
    let now = t0();
    let lease = IdemRecord::in_progress(key.clone(), body.clone(), now);
    backend
        .begin(&lease, now)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    // Someone else's payload releases nothing: still in progress.
    let foreign = IdemRecord::in_progress(key.clone(), other.clone(), now);
    backend
        .release(&foreign)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let got = backend
        .get_record(&key, now)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(decide(got.as_ref(), &body, now), IdemDecision::InProgress);
    // Its own: gone, and the retry takes the key at once.
    backend
        .release(&lease)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        backend
            .get_record(&key, now)
            .await
            .unwrap_or_else(|e| panic!("{e:?}")),
        None
    );
    backend
        .release(&lease)
        .await
        .unwrap_or_else(|e| panic!("releasing nothing is no error: {e:?}"));
    backend
        .begin(&lease, now)
        .await
        .unwrap_or_else(|e| panic!("the retry's lease: {e:?}"));
    // A completed record stays, whoever asks.
    let response = StoredResponse {
        headers: Vec::new(),
        status: 201,
        content_type: "application/json".into(),
        body: "{}".into(),
    };
    let done = IdemRecord::complete(key.clone(), body.clone(), response.clone(), now);
    backend
        .complete(&done, now)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    backend
        .release(&lease)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let got = backend
        .get_record(&key, now)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        decide(got.as_ref(), &body, now),
        IdemDecision::Replay(response)
    );
}

/// An idempotency record committed with an order change: read back with
/// the order, and a stale retry cannot overwrite it.
pub async fn idempotency_record_rides_with_the_order_commit<B: Backend>(backend: B) {
    let p = Parties::fresh();
    let order = create(&backend, &p, t0()).await;
    let key =
        IdemKey::new(&p.buyer.id, "POST", "/x/cancel", "k1").unwrap_or_else(|e| panic!("{e}"));
    let hash = PayloadHash::of(b"{}");
    let response = StoredResponse {
        headers: Vec::new(),
        status: 200,
        content_type: "application/json".into(),
        body: "{}".into(),
    };
    let record = IdemRecord::complete(key.clone(), hash.clone(), response.clone(), t0());
    let mut cancelled = order.clone();
    let events = cancelled
        .cancel(&p.buyer, t0())
        .unwrap_or_else(|e| panic!("{e}"));
    backend
        .commit(Commit {
            previous_flags: &[],
            order: &cancelled,
            expected_revision: Some(1),
            events: &events,
            idempotency: Some(&record),
            dedup: None,
            now: t0(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let loaded = backend
        .load(
            LoadRequest {
                order: order.id(),
                idempotency: Some(&key),
                limit_of: None,
                credit_of: None,
            },
            t0(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(loaded.idempotency, Some(record.clone()));
    assert_eq!(
        decide(loaded.idempotency.as_ref(), &hash, t0()),
        IdemDecision::Replay(response)
    );
    // A stale retry that raced past its read cannot replace the result.
    let stale = IdemRecord::complete(
        key,
        hash,
        StoredResponse {
            headers: Vec::new(),
            status: 409,
            content_type: "application/problem+json".into(),
            body: "{}".into(),
        },
        t0(),
    );
    let mut again = cancelled.clone();
    let r = backend
        .commit(Commit {
            previous_flags: &[],
            order: &again,
            expected_revision: Some(2),
            events: &[],
            idempotency: Some(&stale),
            dedup: None,
            now: t0(),
        })
        .await;
    assert_eq!(
        r.err().and_then(|e| e.conflict_kind()),
        Some(ConflictKind::Idempotency)
    );
    again = load(&backend, order.id(), None, t0())
        .await
        .order
        .unwrap_or_else(|| panic!("order"));
    assert_eq!(again.version(), 2);
}

/// 20 consumers receive the same provider event at once: exactly one
/// applies it; the payment succeeds once.
pub async fn concurrent_consumers_apply_a_provider_event_once<B: Backend>(backend: B) {
    let (_, order_id, pay) = order_paying_by_card(&backend).await;

    let event_id = unique("msg_");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let backend = backend.clone();
        let id = order_id.clone();
        let pay = pay.clone();
        let event_id = event_id.clone();
        tasks.push(tokio::spawn(async move {
            consume(&backend, &id, &pay, &event_id).await
        }));
    }
    let mut applied = 0;
    for t in tasks {
        if t.await.unwrap_or_else(|e| panic!("task: {e}")) {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "exactly one consumer applies the event");
    let o = load(&backend, &order_id, None, t0())
        .await
        .order
        .unwrap_or_else(|| panic!("order"));
    assert_eq!(o.status(), OrderStatus::AwaitingShipment);
    assert_eq!(
        o.payment(&pay).map(|p| p.status),
        Some(PaymentStatus::Succeeded)
    );
    let history = backend
        .history(&order_id, &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    let succeeded = history
        .iter()
        .filter(|e| matches!(e.body, EventBody::PaymentSucceeded { .. }))
        .count();
    assert_eq!(succeeded, 1);
    assert!(
        backend
            .seen(Provider::Card, &event_id, t0())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    );
    let expired = t0() + TimeDelta::days(8);
    assert!(
        !backend
            .seen(Provider::Card, &event_id, expired)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    );
}

/// A consumer: skip what was seen, else apply with the de-duplication mark
/// in the same write; retry on a concurrent change. `true` if it applied.
async fn consume<B: Backend>(backend: &B, id: &OrderId, pay: &PaymentId, event_id: &str) -> bool {
    for _ in 0..100 {
        if backend
            .seen(Provider::Card, event_id, t0())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
        {
            return false;
        }
        let mut o = load(backend, id, None, t0())
            .await
            .order
            .unwrap_or_else(|| panic!("order"));
        let before = o.revision();
        let amount = o.payment(pay).map(|p| p.amount).unwrap_or(Usd::ZERO);
        let events = o
            .apply_payment_report(
                Provider::Card,
                PaymentReport {
                    payment_id: pay.clone(),
                    signal: PaymentSignal::Succeeded,
                    confirmed: Some((amount, "USD".into())),
                    provider_reference: None,
                },
                t0(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let mark = DedupMark {
            provider: Provider::Card,
            event_id: event_id.to_owned(),
            expires_at: t0() + TimeDelta::days(7),
        };
        let r = backend
            .commit(Commit {
                previous_flags: &[],
                order: &o,
                expected_revision: Some(before),
                events: &events,
                idempotency: None,
                dedup: Some(&mark),
                now: t0(),
            })
            .await;
        match r {
            Ok(()) => return !events.is_empty(),
            Err(StoreError::Conflict(ConflictKind::Duplicate)) => return false,
            Err(StoreError::Conflict(ConflictKind::Version)) => continue,
            Err(e) => panic!("commit: {e:?}"),
        }
    }
    panic!("consumer did not settle")
}

/// A buyer's orders page newest first without overlap; a cursor works only
/// in the listing it came from.
pub async fn listings_paginate_newest_first_and_cursors_stay_in_their_listing<B: Backend>(
    backend: B,
) {
    let p = Parties::fresh();
    let stranger = Parties::fresh();
    let mut created = Vec::new();
    for i in 0..7 {
        let o = create(&backend, &p, t0() + TimeDelta::minutes(i)).await;
        created.push(o.id().clone());
    }
    create(&backend, &stranger, t0()).await;
    let listing = Listing::Buyer(p.buyer.id.clone());
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    let mut sizes = Vec::new();
    loop {
        let got = backend
            .list(&listing, &page)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        sizes.push(got.items.len());
        seen.extend(got.items.iter().map(|o| o.id().clone()));
        match got.next_cursor {
            Some(c) => {
                page = PageRequest {
                    limit: 3,
                    cursor: Some(c),
                }
            }
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    created.reverse();
    assert_eq!(seen, created, "newest first, each once");

    let by_supplier = backend
        .list(
            &Listing::Supplier(p.supplier.id.clone()),
            &PageRequest::first(100),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(by_supplier.items.len(), 7);

    let first = backend
        .list(&listing, &PageRequest::first(2))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let cursor = first.next_cursor.unwrap_or_else(|| panic!("more pages"));
    let elsewhere = backend
        .list(
            &Listing::Buyer(stranger.buyer.id.clone()),
            &PageRequest {
                limit: 2,
                cursor: Some(cursor),
            },
        )
        .await;
    assert!(
        matches!(elsewhere, Err(StoreError::InvalidCursor)),
        "{elsewhere:?}"
    );
}

/// An order's history pages oldest first, each event once; its cursor is
/// good for that order's history only, and a cursor edited by hand (its
/// sort key emptied, or another listing's) is refused, never sent on.
pub async fn history_pages_oldest_first_and_cursors_are_checked<B: Backend>(backend: B) {
    let p = Parties::fresh();
    let mut o = create(&backend, &p, t0()).await;
    let other = create(&backend, &p, t0()).await;
    // Six amendments: seven events in all.
    for i in 1..=6 {
        let before = o.revision();
        let at = t0() + TimeDelta::minutes(i);
        let events = o
            .amend(&p.buyer, terms(), at)
            .unwrap_or_else(|e| panic!("amend: {e}"));
        commit_ok(&backend, &o, Some(before), &events, at).await;
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    let mut sizes = Vec::new();
    loop {
        let got = backend
            .history(o.id(), &page)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        sizes.push(got.items.len());
        seen.extend(got.items.iter().map(|e| e.at));
        match got.next_cursor {
            Some(c) => {
                page = PageRequest {
                    limit: 3,
                    cursor: Some(c),
                }
            }
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "oldest first");
    assert_eq!(seen.len(), 7, "each event once");

    let first = backend
        .history(o.id(), &PageRequest::first(2))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let cursor = first.next_cursor.unwrap_or_else(|| panic!("more pages"));
    let elsewhere = backend
        .history(
            other.id(),
            &PageRequest {
                limit: 2,
                cursor: Some(cursor.clone()),
            },
        )
        .await;
    assert!(
        matches!(elsewhere, Err(StoreError::InvalidCursor)),
        "{elsewhere:?}"
    );
    for forged in forged_cursors(&app::table::order_pk(o.id())) {
        let got = backend
            .history(
                o.id(),
                &PageRequest {
                    limit: 2,
                    cursor: Some(forged.clone()),
                },
            )
            .await;
        assert!(
            matches!(got, Err(StoreError::InvalidCursor)),
            "{forged:?}: {got:?}"
        );
    }
    for forged in forged_cursors(&app::table::buyer_pk(&p.buyer.id)) {
        let got = backend
            .list(
                &Listing::Buyer(p.buyer.id.clone()),
                &PageRequest {
                    limit: 2,
                    cursor: Some(forged.clone()),
                },
            )
            .await;
        assert!(
            matches!(got, Err(StoreError::InvalidCursor)),
            "{forged:?}: {got:?}"
        );
    }
    for forged in forged_cursors(&app::table::supplier_pk(&p.supplier.id)) {
        let got = backend
            .feedback(
                &p.supplier.id,
                &PageRequest {
                    limit: 2,
                    cursor: Some(forged.clone()),
                },
            )
            .await;
        assert!(
            matches!(got, Err(StoreError::InvalidCursor)),
            "{forged:?}: {got:?}"
        );
    }
}

/// Cursors for `partition` edited by hand: an empty sort key, keys of
/// every other listing's shape, garbage.
fn forged_cursors(partition: &str) -> Vec<app::page::Cursor> {
    use app::page::{Cursor, CursorPosition};
    [
        "",
        "EVENT#",
        "FEEDBACK#x",
        "2027-03-01T09:00:00.000000Z#",
        "not a key",
        "EVENT#000000000001#2027-03-01T09:00:00.000000Z#000",
        "2027-03-01T09:00:00.000000Z#ord_1",
        "FEEDBACK#2027-03-01T09:00:00.000000Z#0123456789abcdef",
    ]
    .into_iter()
    .filter(|sk| {
        // Keep only the keys that are *not* of this partition's own shape.
        let own = if partition.starts_with("ORDER#") {
            app::table::is_event_sk(sk)
        } else if partition.starts_with("SUPPLIER#") {
            app::table::is_feedback_sk(sk)
        } else {
            app::table::is_listing_sk(sk)
        };
        !own
    })
    .map(|sk| {
        Cursor::encode(&CursorPosition {
            partition: partition.to_owned(),
            sort_key: sk.to_owned(),
            order_id: String::new(),
        })
    })
    .collect()
}

/// An order of `p` driven to completion with the buyer's feedback, committed
/// in one write with every event of its life.
async fn completed_with_feedback<B: Backend>(
    backend: &B,
    p: &Parties,
    rating: i64,
    comment: &str,
    at: Timestamp,
) -> Order {
    let id = OrderId::parse(unique("ord_")).unwrap_or_else(|e| panic!("{e}"));
    let limit = domain::coverage::AssuranceLimit::new(
        p.supplier.id.clone(),
        Usd::dollars(100_000).unwrap_or_else(|e| panic!("{e}")),
    );
    let (mut o, mut events) = Order::create(
        &p.buyer,
        NewOrder {
            id,
            counterparty: Counterparty::Supplier(p.supplier.id.clone()),
            terms: terms(),
            clocks: domain::clocks::Clocks::default(),
        },
        at,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut step = |r: Result<Vec<DomainEvent>, domain::OrderError>| {
        events.extend(r.unwrap_or_else(|e| panic!("{e}")));
    };
    step(o.confirm(&p.supplier, o.version(), &limit, at));
    for stage in [Stage::Initial, Stage::Balance] {
        if stage == Stage::Balance {
            step(o.ship(
                &p.supplier,
                domain::order::ShipmentDetails {
                    carrier: ShortText::parse("DHL").unwrap_or_else(|e| panic!("{e}")),
                    tracking_number: ShortText::parse("1").unwrap_or_else(|e| panic!("{e}")),
                    shipped_at: None,
                },
                at,
            ));
        }
        let pay = PaymentId::parse(unique("pay_")).unwrap_or_else(|e| panic!("{e}"));
        step(o.initiate_payment(
            &p.buyer,
            PaymentRequest {
                id: pay.clone(),
                stage,
                method: PaymentMethod::CreditCard {
                    card_brand: CardBrand::Visa,
                },
            },
            PaymentContext::default(),
            at,
        ));
        let amount = o.payment(&pay).map(|x| x.amount).unwrap_or(Usd::ZERO);
        step(o.apply_payment_report(
            Provider::Card,
            PaymentReport {
                payment_id: pay,
                signal: PaymentSignal::Succeeded,
                confirmed: Some((amount, "USD".into())),
                provider_reference: None,
            },
            at,
        ));
    }
    step(o.confirm_receipt(&p.buyer, at));
    step(o.leave_feedback(
        &p.buyer,
        domain::feedback::Rating::parse(rating).unwrap_or_else(|_| panic!("rating")),
        LongText::parse(comment).unwrap_or_else(|e| panic!("{e}")),
        at,
    ));
    commit_ok(backend, &o, None, &events, at).await;
    o
}

/// A supplier's feedback: the count and average over all of it (from one
/// record, however many orders), the items newest first a page at a time,
/// naming neither the orders nor the buyers — whatever other orders the
/// supplier has.
pub async fn supplier_feedback_is_counted_over_all_and_listed_newest_first<B: Backend>(backend: B) {
    let p = Parties::fresh();
    backend
        .set_limit(
            &p.supplier.id,
            Usd::dollars(1_000_000).unwrap_or_else(|e| panic!("{e}")),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut left = Vec::new();
    for (i, rating) in [5, 4, 1, 5, 3].into_iter().enumerate() {
        let at = t0() + TimeDelta::hours(i as i64);
        completed_with_feedback(&backend, &p, rating, &format!("order {i}"), at).await;
        left.push((rating, format!("order {i}")));
    }
    // Many more orders without feedback, newer than all of it.
    for i in 0..12 {
        create(
            &backend,
            &p,
            t0() + TimeDelta::days(1) + TimeDelta::minutes(i),
        )
        .await;
    }
    let summary = backend
        .rating(&p.supplier.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((summary.count, summary.sum), (5, 18));
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = backend
            .feedback(&p.supplier.id, &page)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        seen.extend(
            got.items
                .iter()
                .map(|f| (i64::from(f.rating.get()), f.comment.to_string())),
        );
        match got.next_cursor {
            Some(c) => {
                let text = String::from_utf8(
                    base64::Engine::decode(
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                        c.as_str(),
                    )
                    .unwrap_or_default(),
                )
                .unwrap_or_default();
                assert!(!text.contains("ord_"), "the cursor names no order: {text}");
                page = PageRequest {
                    limit: 2,
                    cursor: Some(c),
                }
            }
            None => break,
        }
    }
    left.reverse();
    assert_eq!(seen, left, "newest first, each once");
    let stranger = Parties::fresh();
    let none = backend
        .feedback(&stranger.supplier.id, &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(none.items.is_empty() && none.next_cursor.is_none());
}

/// A completed idempotency record keeps the response's headers (a 201's
/// `Location`), so a replay answers exactly as the first time.
pub async fn idempotency_records_keep_the_response_headers<B: Backend>(backend: B) {
    let p = Parties::fresh();
    let key = IdemKey::new(&p.buyer.id, "POST", "/v1/orders", &unique("k-"))
        .unwrap_or_else(|e| panic!("{e}"));
    let payload = PayloadHash::of(b"{}");
    let response = StoredResponse {
        status: 201,
        content_type: "application/json".into(),
        body: "{}".into(),
        headers: vec![("location".into(), "/v1/orders/ord_1".into())],
    };
    let record = IdemRecord::complete(key.clone(), payload.clone(), response.clone(), t0());
    backend
        .complete(&record, t0())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let got = backend
        .get_record(&key, t0())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        decide(got.as_ref(), &payload, t0()),
        IdemDecision::Replay(response)
    );
}

/// Among many orders, the due index returns exactly those the sweep has
/// work on now.
pub async fn due_index_returns_exactly_the_due_orders<B: Backend>(backend: B) {
    let p = Parties::fresh();
    backend
        .set_limit(
            &p.supplier.id,
            Usd::dollars(1_000_000).unwrap_or_else(|e| panic!("{e}")),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    // Confirmed orders are cancelled when unpaid for 30 days: confirm some
    // 31 days ago (due) and the rest more recently (not due).
    let now = t0() + TimeDelta::days(40);
    let mut due = BTreeSet::new();
    let mut ours = BTreeSet::new();
    for i in 0..30 {
        let confirmed_at = if i % 6 == 0 {
            now - TimeDelta::days(31)
        } else {
            now - TimeDelta::days(10)
        };
        let o = create(&backend, &p, t0()).await;
        confirm_with_retry(&backend, &p, o.id(), confirmed_at).await;
        ours.insert(o.id().clone());
        if i % 6 == 0 {
            due.insert(o.id().clone());
        }
    }
    // Drafts are cancelled 30 days after creation: create some 31 days ago
    // (due) and the rest 10 days ago (not due).
    for i in 0..5 {
        let created_at = now - TimeDelta::days(if i % 2 == 0 { 10 } else { 31 });
        let o = create(&backend, &p, created_at).await;
        if i % 2 == 1 {
            due.insert(o.id().clone());
        }
        ours.insert(o.id().clone());
    }
    let found: BTreeSet<OrderId> = backend
        .due(now, 1000)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_iter()
        .filter(|id| ours.contains(id))
        .collect();
    assert_eq!(found, due);
}

/// Events are stored in order with the change, wait in the outbox until
/// published, and limits move with the orders' events.
pub async fn history_outbox_and_limit_effects_follow_the_commits<B: Backend>(backend: B) {
    let p = Parties::fresh();
    backend
        .set_limit(
            &p.supplier.id,
            Usd::dollars(1000).unwrap_or_else(|e| panic!("{e}")),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut order = create(&backend, &p, t0()).await;
    // A reminder stores an event and a new revision, not a new version.
    let events = order
        .remind(&p.buyer, t0() + TimeDelta::seconds(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((order.version(), order.revision()), (1, 2));
    commit_ok(&backend, &order, Some(1), &events, t0()).await;
    confirm_with_retry(&backend, &p, order.id(), t0() + TimeDelta::seconds(2)).await;
    let limit = backend
        .get_limit(&p.supplier.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        limit.map(|l| l.reserved()),
        Some(Usd::dollars(400).unwrap_or_else(|e| panic!("{e}")))
    );
    let mut o = load(&backend, order.id(), None, t0())
        .await
        .order
        .unwrap_or_else(|| panic!("order"));
    let v = o.revision();
    let events = o
        .cancel(&p.supplier, t0() + TimeDelta::seconds(3))
        .unwrap_or_else(|e| panic!("{e}"));
    commit_ok(&backend, &o, Some(v), &events, t0()).await;
    let limit = backend
        .get_limit(&p.supplier.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        limit.map(|l| l.reserved()),
        Some(Usd::ZERO),
        "released on cancel"
    );

    let history = backend
        .history(order.id(), &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    let kinds: Vec<_> = history.iter().map(|e| e.body.detail_type()).collect();
    assert_eq!(
        kinds,
        [
            "OrderCreated",
            "ConfirmationReminded",
            "OrderConfirmed",
            "CoverageReserved",
            "OrderCancelled",
            "ReservationReleased"
        ]
    );

    let mut ours = Vec::new();
    for _ in 0..100 {
        let batch = backend
            .unpublished(1000)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        ours = batch
            .into_iter()
            .filter(|e| e.event.order_id == *order.id())
            .collect();
        if ours.len() == 6 {
            break;
        }
    }
    assert_eq!(ours.len(), 6, "every event waits in the outbox");
    let ids: Vec<String> = ours.iter().map(|e| e.id.clone()).collect();
    backend
        .mark_published(&ids)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let left = backend
        .unpublished(1000)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        left.iter().all(|e| e.event.order_id != *order.id()),
        "published events leave the outbox"
    );
}

/// Pay Later credit: reserved with the payment, refused beyond what is
/// available, released on failure; an application is decided once.
pub async fn credit_lines_reserve_with_payments_and_decide_once<B: Backend>(backend: B) {
    let p = Parties::fresh();
    backend
        .set_limit(
            &p.supplier.id,
            Usd::dollars(100_000).unwrap_or_else(|e| panic!("{e}")),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let app = ApplicationId::parse(unique("app_")).unwrap_or_else(|e| panic!("{e}"));
    let mut line = CreditLine::apply(p.buyer.id.clone(), app, t0());
    backend
        .apply_for_credit(&line)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    // The same application again is a retried write: done already.
    backend
        .apply_for_credit(&line)
        .await
        .unwrap_or_else(|e| panic!("a retried application: {e:?}"));
    let another = CreditLine::apply(
        p.buyer.id.clone(),
        ApplicationId::parse(unique("app_")).unwrap_or_else(|e| panic!("{e}")),
        t0(),
    );
    let twice = backend.apply_for_credit(&another).await;
    assert_eq!(
        twice.err().and_then(|e| e.conflict_kind()),
        Some(ConflictKind::AlreadyExists)
    );
    assert_eq!(
        backend
            .get_credit(&p.buyer.id)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .map(|l| l.application_id),
        Some(line.application_id.clone()),
        "the first application stays"
    );
    line.approve(Usd::dollars(500).unwrap_or_else(|e| panic!("{e}")), t0())
        .unwrap_or_else(|e| panic!("{e}"));
    backend
        .decide_credit(&line, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let again = backend.decide_credit(&line, None).await;
    assert_eq!(
        again.err().and_then(|e| e.conflict_kind()),
        Some(ConflictKind::Version)
    );

    // Two orders, 400.00 each, against 500.00 of credit: the second does not fit.
    let mut results = Vec::new();
    for _ in 0..2 {
        let order = create(&backend, &p, t0()).await;
        confirm_with_retry(&backend, &p, order.id(), t0()).await;
        let mut o = load(&backend, order.id(), None, t0())
            .await
            .order
            .unwrap_or_else(|| panic!("order"));
        let v = o.revision();
        // Both read the credit line before either pays: a stale snapshot.
        let events = o
            .initiate_payment(
                &p.buyer,
                PaymentRequest {
                    id: PaymentId::parse(unique("pay_")).unwrap_or_else(|e| panic!("{e}")),
                    stage: Stage::Initial,
                    method: PaymentMethod::PayLater { term_months: 3 },
                },
                PaymentContext {
                    credit_line: Some(&line),
                    receiving_account: None,
                },
                t0(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let r = backend
            .commit(Commit {
                previous_flags: &[],
                order: &o,
                expected_revision: Some(v),
                events: &events,
                idempotency: None,
                dedup: None,
                now: t0(),
            })
            .await;
        results.push((o, r.err().and_then(|e| e.conflict_kind())));
    }
    assert_eq!(results[0].1, None);
    assert_eq!(results[1].1, Some(ConflictKind::CreditInsufficient));
    let stored = backend
        .get_credit(&p.buyer.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("line"));
    assert_eq!(
        stored.reserved(),
        Usd::dollars(400).unwrap_or_else(|e| panic!("{e}"))
    );
    assert_eq!(
        stored.available(),
        Usd::dollars(100).unwrap_or_else(|e| panic!("{e}"))
    );

    // The lender declines the loan: the credit comes back.
    let (mut o, _) = results.swap_remove(0);
    let v = o.revision();
    let pay = o.payments()[0].id.clone();
    let events = o
        .apply_payment_report(
            Provider::Paylater,
            PaymentReport {
                payment_id: pay,
                signal: PaymentSignal::Failed,
                confirmed: None,
                provider_reference: None,
            },
            t0(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    commit_ok(&backend, &o, Some(v), &events, t0()).await;
    let stored = backend
        .get_credit(&p.buyer.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("line"));
    assert_eq!(stored.reserved(), Usd::ZERO);
}

/// A supplier's limit can be lowered below what is reserved; nothing new
/// fits until releases make room. Ratings accumulate with feedback.
pub async fn a_lowered_limit_blocks_new_reservations<B: Backend>(backend: B) {
    let p = Parties::fresh();
    backend
        .set_limit(
            &p.supplier.id,
            Usd::dollars(1000).unwrap_or_else(|e| panic!("{e}")),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let a = create(&backend, &p, t0()).await;
    confirm_with_retry(&backend, &p, a.id(), t0()).await;
    let lowered = backend
        .set_limit(
            &p.supplier.id,
            Usd::dollars(100).unwrap_or_else(|e| panic!("{e}")),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        lowered.reserved(),
        Usd::dollars(400).unwrap_or_else(|e| panic!("{e}"))
    );
    assert_eq!(lowered.available(), Usd::ZERO);
    let b = create(&backend, &p, t0()).await;
    assert_eq!(confirm_with_retry(&backend, &p, b.id(), t0()).await, None);
    let rating = backend
        .rating(&p.supplier.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(rating.count, 0);
}

// ---- the payment-events consumer -------------------------------------------

pub fn provider_message(
    provider: Provider,
    webhook_id: &str,
    body: serde_json::Value,
) -> ProviderMessage {
    ProviderMessage {
        provider,
        webhook_id: webhook_id.to_owned(),
        received_at: t0(),
        body: body.to_string(),
    }
}

/// A `payment.*` body as docs/api.md shows it.
pub fn payment_body(
    kind: &str,
    order: &OrderId,
    pay: &PaymentId,
    amount: &str,
    currency: &str,
) -> serde_json::Value {
    serde_json::json!({
        "type": kind,
        "data": {
            "payment_id": pay.as_str(),
            "order_id": order.as_str(),
            "amount": amount,
            "currency": currency,
            "provider_reference": "ch_123",
        }
    })
}

/// A confirmed order with a card payment of 400.00 in flight.
pub async fn order_paying_by_card<B: Backend>(backend: &B) -> (Parties, OrderId, PaymentId) {
    let p = Parties::fresh();
    backend
        .set_limit(
            &p.supplier.id,
            Usd::dollars(100_000).unwrap_or_else(|e| panic!("{e}")),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let order = create(backend, &p, t0()).await;
    confirm_with_retry(backend, &p, order.id(), t0()).await;
    let mut o = load(backend, order.id(), None, t0())
        .await
        .order
        .unwrap_or_else(|| panic!("order"));
    let before = o.revision();
    let pay = PaymentId::parse(unique("pay_")).unwrap_or_else(|e| panic!("{e}"));
    let events = o
        .initiate_payment(
            &p.buyer,
            PaymentRequest {
                id: pay.clone(),
                stage: Stage::Initial,
                method: PaymentMethod::CreditCard {
                    card_brand: CardBrand::Visa,
                },
            },
            PaymentContext::default(),
            t0(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    commit_ok(backend, &o, Some(before), &events, t0()).await;
    (p, order.id().clone(), pay)
}

async fn consumed<B: Backend>(backend: &B, message: &ProviderMessage) -> Applied {
    consumer::consume(backend, message, t0())
        .await
        .unwrap_or_else(|e| panic!("consume {}: {e:?}", message.webhook_id))
}

pub async fn stored_order<B: Backend>(backend: &B, id: &OrderId) -> Order {
    load(backend, id, None, t0())
        .await
        .order
        .unwrap_or_else(|| panic!("order"))
}

async fn count_events<B: Backend>(backend: &B, id: &OrderId, detail_type: &str) -> usize {
    backend
        .history(id, &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items
        .iter()
        .filter(|e| e.body.detail_type() == detail_type)
        .count()
}

/// The same delivery twice has one effect; the same event under another
/// `webhook-id` changes nothing, and its mark is still recorded.
pub async fn consumer_applies_a_duplicated_delivery_once<B: Backend>(backend: B) {
    let (_, id, pay) = order_paying_by_card(&backend).await;
    let body = payment_body("payment.succeeded", &id, &pay, "400.00", "USD");
    let first = provider_message(Provider::Card, &unique("msg_"), body.clone());
    assert!(matches!(
        consumed(&backend, &first).await,
        Applied::Applied { .. }
    ));
    assert_eq!(consumed(&backend, &first).await, Applied::Duplicate);
    let resent = provider_message(Provider::Card, &unique("msg_"), body);
    assert_eq!(consumed(&backend, &resent).await, Applied::NoChange);
    assert_eq!(consumed(&backend, &resent).await, Applied::Duplicate);
    let o = stored_order(&backend, &id).await;
    assert_eq!(o.status(), OrderStatus::AwaitingShipment);
    assert_eq!(
        o.payment(&pay).map(|p| p.status),
        Some(PaymentStatus::Succeeded)
    );
    assert_eq!(count_events(&backend, &id, "PaymentSucceeded").await, 1);
    for m in [&first, &resent] {
        assert!(
            backend
                .seen(Provider::Card, &m.webhook_id, t0())
                .await
                .unwrap_or_else(|e| panic!("{e:?}"))
        );
    }
}

/// `payment.succeeded` then a late `payment.processing`: the payment does
/// not move backwards.
pub async fn consumer_never_moves_a_payment_backwards<B: Backend>(backend: B) {
    let (_, id, pay) = order_paying_by_card(&backend).await;
    let succeeded = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &id, &pay, "400.00", "USD"),
    );
    let processing = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.processing", &id, &pay, "400.00", "USD"),
    );
    assert!(matches!(
        consumed(&backend, &succeeded).await,
        Applied::Applied { .. }
    ));
    let version = stored_order(&backend, &id).await.version();
    assert_eq!(consumed(&backend, &processing).await, Applied::NoChange);
    let o = stored_order(&backend, &id).await;
    assert_eq!(
        o.version(),
        version,
        "an older signal does not save the order"
    );
    assert_eq!(
        o.payment(&pay).map(|p| (p.status, p.flag.is_none())),
        Some((PaymentStatus::Succeeded, true))
    );
    assert_eq!(o.status(), OrderStatus::AwaitingShipment);
    assert_eq!(consumed(&backend, &processing).await, Applied::Duplicate);
}

/// A failure after a success, a confirmation of another amount or currency,
/// and an event signed by a provider that does not serve the method are
/// flagged, not applied (and acknowledged).
pub async fn consumer_flags_contradictions_mismatches_and_wrong_providers<B: Backend>(backend: B) {
    // A failure after success.
    let (_, id, pay) = order_paying_by_card(&backend).await;
    for kind in ["payment.succeeded", "payment.failed"] {
        let m = provider_message(
            Provider::Card,
            &unique("msg_"),
            payment_body(kind, &id, &pay, "400.00", "USD"),
        );
        assert!(matches!(
            consumed(&backend, &m).await,
            Applied::Applied { .. }
        ));
    }
    let o = stored_order(&backend, &id).await;
    let p = o.payment(&pay).unwrap_or_else(|| panic!("payment"));
    assert_eq!(p.status, PaymentStatus::Succeeded);
    assert_eq!(
        p.flag.as_ref().map(|f| f.reason),
        Some(FlagReason::ContradictsFinalStatus)
    );
    assert_eq!(o.status(), OrderStatus::AwaitingShipment);
    assert_eq!(count_events(&backend, &id, "PaymentFailed").await, 0);

    // Another amount, then another currency.
    for (amount, currency, reason) in [
        ("399.99", "USD", FlagReason::AmountMismatch),
        ("400.00", "EUR", FlagReason::CurrencyMismatch),
    ] {
        let (_, id, pay) = order_paying_by_card(&backend).await;
        let m = provider_message(
            Provider::Card,
            &unique("msg_"),
            payment_body("payment.succeeded", &id, &pay, amount, currency),
        );
        assert_eq!(
            consumed(&backend, &m).await,
            Applied::Applied { events: 1 },
            "only the flag"
        );
        let o = stored_order(&backend, &id).await;
        let p = o.payment(&pay).unwrap_or_else(|| panic!("payment"));
        assert_ne!(p.status, PaymentStatus::Succeeded);
        assert_eq!(p.flag.as_ref().map(|f| f.reason), Some(reason));
        assert_eq!(o.status(), OrderStatus::InitialPaymentProcessing);
        assert_eq!(count_events(&backend, &id, "PaymentFlagged").await, 1);
        assert_eq!(count_events(&backend, &id, "PaymentSucceeded").await, 0);
    }

    // Signed by the e-Checking provider for a card payment.
    let (_, id, pay) = order_paying_by_card(&backend).await;
    let m = provider_message(
        Provider::Echeck,
        &unique("msg_"),
        payment_body("payment.succeeded", &id, &pay, "400.00", "USD"),
    );
    assert_eq!(consumed(&backend, &m).await, Applied::Applied { events: 1 });
    let o = stored_order(&backend, &id).await;
    let p = o.payment(&pay).unwrap_or_else(|| panic!("payment"));
    assert_ne!(p.status, PaymentStatus::Succeeded);
    assert_eq!(
        p.flag.as_ref().map(|f| f.reason),
        Some(FlagReason::WrongProvider)
    );
    assert_eq!(o.status(), OrderStatus::InitialPaymentProcessing);
    assert!(
        backend
            .seen(Provider::Echeck, &m.webhook_id, t0())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    );
}

/// An arbiter refunds a flagged payment; its (first) refund part.
async fn arbiter_refunds<B: Backend>(backend: &B, id: &OrderId, pay: &PaymentId) -> RefundPart {
    let arbiter = Caller::new(user(&unique("a-")), [Role::Arbiter]);
    let mut o = stored_order(backend, id).await;
    let before = o.revision();
    let events = o
        .resolve_payment(&arbiter, pay, FlagResolution::Refund, t0())
        .unwrap_or_else(|e| panic!("resolve: {e}"));
    commit_ok(backend, &o, Some(before), &events, t0()).await;
    o.refunds()
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("a refund part"))
}

/// `refund.succeeded` settles the refund part it names.
pub async fn consumer_settles_a_refund_part<B: Backend>(backend: B) {
    let (_, id, pay) = order_paying_by_card(&backend).await;
    // A mismatched confirmation is flagged; the arbiter refunds it.
    let m = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &id, &pay, "399.99", "USD"),
    );
    consumed(&backend, &m).await;
    let part = arbiter_refunds(&backend, &id, &pay).await;
    assert_eq!(part.status, RefundStatus::Requested);

    let refund = provider_message(
        Provider::Card,
        &unique("msg_"),
        serde_json::json!({
            "type": "refund.succeeded",
            "data": {
                "refund_id": part.id.as_str(),
                "order_id": id.as_str(),
                "amount": part.amount.to_string(),
            }
        }),
    );
    assert!(matches!(
        consumed(&backend, &refund).await,
        Applied::Applied { .. }
    ));
    assert_eq!(consumed(&backend, &refund).await, Applied::Duplicate);
    let o = stored_order(&backend, &id).await;
    let settled = o
        .refunds()
        .iter()
        .find(|r| r.id == part.id)
        .unwrap_or_else(|| panic!("part"));
    assert_eq!(settled.status, RefundStatus::Succeeded);
    assert_eq!(
        o.payment(&pay).map(|p| (p.status, p.refunded)),
        Some((PaymentStatus::Refunded, part.amount))
    );
    assert_eq!(count_events(&backend, &id, "RefundSucceeded").await, 1);
}

/// A Pay Later payment through the provider's webhooks: the agreement,
/// a confirmation with another amount (flagged), the arbiter's refund, a
/// failed refund part (flagged and requested again), then its success —
/// which returns the money to the loan and frees the credit.
pub async fn consumer_returns_a_pay_later_refund_to_the_loan<B: Backend>(backend: B) {
    let usd = |n: u64| Usd::dollars(n).unwrap_or_else(|e| panic!("{e}"));
    let p = Parties::fresh();
    backend
        .set_limit(&p.supplier.id, usd(100_000), None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let app = ApplicationId::parse(unique("app_")).unwrap_or_else(|e| panic!("{e}"));
    let mut line = CreditLine::apply(p.buyer.id.clone(), app, t0());
    backend
        .apply_for_credit(&line)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    line.approve(usd(5_000), t0())
        .unwrap_or_else(|e| panic!("{e}"));
    backend
        .decide_credit(&line, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let order = create(&backend, &p, t0()).await;
    let id = order.id().clone();
    confirm_with_retry(&backend, &p, &id, t0()).await;
    let mut o = stored_order(&backend, &id).await;
    let before = o.revision();
    let pay = PaymentId::parse(unique("pay_")).unwrap_or_else(|e| panic!("{e}"));
    let events = o
        .initiate_payment(
            &p.buyer,
            PaymentRequest {
                id: pay.clone(),
                stage: Stage::Initial,
                method: PaymentMethod::PayLater { term_months: 3 },
            },
            PaymentContext {
                credit_line: Some(&line),
                receiving_account: None,
            },
            t0(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    commit_ok(&backend, &o, Some(before), &events, t0()).await;
    let reserved = |backend: &B| {
        let buyer = p.buyer.id.clone();
        let backend = backend.clone();
        async move {
            backend
                .get_credit(&buyer)
                .await
                .unwrap_or_else(|e| panic!("{e:?}"))
                .unwrap_or_else(|| panic!("line"))
                .reserved()
        }
    };
    assert_eq!(reserved(&backend).await, usd(400));

    let send =
        |body: serde_json::Value| provider_message(Provider::Paylater, &unique("msg_"), body);
    let agreed = serde_json::json!({"type": "loan.agreement_completed",
        "data": {"payment_id": pay.as_str(), "order_id": id.as_str()}});
    assert!(matches!(
        consumed(&backend, &send(agreed)).await,
        Applied::Applied { .. }
    ));
    let short = payment_body("payment.succeeded", &id, &pay, "300.00", "USD");
    consumed(&backend, &send(short)).await;
    let flagged = stored_order(&backend, &id).await;
    assert!(flagged.payment(&pay).is_some_and(|p| p.flag.is_some()));

    let part = arbiter_refunds(&backend, &id, &pay).await;
    assert_eq!(part.provider, Provider::Paylater);
    let refund = |kind: &str| {
        send(serde_json::json!({"type": kind, "data": {
            "refund_id": part.id.as_str(), "order_id": id.as_str(),
            "amount": part.amount.to_string()}}))
    };
    // The loan provider fails the refund: requested again (a new attempt;
    // only after the last automatic attempt is it flagged).
    consumed(&backend, &refund("refund.failed")).await;
    let o = stored_order(&backend, &id).await;
    let failed = o.refunds().iter().find(|r| r.id == part.id).cloned();
    assert_eq!(
        failed.map(|r| (r.status, r.flagged, r.attempts)),
        Some((RefundStatus::Requested, false, 2))
    );
    assert_eq!(count_events(&backend, &id, "RefundRequested").await, 2);
    assert_eq!(reserved(&backend).await, usd(400), "not yet returned");
    // It succeeds: the money goes back to the loan, the credit is free.
    consumed(&backend, &refund("refund.succeeded")).await;
    let o = stored_order(&backend, &id).await;
    assert_eq!(
        o.payment(&pay).map(|p| (p.status, p.refunded)),
        Some((PaymentStatus::Refunded, part.amount))
    );
    assert_eq!(reserved(&backend).await, Usd::ZERO);
    assert_eq!(count_events(&backend, &id, "CreditReleased").await, 1);
}

/// The lender's webhook approves a pending credit line, once; no other
/// provider can.
pub async fn consumer_approves_a_credit_line<B: Backend>(backend: B) {
    let p = Parties::fresh();
    let app = ApplicationId::parse(unique("app_")).unwrap_or_else(|e| panic!("{e}"));
    let line = CreditLine::apply(p.buyer.id.clone(), app.clone(), t0());
    backend
        .apply_for_credit(&line)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let body = serde_json::json!({
        "type": "credit_line.approved",
        "data": {
            "buyer_id": p.buyer.id.as_str(),
            "application_id": app.as_str(),
            "limit": "5000.00",
        }
    });
    // Only the lender decides: the same body signed by the card provider
    // is refused and changes nothing.
    let forged = provider_message(Provider::Card, &unique("msg_"), body.clone());
    assert!(matches!(
        consumer::consume(&backend, &forged, t0()).await,
        Err(consumer::ConsumeError::WrongProvider { .. })
    ));
    let still = backend
        .get_credit(&p.buyer.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("line"));
    assert_eq!(still.status(), CreditLineStatus::Pending);
    let m = provider_message(Provider::Paylater, &unique("msg_"), body.clone());
    assert_eq!(consumed(&backend, &m).await, Applied::Applied { events: 0 });
    assert_eq!(consumed(&backend, &m).await, Applied::Duplicate);
    let again = provider_message(Provider::Paylater, &unique("msg_"), body);
    assert_eq!(consumed(&backend, &again).await, Applied::NoChange);
    let stored = backend
        .get_credit(&p.buyer.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("line"));
    assert_eq!(stored.status(), CreditLineStatus::Approved);
    assert_eq!(
        stored.limit(),
        Usd::dollars(5000).unwrap_or_else(|e| panic!("{e}"))
    );
    assert_eq!(
        stored.available(),
        Usd::dollars(5000).unwrap_or_else(|e| panic!("{e}"))
    );
}

/// 20 deliveries of one event at once: exactly one applies it.
pub async fn consumer_applies_concurrent_deliveries_once<B: Backend>(backend: B) {
    let (_, id, pay) = order_paying_by_card(&backend).await;
    let m = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &id, &pay, "400.00", "USD"),
    );
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let backend = backend.clone();
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            consumer::consume(&backend, &m, t0()).await
        }));
    }
    let mut applied = 0;
    for t in tasks {
        match t.await.unwrap_or_else(|e| panic!("task: {e}")) {
            Ok(Applied::Applied { .. }) => applied += 1,
            Ok(Applied::Duplicate) => {}
            other => panic!("a concurrent delivery: {other:?}"),
        }
    }
    assert_eq!(applied, 1, "exactly one delivery applies the event");
    let o = stored_order(&backend, &id).await;
    assert_eq!(
        o.payment(&pay).map(|p| p.status),
        Some(PaymentStatus::Succeeded)
    );
    assert_eq!(o.status(), OrderStatus::AwaitingShipment);
    assert_eq!(count_events(&backend, &id, "PaymentSucceeded").await, 1);
}

/// A malformed body, an unknown order or payment: permanent, not retried.
pub async fn consumer_refuses_malformed_and_unknown_events<B: Backend>(backend: B) {
    let (_, id, pay) = order_paying_by_card(&backend).await;
    for body in [
        "not json".to_owned(),
        serde_json::json!({"type": "payment.exploded", "data": {}}).to_string(),
        serde_json::json!({"type": "payment.succeeded", "data": {"payment_id": pay.as_str()}})
            .to_string(),
    ] {
        let m = ProviderMessage {
            provider: Provider::Card,
            webhook_id: unique("msg_"),
            received_at: t0(),
            body,
        };
        match consumer::consume(&backend, &m, t0()).await {
            Err(e @ ConsumeError::Malformed(_)) => {
                assert!(!e.is_retryable());
                assert!(!e.report_as_failure());
            }
            other => panic!("{}: {other:?}", m.body),
        }
    }
    let unknown_order = OrderId::parse(unique("ord_")).unwrap_or_else(|e| panic!("{e}"));
    let m = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &unknown_order, &pay, "400.00", "USD"),
    );
    let r = consumer::consume(&backend, &m, t0()).await;
    assert!(matches!(r, Err(ConsumeError::UnknownOrder)), "{r:?}");
    let unknown_pay = PaymentId::parse(unique("pay_")).unwrap_or_else(|e| panic!("{e}"));
    let m = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &id, &unknown_pay, "400.00", "USD"),
    );
    let r = consumer::consume(&backend, &m, t0()).await;
    assert!(matches!(r, Err(ConsumeError::UnknownPayment)), "{r:?}");
    assert!(r.err().is_some_and(|e| !e.is_retryable()));
    let o = stored_order(&backend, &id).await;
    assert_eq!(
        o.payment(&pay)
            .map(|p| p.status != PaymentStatus::Succeeded),
        Some(true)
    );
}

/// Every page of `kind`'s flags at `now`, `limit` at a time, checking each
/// cursor on the way: oldest first, nothing twice.
async fn all_flags<B: Backend>(
    backend: &B,
    kind: Option<AttentionKind>,
    limit: u32,
    now: Timestamp,
) -> Vec<FlagEntry> {
    let mut out: Vec<FlagEntry> = Vec::new();
    let mut page = PageRequest::first(limit);
    for _ in 0..10_000 {
        let got = backend
            .flags(kind, &page, now)
            .await
            .unwrap_or_else(|e| panic!("flags: {e:?}"));
        assert!(got.items.len() <= limit as usize);
        out.extend(got.items);
        match got.next_cursor {
            Some(c) => {
                page = PageRequest::new(Some(limit), Some(c)).unwrap_or_else(|e| panic!("{e}"))
            }
            None => break,
        }
    }
    let keys: Vec<String> = out.iter().map(FlagEntry::index_sort_key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "oldest first, each flag once");
    out
}

/// The flags index follows the orders' flags: a mismatched confirmation
/// opens a flagged payment, the arbiter's resolution closes it, a refund
/// part that failed every attempt opens a failed refund; a refused provider
/// event is kept once (and listed only while kept); each kind lists alone,
/// all kinds page together oldest first, and a cursor of one listing is
/// refused by another.
pub async fn open_flags_are_listed_from_their_index_and_close_with_the_order<B: Backend>(
    backend: B,
) {
    let (_, id, pay) = order_paying_by_card(&backend).await;
    let mismatch = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &id, &pay, "399.99", "USD"),
    );
    consumed(&backend, &mismatch).await;
    let ours = |flags: &[FlagEntry], kind: AttentionKind| -> Vec<FlagEntry> {
        flags
            .iter()
            .filter(|f| f.kind == kind && f.order_id.as_ref() == Some(&id))
            .cloned()
            .collect()
    };
    let flagged = all_flags(&backend, Some(AttentionKind::FlaggedPayment), 3, t0()).await;
    let mine = ours(&flagged, AttentionKind::FlaggedPayment);
    assert_eq!(mine.len(), 1, "{flagged:?}");
    assert_eq!(mine[0].payment_id.as_deref(), Some(pay.as_str()));
    assert_eq!(mine[0].reason, "amount_mismatch");
    assert_eq!(
        mine[0].amount,
        Some(Usd::dollars(400).unwrap_or_else(|e| panic!("{e}")))
    );
    assert_eq!(mine[0].at, t0());

    // The arbiter refunds it: the payment's flag closes.
    let part = arbiter_refunds(&backend, &id, &pay).await;
    let flagged = all_flags(&backend, Some(AttentionKind::FlaggedPayment), 50, t0()).await;
    assert!(
        ours(&flagged, AttentionKind::FlaggedPayment).is_empty(),
        "{flagged:?}"
    );

    // Every attempt of the refund part fails: it waits for an operator.
    for _ in 0..domain::refund::MAX_REFUND_ATTEMPTS {
        let failed = provider_message(
            Provider::Card,
            &unique("msg_"),
            serde_json::json!({
                "type": "refund.failed",
                "data": {"refund_id": part.id.as_str(), "order_id": id.as_str(),
                         "amount": part.amount.to_string()}
            }),
        );
        consumed(&backend, &failed).await;
    }
    let refunds = all_flags(&backend, Some(AttentionKind::FailedRefund), 50, t0()).await;
    let mine = ours(&refunds, AttentionKind::FailedRefund);
    assert_eq!(mine.len(), 1, "{refunds:?}");
    assert_eq!(mine[0].refund_id.as_deref(), Some(part.id.as_str()));
    assert_eq!(mine[0].reason, "refund_failed");

    // A refused event, delivered twice, is kept once.
    let webhook_id = unique("msg_");
    let refused = RefusedEvent {
        provider: Provider::Card,
        webhook_id: webhook_id.clone(),
        event_type: Some("payment.succeeded".into()),
        reason: "unknown_payment",
        detail: "the event names a payment that is not part of its order".into(),
        order_id: Some(id.clone()),
        body: "{\"type\":\"payment.succeeded\"}".into(),
        at: t0() + TimeDelta::seconds(1),
    };
    for _ in 0..2 {
        backend
            .record_refused(&refused)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    }
    let kept: Vec<FlagEntry> = all_flags(&backend, Some(AttentionKind::RefusedEvent), 50, t0())
        .await
        .into_iter()
        .filter(|f| f.webhook_id.as_deref() == Some(webhook_id.as_str()))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].provider, Some(Provider::Card));
    assert_eq!(kept[0].reason, "unknown_payment");
    assert_eq!(kept[0].body.as_deref(), Some(refused.body.as_str()));
    assert_eq!(kept[0].order_id.as_ref(), Some(&id));

    // Every kind together, two at a time: ours are there, once each.
    let all = all_flags(&backend, None, 2, t0()).await;
    assert_eq!(ours(&all, AttentionKind::FailedRefund).len(), 1);
    assert!(ours(&all, AttentionKind::FlaggedPayment).is_empty());
    assert_eq!(
        all.iter()
            .filter(|f| f.webhook_id.as_deref() == Some(webhook_id.as_str()))
            .count(),
        1
    );

    // Past its retention a refused event is no longer listed.
    let later = t0() + app::flags::REFUSED_RETENTION + TimeDelta::seconds(2);
    let kept = all_flags(&backend, Some(AttentionKind::RefusedEvent), 50, later).await;
    assert!(
        !kept
            .iter()
            .any(|f| f.webhook_id.as_deref() == Some(webhook_id.as_str())),
        "{kept:?}"
    );

    // A cursor belongs to its listing.
    let first = backend
        .flags(None, &PageRequest::first(1), t0())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let cursor = first
        .next_cursor
        .unwrap_or_else(|| panic!("more than one flag"));
    let other = PageRequest::new(Some(1), Some(cursor)).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        backend
            .flags(Some(AttentionKind::FailedRefund), &other, t0())
            .await,
        Err(StoreError::InvalidCursor)
    ));
}

/// The order's `detail_type` events, oldest first.
async fn events_of<B: Backend>(backend: &B, id: &OrderId, detail_type: &str) -> Vec<DomainEvent> {
    backend
        .history(id, &PageRequest::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items
        .into_iter()
        .filter(|e| e.body.detail_type() == detail_type)
        .collect()
}

/// The provider-action step: a requested payment reaches the provider
/// once however often the event is delivered (and after the provider
/// failed transiently, with the same idempotency key), and its answer is
/// recorded with the buyer's next step; a refusal fails and flags the
/// payment, which returns the order to waiting for it; a requested refund
/// part is taken, and a refused one is flagged for an operator.
pub async fn provider_actions_reach_the_provider_once_and_record_the_answer<B: Backend>(
    backend: B,
) {
    use crate::providers::ScriptedProviders;
    use app::provider_actions::{ActError, Acted, act};
    use app::provider_requests::ProviderError;

    // Accepted, after a throttled first try; then redelivered twice.
    let providers = ScriptedProviders::new();
    providers.then_fail(ProviderError::Transient("429 slow down".into()));
    let (_, id, pay) = order_paying_by_card(&backend).await;
    let requested = events_of(&backend, &id, "PaymentRequested").await;
    let event = requested
        .first()
        .unwrap_or_else(|| panic!("PaymentRequested"));
    match act(&backend, &providers, event, t0()).await {
        Err(e @ ActError::Provider(_)) => assert!(e.redeliver()),
        other => panic!("a transient failure is redelivered: {other:?}"),
    }
    let first = act(&backend, &providers, event, t0()).await;
    assert!(matches!(first, Ok(Acted::Requested { .. })), "{first:?}");
    for _ in 0..2 {
        let again = act(&backend, &providers, event, t0()).await;
        assert_eq!(again.ok(), Some(Acted::AlreadyDone));
    }
    let calls = providers.calls();
    assert_eq!(
        calls.len(),
        2,
        "the retry, then nothing for the redeliveries"
    );
    assert!(calls.iter().all(|c| c.idempotency_key() == pay.as_str()));
    assert_eq!(providers.accepted(), 1);
    let o = stored_order(&backend, &id).await;
    let p = o.payment(&pay).unwrap_or_else(|| panic!("payment"));
    assert_eq!(
        p.provider_reference.as_deref(),
        Some(format!("ref_{pay}").as_str())
    );
    assert!(matches!(
        p.next_action,
        Some(domain::payment::NextAction::Checkout { .. })
    ));
    assert_eq!(
        count_events(&backend, &id, "PaymentRequestAccepted").await,
        1
    );

    // Refused (402): the payment fails and is flagged; the order waits for
    // another payment.
    let refusing = ScriptedProviders::new();
    refusing.then_fail(ProviderError::Refused {
        status: 402,
        message: "card declined by issuer policy".into(),
    });
    let (_, id, pay) = order_paying_by_card(&backend).await;
    let event = events_of(&backend, &id, "PaymentRequested").await.remove(0);
    assert_eq!(
        act(&backend, &refusing, &event, t0()).await.ok(),
        Some(Acted::Refused { status: 402 })
    );
    assert_eq!(
        act(&backend, &refusing, &event, t0()).await.ok(),
        Some(Acted::AlreadyDone)
    );
    let o = stored_order(&backend, &id).await;
    let p = o.payment(&pay).unwrap_or_else(|| panic!("payment"));
    assert_eq!(p.status, PaymentStatus::Failed);
    assert_eq!(
        p.flag.as_ref().map(|f| f.reason),
        Some(FlagReason::ProviderRefused)
    );
    assert_eq!(o.status(), OrderStatus::AwaitingInitialPayment);
    let flagged = all_flags(&backend, Some(AttentionKind::FlaggedPayment), 100, t0()).await;
    assert!(
        flagged.iter().any(
            |f| f.payment_id.as_deref() == Some(pay.as_str()) && f.reason == "provider_refused"
        ),
        "{flagged:?}"
    );

    // A refund part: taken once; a refused attempt is flagged.
    let (_, id, pay) = order_paying_by_card(&backend).await;
    let mismatch = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &id, &pay, "399.99", "USD"),
    );
    consumed(&backend, &mismatch).await;
    let part = arbiter_refunds(&backend, &id, &pay).await;
    let refund_event = events_of(&backend, &id, "RefundRequested").await.remove(0);
    let refunds = ScriptedProviders::new();
    assert!(matches!(
        act(&backend, &refunds, &refund_event, t0()).await,
        Ok(Acted::Requested { .. })
    ));
    assert_eq!(
        act(&backend, &refunds, &refund_event, t0()).await.ok(),
        Some(Acted::AlreadyDone)
    );
    assert_eq!(refunds.calls().len(), 1);
    assert_eq!(
        refunds.calls()[0].idempotency_key(),
        format!("{}:1", part.id)
    );
    let o = stored_order(&backend, &id).await;
    let taken = o
        .refunds()
        .iter()
        .find(|r| r.id == part.id)
        .unwrap_or_else(|| panic!("part"));
    assert!(taken.provider_reference.is_some());

    let (_, id, pay) = order_paying_by_card(&backend).await;
    let mismatch = provider_message(
        Provider::Card,
        &unique("msg_"),
        payment_body("payment.succeeded", &id, &pay, "399.99", "USD"),
    );
    consumed(&backend, &mismatch).await;
    let part = arbiter_refunds(&backend, &id, &pay).await;
    let refund_event = events_of(&backend, &id, "RefundRequested").await.remove(0);
    let refusing = ScriptedProviders::new();
    refusing.then_fail(ProviderError::Refused {
        status: 422,
        message: "refund exceeds the charge".into(),
    });
    assert_eq!(
        act(&backend, &refusing, &refund_event, t0()).await.ok(),
        Some(Acted::Refused { status: 422 })
    );
    let failed = all_flags(&backend, Some(AttentionKind::FailedRefund), 100, t0()).await;
    assert!(
        failed
            .iter()
            .any(|f| f.refund_id.as_deref() == Some(part.id.as_str())
                && f.reason == "provider_refused"),
        "{failed:?}"
    );

    // Events that ask nothing of a provider are left alone.
    let created = events_of(&backend, &id, "OrderCreated").await.remove(0);
    assert_eq!(
        act(&backend, &refusing, &created, t0()).await.ok(),
        Some(Acted::NotARequest)
    );
}

/// Expands to one `#[tokio::test]` per contract case for a backend.
#[macro_export]
macro_rules! contract_suite {
    ($make:expr) => {
        $crate::contract_suite!(@cases $make;
            concurrent_saves_conflict_on_version,
            concurrent_confirmations_never_over_reserve,
            idempotency_records_progress_complete_mismatch_and_expire,
            idempotency_record_rides_with_the_order_commit,
            a_released_lease_lets_the_retry_run_and_nothing_else_is_released,
            concurrent_consumers_apply_a_provider_event_once,
            listings_paginate_newest_first_and_cursors_stay_in_their_listing,
            history_pages_oldest_first_and_cursors_are_checked,
            supplier_feedback_is_counted_over_all_and_listed_newest_first,
            idempotency_records_keep_the_response_headers,
            due_index_returns_exactly_the_due_orders,
            history_outbox_and_limit_effects_follow_the_commits,
            credit_lines_reserve_with_payments_and_decide_once,
            a_lowered_limit_blocks_new_reservations,
            consumer_applies_a_duplicated_delivery_once,
            consumer_never_moves_a_payment_backwards,
            consumer_flags_contradictions_mismatches_and_wrong_providers,
            consumer_settles_a_refund_part,
            consumer_returns_a_pay_later_refund_to_the_loan,
            consumer_approves_a_credit_line,
            consumer_applies_concurrent_deliveries_once,
            consumer_refuses_malformed_and_unknown_events,
            open_flags_are_listed_from_their_index_and_close_with_the_order,
            provider_actions_reach_the_provider_once_and_record_the_answer,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let backend = $make.await;
                $crate::store_contract::$case(backend).await;
            }
        )*
    };
}
