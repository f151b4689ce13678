//! The SQS payment queue against a moto server: what the webhook function
//! sends (`aws_adapters::sqs::SqsQueue`) is what the consumer parses
//! (`entry_points::payment_queue`) from the batch Lambda builds (as the
//! local stack's poller builds it), and the consumer's partial-batch answer
//! names exactly the records it could not read.

#![cfg(feature = "aws")]

use std::collections::{BTreeSet, HashMap};

use app::error::MessagingError;
use app::ports::{ATTR_PROVIDER, ATTR_WEBHOOK_ID, PaymentQueue, ProviderMessage};
use aws_adapters::sqs::SqsQueue;
use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::types::{Message, QueueAttributeName};
use domain::actor::Provider;
use entry_points::payment_queue::{ParseError, batch_response, parse_records};
use local_stack::sqs::lambda_event;
use test_kit::moto::{MotoServer, sdk_config};
use test_kit::store_contract::{t0, unique};

async fn client() -> Client {
    let moto = MotoServer::shared();
    Client::new(&sdk_config(&moto.endpoint).await)
}

/// A fresh queue: its URL and ARN.
async fn create_queue(client: &Client) -> (String, String) {
    let name = unique("ta-payments-");
    let url = client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::QueueArn)
        .unwrap();
    (url, arn)
}

/// Receive until `n` messages have arrived (or give up after a few tries).
async fn receive(client: &Client, url: &str, n: usize) -> Vec<Message> {
    let mut got = Vec::new();
    for _ in 0..20 {
        if got.len() >= n {
            break;
        }
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        got.extend(out.messages.unwrap_or_default());
    }
    assert_eq!(got.len(), n, "messages received");
    got
}

fn message(provider: Provider, webhook_id: &str, body: &str) -> ProviderMessage {
    ProviderMessage {
        provider,
        webhook_id: webhook_id.to_owned(),
        received_at: t0(),
        body: body.to_owned(),
    }
}

#[tokio::test]
async fn sent_provider_messages_round_trip_with_attributes_through_parse_records() {
    let client = client().await;
    let (url, arn) = create_queue(&client).await;
    let queue = SqsQueue::new(client.clone(), url.clone());
    let sent = [
        message(
            Provider::Card,
            &unique("msg_"),
            r#"{"type":"payment.succeeded","data":{"payment_id":"pay_1","order_id":"ord_1","amount":"1500.00","currency":"USD","provider_reference":"ch_123"}}"#,
        ),
        message(
            Provider::Paylater,
            &unique("msg_"),
            "{\"type\":\"credit_line.approved\",\"data\":{\"note\":\"ünïcödé \\u00e9 \\\"quoted\\\"\"}}",
        ),
    ];
    for m in &sent {
        queue.send(m).await.unwrap();
    }

    let received = receive(&client, &url, 2).await;
    let by_webhook: HashMap<&str, &ProviderMessage> =
        sent.iter().map(|m| (m.webhook_id.as_str(), m)).collect();
    for m in &received {
        let attrs = m.message_attributes.as_ref().expect("message attributes");
        let webhook_id = attrs[ATTR_WEBHOOK_ID].string_value.as_deref().unwrap();
        let original = by_webhook[webhook_id];
        assert_eq!(attrs[ATTR_WEBHOOK_ID].data_type, "String");
        assert_eq!(attrs[ATTR_PROVIDER].data_type, "String");
        assert_eq!(
            attrs[ATTR_PROVIDER].string_value.as_deref(),
            Some(original.provider.as_str())
        );
    }

    let event = lambda_event(&received, Some(&arn));
    let parsed = parse_records(&event);
    assert_eq!(parsed.len(), 2);
    let mut seen = BTreeSet::new();
    for ((id, result), m) in parsed.iter().zip(&received) {
        assert_eq!(Some(id.as_str()), m.message_id.as_deref());
        let got = result.as_ref().unwrap();
        assert_eq!(got, by_webhook[got.webhook_id.as_str()]);
        seen.insert(got.webhook_id.clone());
    }
    assert_eq!(seen.len(), 2, "both messages, once each");
    assert!(batch_response(Vec::new()).batch_item_failures.is_empty());
}

#[tokio::test]
async fn malformed_records_are_reported_by_message_id_and_only_they_are_retried() {
    let client = client().await;
    let (url, arn) = create_queue(&client).await;
    let queue = SqsQueue::new(client.clone(), url.clone());
    let good = message(
        Provider::Bank,
        &unique("msg_"),
        r#"{"type":"payment.processing"}"#,
    );
    queue.send(&good).await.unwrap();
    // Not JSON, and JSON that is not a provider message.
    for body in [
        "this is not json",
        r#"{"provider":"card","webhook_id":"x"}"#,
    ] {
        client
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let received = receive(&client, &url, 3).await;
    let mut event = lambda_event(&received, Some(&arn));
    // A record with no body at all (not something SQS sends, but possible
    // in a hand-made or replayed event).
    let mut bodiless = SqsMessage::default();
    bodiless.message_id = Some("no-body-record".into());
    event.records.push(bodiless);

    let parsed = parse_records(&event);
    assert_eq!(parsed.len(), 4);
    let mut failed = Vec::new();
    for (id, result) in &parsed {
        match result {
            Ok(m) => assert_eq!(m, &good),
            Err(e) => {
                if id == "no-body-record" {
                    assert!(matches!(e, ParseError::MissingBody), "{e}");
                } else {
                    assert!(matches!(e, ParseError::Json(_)), "{e}");
                }
                failed.push(id.clone());
            }
        }
    }
    let good_id = received
        .iter()
        .find(|m| m.body.as_deref() == Some(&serde_json::to_string(&good).unwrap()))
        .and_then(|m| m.message_id.clone())
        .unwrap();
    let expected: BTreeSet<String> = event
        .records
        .iter()
        .filter_map(|r| r.message_id.clone())
        .filter(|id| *id != good_id)
        .collect();
    assert_eq!(failed.len(), 3);
    assert_eq!(failed.iter().cloned().collect::<BTreeSet<_>>(), expected);

    let response = batch_response(failed.clone());
    let listed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(listed, failed, "exactly the failed ids, in order");
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["batchItemFailures"].as_array().unwrap().len(), 3);
    assert_eq!(
        json["batchItemFailures"][0]["itemIdentifier"],
        failed[0].as_str()
    );
}

#[tokio::test]
async fn sending_to_a_queue_that_does_not_exist_is_a_backend_error() {
    let client = client().await;
    let moto = MotoServer::shared();
    let queue = SqsQueue::new(
        client,
        format!("{}/123456789012/{}", moto.endpoint, unique("missing-")),
    );
    let err = queue
        .send(&message(Provider::Echeck, "msg_1", "{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, MessagingError::Backend(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let config = aws_sdk_sqs::config::Builder::from(&sdk_config(&endpoint).await)
        .retry_config(RetryConfig::disabled())
        .build();
    let queue = SqsQueue::new(
        Client::from_conf(config),
        format!("{endpoint}/123456789012/nowhere"),
    );
    let err = queue
        .send(&message(Provider::Card, "msg_1", "{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, MessagingError::Unavailable(_)), "{err:?}");
}
