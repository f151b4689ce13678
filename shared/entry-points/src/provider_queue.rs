//! The provider-action queue's batches (SQS), for
//! `request-provider-actions`: an EventBridge rule on the stack's bus sends
//! every `PaymentRequested` and `RefundRequested` event of the service to
//! the queue, which hands them to the function in batches. Each record's
//! body is the event as EventBridge delivers it to an SQS target (the
//! envelope — `version`, `id`, `detail-type`, `source`, `account`, `time`,
//! `region`, `resources` — around `detail`, the
//! [`DomainEvent`](domain::event::DomainEvent) the outbox published). Each
//! is acted on with [`app::provider_actions::act`] in a span of its own:
//! one request to the provider, its answer recorded on the order. The
//! answer for ReportBatchItemFailures names only the records to redeliver;
//! the queue's visibility timeout is the delay before the next try, and
//! its redrive policy moves a record failing five times to the
//! dead-letter queue (alarmed). No SQS client: Lambda reads and deletes the
//! messages.

use app::error::error_chain;
use app::ports::{Clock, OrderStore, SupplierLimits};
use app::provider_actions::{Acted, act};
use app::provider_requests::PaymentProviders;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::calendar::Timestamp;
use domain::event::DomainEvent;
use tracing::Instrument;

/// The source of the events this service publishes (the outbox
/// publisher's), the only one the rule forwards.
pub const SOURCE: &str = "trade-assurance";

/// The detail-types the rule forwards: the events that ask a provider for
/// something.
pub const DETAIL_TYPES: [&str; 2] = ["PaymentRequested", "RefundRequested"];

/// The metric every record is counted in, by `Outcome`.
pub const METRIC: &str = "ProviderActions";

/// A record is not started with less time than this left before the
/// invocation's deadline: one provider call (at most 10 s) and the reads
/// and the commit around it. It is redelivered instead, so a slow provider
/// never makes the invocation time out (which would redeliver the whole
/// batch, the records already done included).
pub const RECORD_BUDGET_MS: i64 = 15_000;

/// What a record of the queue carries: a domain event in EventBridge's
/// envelope.
pub type BusEvent = EventBridgeEvent<DomainEvent>;

/// Why a record of the batch is not a domain event of this service.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the record has no body")]
    MissingBody,
    #[error("the body is not an EventBridge event carrying a domain event: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the event comes from {0:?}, not from {SOURCE:?}")]
    ForeignSource(String),
    #[error("the detail-type {envelope:?} is not the event's own ({detail:?})")]
    DetailTypeMismatch {
        envelope: String,
        detail: &'static str,
    },
}

/// The domain event a record's body carries, checked against its
/// envelope: the source is this service, the detail-type the event's own.
pub fn parse_body(body: &str) -> Result<DomainEvent, ParseError> {
    let event: BusEvent = serde_json::from_str(body)?;
    if event.source != SOURCE {
        return Err(ParseError::ForeignSource(event.source));
    }
    let detail = event.detail.body.detail_type();
    if event.detail_type != detail {
        return Err(ParseError::DetailTypeMismatch {
            envelope: event.detail_type,
            detail,
        });
    }
    Ok(event.detail)
}

/// Each record of an SQS batch as (message id, the event or why it is not
/// one), in the batch's order. A record without a message id gets an empty
/// id (Lambda always sets one).
pub fn parse_records(event: &SqsEvent) -> Vec<(String, Result<DomainEvent, ParseError>)> {
    event
        .records
        .iter()
        .map(|record| {
            let id = record.message_id.clone().unwrap_or_default();
            let parsed = match record.body.as_deref() {
                None => Err(ParseError::MissingBody),
                Some(body) => parse_body(body),
            };
            (id, parsed)
        })
        .collect()
}

pub use crate::sqs_batch::batch_response;

/// Act on a batch from the provider-action queue, one record at a time in
/// the batch's order, each in its own span (message id, receive count,
/// order id, event type). The answer names the records to redeliver:
///
/// - the provider unavailable, throttling, failing or not configured, or
///   the store failing (`ActError::redeliver`): redelivered after the
///   queue's visibility timeout, and after its maximum receives moved to
///   the DLQ;
/// - a record that is not an event of this service at all (a poison
///   message: only a bug or a foreign producer makes one): redelivered
///   too, so it ends in the DLQ for inspection instead of being dropped;
/// - everything else is acknowledged: the provider took the request, or
///   refused it for good (the payment or refund part is flagged for an
///   operator), the answer was recorded before (a redelivery), the event
///   asks nothing of a provider, or it names an order, payment or refund
///   part that does not exist (logged at error level: it cannot become
///   valid).
pub async fn process_batch<S, P, C>(
    store: &S,
    providers: &P,
    clock: &C,
    event: &SqsEvent,
) -> SqsBatchResponse
where
    S: OrderStore + SupplierLimits,
    P: PaymentProviders,
    C: Clock,
{
    process_batch_until(store, providers, clock, event, None).await
}

/// [`process_batch`], starting no record once less than
/// [`RECORD_BUDGET_MS`] is left before `deadline` (the invocation's): the
/// records not started are redelivered.
pub async fn process_batch_until<S, P, C>(
    store: &S,
    providers: &P,
    clock: &C,
    event: &SqsEvent,
    deadline: Option<Timestamp>,
) -> SqsBatchResponse
where
    S: OrderStore + SupplierLimits,
    P: PaymentProviders,
    C: Clock,
{
    let mut failed = Vec::new();
    for (record, (message_id, parsed)) in event.records.iter().zip(parse_records(event)) {
        let receive_count = crate::sqs_batch::receive_count(record);
        let span = tracing::info_span!(
            "provider_action",
            message_id = %message_id,
            receive_count,
            order_id = tracing::field::Empty,
            event_type = tracing::field::Empty,
        );
        let out_of_time = deadline
            .is_some_and(|deadline| (deadline - clock.now()).num_milliseconds() < RECORD_BUDGET_MS);
        let redeliver = if out_of_time {
            span.in_scope(|| {
                app::metrics::count_by(METRIC, "Outcome", "redelivered");
                tracing::warn!("not started: too close to the invocation's deadline; redelivered");
            });
            true
        } else {
            process_one(store, providers, clock, parsed)
                .instrument(span)
                .await
        };
        if redeliver {
            failed.push(message_id);
        }
    }
    batch_response(failed)
}

/// Whether the record must be redelivered.
async fn process_one<S, P, C>(
    store: &S,
    providers: &P,
    clock: &C,
    parsed: Result<DomainEvent, ParseError>,
) -> bool
where
    S: OrderStore + SupplierLimits,
    P: PaymentProviders,
    C: Clock,
{
    let event = match parsed {
        Ok(event) => event,
        Err(e) => {
            app::metrics::count_by(METRIC, "Outcome", "redelivered");
            tracing::error!(error = %e, "not a domain event of this service; kept for the DLQ");
            return true;
        }
    };
    let span = tracing::Span::current();
    span.record("order_id", event.order_id.as_str());
    span.record("event_type", event.body.detail_type());
    match act(store, providers, &event, clock.now()).await {
        Ok(Acted::Requested { reference }) => {
            app::metrics::count_by(METRIC, "Outcome", "requested");
            tracing::info!(reference = %reference, "the provider took the request");
            false
        }
        Ok(Acted::Refused { status }) => {
            app::metrics::count_by(METRIC, "Outcome", "refused");
            tracing::warn!(
                status,
                "the provider refused the request for good; flagged for an operator (GET /v1/flags)"
            );
            false
        }
        Ok(Acted::AlreadyDone) => {
            app::metrics::count_by(METRIC, "Outcome", "already_done");
            tracing::info!("the answer is recorded already, or no longer wanted");
            false
        }
        Ok(Acted::NotARequest) => {
            app::metrics::count_by(METRIC, "Outcome", "not_a_request");
            tracing::info!("the event asks nothing of a provider; acknowledged");
            false
        }
        Err(e) if e.redeliver() => {
            app::metrics::count_by(METRIC, "Outcome", "redelivered");
            tracing::warn!(error = %error_chain(&e), "not acted on; redelivered");
            true
        }
        Err(e) => {
            app::metrics::count_by(METRIC, "Outcome", "unknown");
            tracing::error!(
                error = %error_chain(&e),
                "the event names something that does not exist; acknowledged"
            );
            false
        }
    }
}

/// The variable naming the Secrets Manager secret (name or ARN) that holds
/// the providers' API keys, a JSON object of provider name to key.
#[cfg(feature = "lambda")]
pub const KEYS_SECRET_ID_VARIABLE: &str = "PROVIDER_KEYS_SECRET_ID";

/// The providers with their keys: from the secret `PROVIDER_KEYS_SECRET_ID`
/// names when it is set (the deployed function), else as configured from
/// the environment alone (`PROVIDER_KEY_<PROVIDER>`, the local stack and
/// the tests).
#[cfg(feature = "lambda")]
async fn with_keys(
    config: &aws_config::SdkConfig,
    providers: &aws_adapters::providers::HttpProviders,
) -> Result<aws_adapters::providers::HttpProviders, String> {
    match crate::config::secret_named_by(config, KEYS_SECRET_ID_VARIABLE).await {
        Some(json) => providers
            .clone()
            .with_keys_json(&json.map_err(|e| error_chain(&e))?)
            .map_err(|e| error_chain(&e)),
        None => Ok(providers.clone()),
    }
}

/// The invocation's deadline, from the context Lambda gives it.
#[cfg(feature = "lambda")]
fn deadline_of(context: &lambda_runtime::Context) -> Option<Timestamp> {
    Timestamp::from_timestamp_millis(i64::try_from(context.deadline).ok()?)
}

/// The `request-provider-actions` function's `main`: the DynamoDB store and
/// the providers' HTTP client (`PROVIDER_URL_<PROVIDER>`) built once, the
/// providers' keys read from their secret on the first batch and kept for
/// the sandbox's life (a new value reaches new sandboxes without a
/// redeploy), then the runtime loop, one batch per invocation. A batch that
/// finds the secret unreadable is redelivered whole (logged at error
/// level), and the next one tries again.
#[cfg(feature = "lambda")]
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    use aws_adapters::providers::HttpProviders;
    use lambda_runtime::{LambdaEvent, service_fn};
    use tokio::sync::OnceCell;

    lambda_runtime::tracing::init_default_subscriber();
    app::metrics::set_function("request-provider-actions");
    let config = crate::config::load().await;
    let store = crate::config::store(&config)?;
    let unkeyed = HttpProviders::from_env();
    let keyed: OnceCell<HttpProviders> = OnceCell::new();
    let (store, config, unkeyed, keyed) = (&store, &config, &unkeyed, &keyed);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let batch = &event.payload;
        let response = match keyed.get_or_try_init(|| with_keys(config, unkeyed)).await {
            Ok(providers) => {
                process_batch_until(
                    store,
                    providers,
                    &app::clock::SystemClock,
                    batch,
                    deadline_of(&event.context),
                )
                .await
            }
            Err(e) => {
                tracing::error!(error = %e, "the providers' keys could not be read; the batch is redelivered");
                batch_response(
                    batch
                        .records
                        .iter()
                        .map(|r| r.message_id.clone().unwrap_or_default()),
                )
            }
        };
        Ok::<SqsBatchResponse, lambda_runtime::Error>(response)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::clock::FixedClock;
    use app::memory::MemoryBackend;
    use app::provider_requests::ProviderError;
    use aws_lambda_events::event::sqs::SqsMessage;
    use domain::ids::{OrderId, PaymentId};
    use test_kit::outage::Outage;
    use test_kit::providers::ScriptedProviders;
    use test_kit::store_contract::{order_paying_by_card, stored_order, t0, unique};

    fn record(id: &str, body: Option<&str>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_owned());
        m.body = body.map(str::to_owned);
        m
    }

    fn batch(records: Vec<(&str, String)>) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = records
            .into_iter()
            .map(|(id, body)| record(id, Some(&body)))
            .collect();
        event
    }

    /// `event` as the rule delivers it to the queue.
    fn envelope(event: &DomainEvent) -> String {
        serde_json::json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": event.body.detail_type(),
            "source": SOURCE,
            "account": "123456789012",
            "time": "2027-03-01T09:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": event,
        })
        .to_string()
    }

    fn failures(response: &SqsBatchResponse) -> Vec<String> {
        serde_json::to_value(response).unwrap()["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The order's `PaymentRequested` event.
    async fn payment_requested<B: OrderStore>(backend: &B, id: &OrderId) -> DomainEvent {
        backend
            .history(id, &app::page::PageRequest::first(100))
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| e.body.detail_type() == "PaymentRequested")
            .unwrap()
    }

    fn reference(order: &domain::Order, pay: &PaymentId) -> Option<String> {
        order.payment(pay).unwrap().provider_reference.clone()
    }

    #[tokio::test]
    async fn a_body_is_read_only_as_an_event_of_this_service_in_its_own_envelope() {
        let backend = MemoryBackend::new();
        let (_, id, _) = order_paying_by_card(&backend).await;
        let event = payment_requested(&backend, &id).await;
        assert_eq!(parse_body(&envelope(&event)).unwrap(), event);
        assert!(DETAIL_TYPES.contains(&event.body.detail_type()));

        let mut foreign: serde_json::Value = serde_json::from_str(&envelope(&event)).unwrap();
        foreign["source"] = "aws.events".into();
        assert!(matches!(
            parse_body(&foreign.to_string()),
            Err(ParseError::ForeignSource(s)) if s == "aws.events"
        ));
        let mut mislabelled: serde_json::Value = serde_json::from_str(&envelope(&event)).unwrap();
        mislabelled["detail-type"] = "RefundRequested".into();
        assert!(matches!(
            parse_body(&mislabelled.to_string()),
            Err(ParseError::DetailTypeMismatch { .. })
        ));
        // The domain event alone, without the envelope, is not what the
        // rule delivers.
        let bare = serde_json::to_string(&event).unwrap();
        assert!(matches!(parse_body(&bare), Err(ParseError::Json(_))));

        let mut event = SqsEvent::default();
        event.records = vec![record("a", None), record("b", Some("{not json"))];
        let parsed = parse_records(&event);
        assert!(matches!(parsed[0], (ref id, Err(ParseError::MissingBody)) if id == "a"));
        assert!(matches!(parsed[1], (ref id, Err(ParseError::Json(_))) if id == "b"));
    }

    #[test]
    fn batch_response_serializes_for_report_batch_item_failures() {
        assert_eq!(
            serde_json::to_value(batch_response(["x".to_owned()])).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "x"}]})
        );
        assert_eq!(
            serde_json::to_value(batch_response(Vec::new())).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }

    /// One batch: a request the provider takes, one it is unavailable for,
    /// a poison record, an event for an order that does not exist, and an
    /// event that asks nothing of a provider. Only the unavailable one and
    /// the poison record are redelivered; the redelivery asks the provider
    /// again, with the same key, and the one taken before is not asked
    /// again.
    #[tokio::test]
    async fn only_the_records_a_retry_can_help_are_redelivered() {
        let backend = MemoryBackend::new();
        let (_, taken, taken_pay) = order_paying_by_card(&backend).await;
        let (_, later, later_pay) = order_paying_by_card(&backend).await;
        let taken_event = payment_requested(&backend, &taken).await;
        let later_event = payment_requested(&backend, &later).await;
        let mut nowhere = taken_event.clone();
        nowhere.order_id = OrderId::parse(unique("ord_")).unwrap();
        let created = backend
            .history(&taken, &app::page::PageRequest::first(1))
            .await
            .unwrap()
            .items
            .remove(0);
        assert_eq!(created.body.detail_type(), "OrderCreated");

        // The first call (later's) finds the provider unavailable; the
        // next ones are accepted.
        let providers = ScriptedProviders::new();
        let event = batch(vec![
            ("m-later", envelope(&later_event)),
            ("m-taken", envelope(&taken_event)),
            ("m-poison", "{\"detail\": 1}".to_owned()),
            ("m-nowhere", envelope(&nowhere)),
            ("m-created", envelope(&created)),
        ]);
        providers.then_fail(ProviderError::Transient("503 from card".into()));
        let clock = FixedClock::at(t0());
        let response = process_batch(&backend, &providers, &clock, &event).await;
        assert_eq!(failures(&response), ["m-later", "m-poison"]);
        assert_eq!(
            reference(&stored_order(&backend, &taken).await, &taken_pay),
            Some(format!("ref_{taken_pay}"))
        );
        assert_eq!(
            reference(&stored_order(&backend, &later).await, &later_pay),
            None
        );

        // Redelivered: the provider answers now; the taken one is done.
        let again = process_batch(&backend, &providers, &clock, &event).await;
        assert_eq!(failures(&again), ["m-poison"]);
        assert_eq!(
            reference(&stored_order(&backend, &later).await, &later_pay),
            Some(format!("ref_{later_pay}"))
        );
        let keys: Vec<String> = providers
            .calls()
            .iter()
            .map(|c| c.idempotency_key())
            .collect();
        assert_eq!(
            keys,
            [
                later_pay.to_string(),
                taken_pay.to_string(),
                later_pay.to_string()
            ],
            "taken once; later asked again with the same key"
        );
    }

    #[tokio::test]
    async fn a_store_outage_redelivers_the_record_without_asking_the_provider() {
        let backend = Outage::new(MemoryBackend::new());
        let (_, id, pay) = order_paying_by_card(&backend).await;
        let event = batch(vec![(
            "m-1",
            envelope(&payment_requested(&backend, &id).await),
        )]);
        backend.cut(&id);
        let providers = ScriptedProviders::new();
        let clock = FixedClock::at(t0());
        let response = process_batch(&backend, &providers, &clock, &event).await;
        assert_eq!(failures(&response), ["m-1"]);
        assert!(providers.calls().is_empty());
        backend.restore(&id);
        let response = process_batch(&backend, &providers, &clock, &event).await;
        assert!(failures(&response).is_empty());
        assert!(reference(&stored_order(&backend, &id).await, &pay).is_some());
    }

    #[tokio::test]
    async fn records_are_not_started_too_close_to_the_deadline() {
        let backend = MemoryBackend::new();
        let (_, first, _) = order_paying_by_card(&backend).await;
        let (_, second, _) = order_paying_by_card(&backend).await;
        let event = batch(vec![
            ("m-1", envelope(&payment_requested(&backend, &first).await)),
            ("m-2", envelope(&payment_requested(&backend, &second).await)),
        ]);
        let providers = ScriptedProviders::new();
        let clock = FixedClock::at(t0());
        let near = t0() + chrono::TimeDelta::milliseconds(RECORD_BUDGET_MS - 1);
        let response = process_batch_until(&backend, &providers, &clock, &event, Some(near)).await;
        assert_eq!(failures(&response), ["m-1", "m-2"]);
        assert!(providers.calls().is_empty());
        let far = t0() + chrono::TimeDelta::milliseconds(RECORD_BUDGET_MS);
        let response = process_batch_until(&backend, &providers, &clock, &event, Some(far)).await;
        assert!(failures(&response).is_empty());
        assert_eq!(providers.calls().len(), 2);
    }
}
