//! The DynamoDB call budget, counted by an SDK interceptor: one call to read
//! an order (with its idempotency record and a supplier limit when asked),
//! one call to write a state transition with everything it carries.

use app::contract::{Parties, create, t0};
use app::idempotency::{IdemKey, IdemRecord, PayloadHash, StoredResponse};
use app::ports::{Commit, LoadRequest, OrderStore, SupplierLimits};
use aws_adapters::counting::CallCounter;
use aws_adapters::dynamodb::DynamoStore;
use domain::Usd;

async fn counted() -> (DynamoStore, CallCounter) {
    aws_adapters::test_support::counted_dynamo_store("trade-assurance-calls").await
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
        },
        t0(),
    );
    let (result, write) = counter
        .during(store.commit(Commit {
            order: &order,
            expected_version: Some(1),
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
    use app::contract::{order_paying_by_card, payment_body, provider_message, unique};
    use domain::actor::Provider;
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
