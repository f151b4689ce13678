//! The EventBridge bus against a moto server: events published through
//! [`EventBridgeBus`] reach a rule's SQS target on that bus with the
//! right source, detail-type, time and a detail that reads back as the
//! same domain event.

#![cfg(all(feature = "eventbridge", feature = "sqs"))]

use std::time::Duration;

use app::error::MessagingError;
use app::ports::EventBus;
use aws_adapters::eventbridge::{EventBridgeBus, SOURCE};
use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{SecondsFormat, TimeDelta};
use domain::Order;
use domain::actor::{Actor, Party, Provider};
use domain::event::{CancelReason, DomainEvent, EventBody};
use domain::ids::{OrderId, PaymentId};
use domain::order::{Counterparty, NewOrder};
use domain::status::OrderStatus;
use serde_json::Value;
use test_kit::moto::{MotoServer, sdk_config};
use test_kit::store_contract::{Parties, t0, terms, unique};

struct Clients {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
}

async fn clients() -> Clients {
    let config = sdk_config(&MotoServer::shared().endpoint).await;
    Clients {
        events: aws_sdk_eventbridge::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
    }
}

/// A fresh bus with one rule (`pattern`) targeting a fresh queue: the bus
/// name and the queue URL.
async fn bus_with_queue_target(c: &Clients, pattern: &str) -> (String, String) {
    let queue_url = c
        .sqs
        .create_queue()
        .queue_name(unique("ta-events-"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = c
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::QueueArn)
        .unwrap();

    let bus = unique("ta-bus-");
    c.events.create_event_bus().name(&bus).send().await.unwrap();
    let rule = unique("ta-rule-");
    c.events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(pattern)
        .state(RuleState::Enabled)
        .send()
        .await
        .unwrap();
    let put = c
        .events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count, 0);
    (bus, queue_url)
}

/// Every message on the queue (the queue is fresh, so what is there is ours).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str, expect: usize) -> Vec<Value> {
    let mut got = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(if got.len() >= expect { 0 } else { 1 })
            .send()
            .await
            .unwrap();
        let batch = out.messages.unwrap_or_default();
        if batch.is_empty() && got.len() >= expect {
            break;
        }
        for m in batch {
            got.push(serde_json::from_str::<Value>(m.body.as_deref().unwrap()).unwrap());
        }
    }
    got
}

/// Twelve events of several kinds: those of creating four orders through
/// the domain, and more built directly.
fn twelve_events() -> Vec<DomainEvent> {
    let mut events = Vec::new();
    let mut orders = Vec::new();
    for i in 0..4 {
        let parties = Parties::fresh();
        let (order, created) = Order::create(
            &parties.buyer,
            NewOrder {
                id: OrderId::parse(unique("ord_")).unwrap(),
                counterparty: Counterparty::Supplier(parties.supplier.id.clone()),
                terms: terms(),
                clocks: domain::clocks::Clocks::default(),
            },
            t0() + TimeDelta::seconds(i),
        )
        .unwrap();
        events.extend(created);
        orders.push(order);
    }
    let mut n = 0;
    while events.len() < 12 {
        let order = &orders[n % orders.len()];
        let at = t0() + TimeDelta::minutes(10) + TimeDelta::milliseconds(1_337 * (n as i64 + 1));
        let payment_id = PaymentId::parse(format!("pay_{}", order.id().as_str())).unwrap();
        let (actor, status, body) = match n % 5 {
            0 => (
                Actor::Supplier(order.supplier_id().clone()),
                OrderStatus::AwaitingInitialPayment,
                EventBody::OrderConfirmed {
                    by: Party::Supplier,
                },
            ),
            1 => (
                Actor::Provider(Provider::Card),
                OrderStatus::InitialPaymentProcessing,
                EventBody::PaymentProcessing { payment_id },
            ),
            2 => (
                Actor::Buyer(order.buyer_id().clone()),
                OrderStatus::Cancelled,
                EventBody::OrderCancelled {
                    reason: CancelReason::ByParty,
                },
            ),
            3 => (
                Actor::Scheduler,
                OrderStatus::AwaitingReceiptConfirmation,
                EventBody::DeliveryRecorded { delivered_at: at },
            ),
            _ => (
                Actor::Buyer(order.buyer_id().clone()),
                OrderStatus::Completed,
                EventBody::ReceiptConfirmed,
            ),
        };
        events.push(DomainEvent {
            correlation_id: None,
            order_id: order.id().clone(),
            at,
            actor,
            status,
            body,
        });
        n += 1;
    }
    events.truncate(12);
    events
}

fn canonical(e: &DomainEvent) -> String {
    serde_json::to_string(e).unwrap()
}

#[tokio::test]
async fn twelve_events_in_two_put_events_chunks_reach_the_rule_target_intact() {
    let c = clients().await;
    let (bus, queue) = bus_with_queue_target(&c, &format!(r#"{{"source": ["{SOURCE}"]}}"#)).await;
    let events = twelve_events();
    assert_eq!(events.len(), 12);
    assert!(
        events
            .iter()
            .map(|e| e.body.detail_type())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 3,
        "several detail-types"
    );

    EventBridgeBus::new(c.events.clone(), bus.clone())
        .with_retry_base_delay(Duration::from_millis(1))
        .publish(&events)
        .await
        .unwrap();

    let delivered = drain(&c.sqs, &queue, 12).await;
    assert_eq!(
        delivered.len(),
        12,
        "every event exactly once: {delivered:#?}"
    );
    let mut got = Vec::new();
    for envelope in &delivered {
        assert_eq!(envelope["source"], SOURCE);
        assert_eq!(envelope["resources"], Value::Array(Vec::new()));
        let detail: DomainEvent = serde_json::from_value(envelope["detail"].clone()).unwrap();
        assert_eq!(envelope["detail-type"], detail.body.detail_type());
        // EventBridge carries the time to the second.
        assert_eq!(
            envelope["time"],
            (detail.at - TimeDelta::nanoseconds(i64::from(detail.at.timestamp_subsec_nanos())))
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        got.push(canonical(&detail));
    }
    let mut want: Vec<String> = events.iter().map(canonical).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_rule_on_detail_type_receives_only_those_events() {
    let c = clients().await;
    let (bus, queue) = bus_with_queue_target(
        &c,
        &format!(r#"{{"source": ["{SOURCE}"], "detail-type": ["OrderCreated"]}}"#),
    )
    .await;
    let events = twelve_events();
    let created: Vec<String> = events
        .iter()
        .filter(|e| e.body.detail_type() == "OrderCreated")
        .map(canonical)
        .collect();
    assert!(!created.is_empty() && created.len() < events.len());

    EventBridgeBus::new(c.events.clone(), bus)
        .publish(&events)
        .await
        .unwrap();

    let delivered = drain(&c.sqs, &queue, created.len()).await;
    let mut got: Vec<String> = delivered
        .iter()
        .map(|v| {
            assert_eq!(v["detail-type"], "OrderCreated");
            canonical(&serde_json::from_value(v["detail"].clone()).unwrap())
        })
        .collect();
    let mut want = created;
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn publishing_nothing_succeeds_without_a_bus() {
    let c = clients().await;
    EventBridgeBus::new(c.events, unique("no-such-bus-"))
        .publish(&[])
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_after_the_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = aws_sdk_eventbridge::config::Builder::from(
        &sdk_config(&format!("http://127.0.0.1:{port}")).await,
    )
    .retry_config(RetryConfig::disabled())
    .build();
    let events = twelve_events();
    let err = EventBridgeBus::new(aws_sdk_eventbridge::Client::from_conf(config), "bus")
        .with_retry_base_delay(Duration::from_millis(1))
        .publish(&events)
        .await
        .unwrap_err();
    assert!(matches!(err, MessagingError::Unavailable(_)), "{err:?}");
}
