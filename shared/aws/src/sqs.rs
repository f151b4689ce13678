//! The payment queue on SQS: the webhook function sends each verified
//! provider webhook as one message; the `process-payment-events` consumer
//! reads the batch Lambda hands it with [`parse_records`] and answers with
//! [`batch_response`] (ReportBatchItemFailures), so only the failed
//! messages are retried (and, after the redrive limit, land in the DLQ).
//!
//! The message body is the JSON of [`ProviderMessage`]; the attributes
//! `provider` and `webhook_id` repeat what is in it, for filtering and for
//! reading a message in the console or the DLQ without parsing it.

use app::error::MessagingError;

use crate::transient::is_transient;
use app::ports::{PaymentQueue, ProviderMessage};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::MessageAttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// The message attribute naming the provider (`echeck`, `card`, …).
pub const ATTR_PROVIDER: &str = "provider";
/// The message attribute carrying the provider's `webhook-id`.
pub const ATTR_WEBHOOK_ID: &str = "webhook_id";

/// The payment-events queue.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue")
            .field("queue_url", &self.queue_url)
            .finish_non_exhaustive()
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, MessagingError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| MessagingError::Encode(e.to_string()))
}

impl PaymentQueue for SqsQueue {
    async fn send(&self, message: &ProviderMessage) -> Result<(), MessagingError> {
        let body =
            serde_json::to_string(message).map_err(|e| MessagingError::Encode(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes(ATTR_PROVIDER, string_attribute(message.provider.as_str())?)
            .message_attributes(ATTR_WEBHOOK_ID, string_attribute(&message.webhook_id)?)
            .send()
            .await
            .map(|_| ())
            .map_err(messaging_error)
    }
}

fn messaging_error<E>(err: SdkError<E, HttpResponse>) -> MessagingError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&err) {
        tracing::warn!(error = %aws_smithy_types::error::display::DisplayErrorContext(&err), "SQS unavailable");
        MessagingError::Unavailable(Box::new(err))
    } else {
        tracing::error!(error = %aws_smithy_types::error::display::DisplayErrorContext(&err), "SQS refused the request");
        MessagingError::Backend(Box::new(err))
    }
}

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

/// The answer for ReportBatchItemFailures: the messages to retry, by id.
/// An empty list deletes the whole batch.
pub fn batch_response(failed_message_ids: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed_message_ids);
    response
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
}
