//! The DynamoDB call budget per request, through the real handlers on the
//! DynamoDB adapter (moto), counting every call, idempotency included: a
//! state transition is one read and one write; reading an order is one call.

use app::clock::FixedClock;
use app::ports::SupplierLimits;
use aws_adapters::dynamodb::DynamoStore;
use chrono::{TimeZone, Utc};
use domain::Usd;
use domain::ids::UserId;
use http_api::Api;
use http_api::request::{ApiRequest, Claims};
use serde_json::{Value, json};
use test_kit::counting::CallCounter;

async fn api() -> (Api<DynamoStore, FixedClock>, CallCounter) {
    let (store, counter) = test_kit::moto::counted_dynamo_store("trade-assurance-budget").await;
    let now = Utc
        .with_ymd_and_hms(2027, 1, 4, 9, 0, 0)
        .single()
        .expect("time");
    let api = Api {
        backend: store,
        clock: FixedClock::at(now),
        ids: app::ids::Ids::os(),
        clocks: domain::clocks::Clocks::default(),
    };
    (api, counter)
}

fn req(
    method: &str,
    path: &str,
    sub: &str,
    group: &str,
    body: Value,
    key: Option<&str>,
) -> ApiRequest {
    ApiRequest {
        method: method.into(),
        path: path.into(),
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
        headers: key
            .map(|k| vec![("idempotency-key".to_owned(), k.to_owned())])
            .unwrap_or_default(),
        claims: Claims {
            sub: Some(sub.into()),
            groups: Some(format!("[{group}]")),
        },
        ..ApiRequest::default()
    }
}

#[tokio::test]
async fn create_confirm_and_read_stay_within_the_call_budget() {
    let (api, counter) = api().await;
    let buyer = test_kit::store_contract::unique("b-");
    let supplier = test_kit::store_contract::unique("s-");
    api.backend
        .set_limit(
            &UserId::parse(supplier.clone()).expect("id"),
            Usd::dollars(10_000).expect("usd"),
            None,
        )
        .await
        .expect("limit");
    let body = json!({"supplier_id": supplier,
        "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
        "currency": "USD", "initial_payment": "1500.00", "ship_by": "2027-01-31",
        "quality_terms": "IP65", "destination_country": "US", "coverage": "pre_shipment"});

    counter.reset();
    let created = api
        .handle(
            None,
            &req(
                "POST",
                "/v1/orders",
                &buyer,
                "buyer",
                body,
                Some("create-1"),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        counter.calls(),
        ["TransactWriteItems", "TransactWriteItems"],
        "lease, then order + record"
    );
    let id = serde_json::from_str::<Value>(&created.body).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    counter.reset();
    let confirm = req(
        "POST",
        &format!("/v1/orders/{id}/confirm"),
        &supplier,
        "supplier",
        json!({"version": 1}),
        Some("confirm-1"),
    );
    let r = api.handle(None, &confirm).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        counter.calls(),
        ["TransactGetItems", "TransactWriteItems"],
        "one read, one write"
    );

    counter.reset();
    let again = api.handle(None, &confirm).await;
    assert_eq!((again.status, again.body), (r.status, r.body));
    assert_eq!(counter.calls(), ["TransactGetItems"], "a replay only reads");

    counter.reset();
    let got = api
        .handle(
            None,
            &req(
                "GET",
                &format!("/v1/orders/{id}"),
                &buyer,
                "buyer",
                Value::Null,
                None,
            ),
        )
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(counter.calls(), ["GetItem"]);
}
