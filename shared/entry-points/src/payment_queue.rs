//! The payment queue's batches (SQS), for `process-payment-events`: the
//! batch Lambda hands the function (and the local stack's in-process queue
//! hands it the same shape), each record applied with
//! [`app::consumer::consume`] in a span of its own, and the answer for
//! ReportBatchItemFailures naming only the records to redeliver. No SQS
//! client: Lambda reads and deletes the messages.

use app::consumer::{Applied, consume, keep_refusal};
use app::error::error_chain;
use app::ports::{Backend, Clock, ProviderMessage};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tracing::Instrument;

/// Why a record of the batch is not a provider message.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the record has no body")]
    MissingBody,
    #[error("the body is not a provider message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Each record of an SQS batch as (message id, the message or why it is
/// not one), in the batch's order. A record without a message id gets an
/// empty id (Lambda always sets one).
pub fn parse_records(event: &SqsEvent) -> Vec<(String, Result<ProviderMessage, ParseError>)> {
    event
        .records
        .iter()
        .map(|record| {
            let id = record.message_id.clone().unwrap_or_default();
            let parsed = match record.body.as_deref() {
                None => Err(ParseError::MissingBody),
                Some(body) => {
                    serde_json::from_str::<ProviderMessage>(body).map_err(ParseError::from)
                }
            };
            (id, parsed)
        })
        .collect()
}

pub use crate::sqs_batch::batch_response;

/// Apply a batch from the payment queue, one record at a time in the
/// batch's order, each in its own span (message id, provider, webhook id,
/// receive count). The answer names the records to redeliver:
///
/// - a store failure (unavailable, throttled, a race lost on every
///   attempt, or anything else the store refused): redelivered, and after
///   the queue's maximum receives moved to the DLQ;
/// - a record that is not a provider message at all (a poison message:
///   only a bug or a foreign producer makes one): redelivered too, so it
///   ends in the DLQ for inspection instead of being dropped;
/// - everything else is acknowledged: applied, a duplicate, no change, or
///   refused for good (malformed event, unknown order / payment / refund,
///   a domain refusal), the latter logged at error level.
pub async fn process_batch<B: Backend, C: Clock>(
    backend: &B,
    clock: &C,
    event: &SqsEvent,
) -> SqsBatchResponse {
    let mut failed = Vec::new();
    for (record, (message_id, parsed)) in event.records.iter().zip(parse_records(event)) {
        let receive_count = crate::sqs_batch::receive_count(record);
        let span = tracing::info_span!(
            "provider_event",
            message_id = %message_id,
            receive_count,
            provider = tracing::field::Empty,
            webhook_id = tracing::field::Empty,
        );
        let redeliver = process_one(backend, clock, parsed).instrument(span).await;
        if redeliver {
            failed.push(message_id);
        }
    }
    batch_response(failed)
}

/// Whether the record must be redelivered.
async fn process_one<B: Backend, C: Clock>(
    backend: &B,
    clock: &C,
    parsed: Result<ProviderMessage, ParseError>,
) -> bool {
    let message = match parsed {
        Ok(message) => message,
        Err(e) => {
            tracing::error!(error = %e, "not a provider message; kept for the DLQ");
            return true;
        }
    };
    let span = tracing::Span::current();
    span.record("provider", message.provider.as_str());
    span.record("webhook_id", message.webhook_id.as_str());
    match consume(backend, &message, clock.now()).await {
        Ok(Applied::Applied { events }) => {
            app::metrics::count_by("ProviderEvents", "Outcome", "applied");
            tracing::info!(events, "provider event applied");
            false
        }
        Ok(Applied::Duplicate) => {
            app::metrics::count_by("ProviderEvents", "Outcome", "duplicate");
            tracing::info!("duplicate provider event acknowledged");
            false
        }
        Ok(Applied::NoChange) => {
            app::metrics::count_by("ProviderEvents", "Outcome", "no_change");
            tracing::info!("provider event changed nothing");
            false
        }
        Err(e) if e.report_as_failure() => {
            app::metrics::count_by("ProviderEvents", "Outcome", "redelivered");
            tracing::warn!(error = %error_chain(&e), retryable = e.is_retryable(), "provider event not applied; redelivered");
            true
        }
        Err(e) => match keep_refusal(backend, &message, &e, clock.now()).await {
            Ok(reason) => {
                app::metrics::count("RefusedProviderEvents");
                app::metrics::count_by("ProviderEvents", "Outcome", "refused");
                tracing::error!(
                    error = %error_chain(&e),
                    reason = reason.unwrap_or("refused"),
                    "provider event refused for good; kept for an operator (GET /v1/flags) and acknowledged"
                );
                false
            }
            Err(store) => {
                tracing::warn!(
                    error = %error_chain(&e),
                    store_error = %error_chain(&store),
                    "provider event refused, but keeping it failed; redelivered"
                );
                true
            }
        },
    }
}

/// The `process-payment-events` function's `main`: the DynamoDB backend
/// built once, then the runtime loop, one batch per invocation.
#[cfg(feature = "lambda")]
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    lambda_runtime::tracing::init_default_subscriber();
    app::metrics::set_function("process-payment-events");
    let config = crate::config::load().await;
    let store = crate::config::store(&config)?;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(
            process_batch(store, &app::clock::SystemClock, &event.payload).await,
        )
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;
    use domain::actor::Provider;

    fn record(id: &str, body: Option<&str>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_owned());
        m.body = body.map(str::to_owned);
        m
    }

    #[test]
    fn parse_records_keeps_the_batch_order_and_names_each_failure() {
        let good = ProviderMessage {
            provider: Provider::Card,
            webhook_id: "msg_1".into(),
            received_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            body: r#"{"type":"payment.succeeded"}"#.into(),
        };
        let mut event = SqsEvent::default();
        event.records = vec![
            record("a", Some(&serde_json::to_string(&good).unwrap())),
            record("b", None),
            record("c", Some("{not json")),
        ];
        let parsed = parse_records(&event);
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].0, "a");
        assert_eq!(parsed[0].1.as_ref().unwrap(), &good);
        assert_eq!(parsed[1].0, "b");
        assert!(matches!(parsed[1].1, Err(ParseError::MissingBody)));
        assert_eq!(parsed[2].0, "c");
        assert!(matches!(parsed[2].1, Err(ParseError::Json(_))));
    }

    #[test]
    fn batch_response_serializes_for_report_batch_item_failures() {
        let response = batch_response(["x".to_owned(), "y".to_owned()]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [
                {"itemIdentifier": "x"}, {"itemIdentifier": "y"}
            ]})
        );
        assert_eq!(
            serde_json::to_value(batch_response(Vec::new())).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }

    mod batches {
        use super::*;
        use app::clock::FixedClock;
        use app::memory::MemoryBackend;
        use domain::payment::PaymentStatus;
        use test_kit::outage::Outage;
        use test_kit::store_contract::{
            order_paying_by_card, payment_body, provider_message, stored_order, t0, unique,
        };

        fn batch(records: Vec<(&str, String)>) -> SqsEvent {
            let mut event = SqsEvent::default();
            event.records = records
                .into_iter()
                .map(|(id, body)| record(id, Some(&body)))
                .collect();
            event
        }

        fn failures(response: &SqsBatchResponse) -> Vec<String> {
            serde_json::to_value(response).unwrap()["batchItemFailures"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
                .collect()
        }

        #[tokio::test]
        async fn when_one_order_is_unreachable_only_its_message_is_redelivered() {
            let backend = Outage::new(MemoryBackend::new());
            let (_, down, down_pay) = order_paying_by_card(&backend).await;
            let (_, up, up_pay) = order_paying_by_card(&backend).await;
            backend.cut(&down);
            let message = |order, pay| {
                let body = payment_body("payment.succeeded", order, pay, "400.00", "USD");
                serde_json::to_string(&provider_message(Provider::Card, &unique("msg_"), body))
                    .unwrap()
            };
            let event = batch(vec![
                ("m-down", message(&down, &down_pay)),
                ("m-up", message(&up, &up_pay)),
                ("m-poison", "{not a provider message".to_owned()),
                (
                    "m-unknown-order",
                    message(
                        &domain::ids::OrderId::parse(unique("ord_")).unwrap(),
                        &up_pay,
                    ),
                ),
            ]);
            let clock = FixedClock::at(t0());
            let response = process_batch(&backend, &clock, &event).await;
            assert_eq!(failures(&response), ["m-down", "m-poison"]);
            let status =
                |o: domain::Order, p: &domain::ids::PaymentId| o.payment(p).unwrap().status;
            assert_eq!(
                status(stored_order(&backend, &up).await, &up_pay),
                PaymentStatus::Succeeded
            );
            // Redelivered once the order is reachable again: applied once.
            backend.restore(&down);
            let again = process_batch(&backend, &clock, &event).await;
            assert_eq!(failures(&again), ["m-poison"]);
            assert_eq!(
                status(stored_order(&backend, &down).await, &down_pay),
                PaymentStatus::Succeeded
            );
        }
    }
}
