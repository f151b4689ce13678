//! The payment queue on SQS: the webhook function sends each verified
//! provider webhook as one message; the `process-payment-events` consumer
//! reads the batch Lambda hands it (see [`crate::sqs_events`]) and answers
//! with ReportBatchItemFailures, so only the failed messages are retried
//! (and, after the redrive limit, land in the DLQ).
//!
//! The message body is the JSON of [`ProviderMessage`]; the attributes
//! `provider` and `webhook_id` repeat what is in it, for filtering and for
//! reading a message in the console or the DLQ without parsing it.

use app::error::MessagingError;

use crate::transient::is_transient;
use app::ports::{PaymentQueue, ProviderMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::MessageAttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

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

pub use crate::sqs_events::{
    ATTR_PROVIDER, ATTR_WEBHOOK_ID, ParseError, batch_response, parse_records,
};

/// Received messages as the Lambda event the event source mapping builds
/// from them (the local stack's poller hands the consumer the same shape).
pub fn lambda_event(
    messages: &[aws_sdk_sqs::types::Message],
    queue_arn: Option<&str>,
) -> aws_lambda_events::event::sqs::SqsEvent {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.md5_of_message_attributes = m.md5_of_message_attributes.clone();
            record.attributes = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            record.message_attributes = m
                .message_attributes
                .iter()
                .flatten()
                .map(|(k, v)| {
                    let mut a = SqsMessageAttribute::default();
                    a.data_type = Some(v.data_type.clone());
                    a.string_value = v.string_value.clone();
                    (k.clone(), a)
                })
                .collect();
            record.event_source = Some("aws:sqs".to_owned());
            record.event_source_arn = queue_arn.map(str::to_owned);
            record
        })
        .collect();
    event
}
