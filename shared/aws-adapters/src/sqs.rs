//! The payment queue on SQS: the webhook function sends each verified
//! provider webhook as one message; the `process-payment-events` consumer
//! reads the batch Lambda hands it (`entry_points::payment_queue`) and
//! answers with ReportBatchItemFailures, so only the failed messages are
//! retried (and, after the redrive limit, land in the DLQ).
//!
//! The message body is the JSON of [`ProviderMessage`]; the attributes
//! `provider` and `webhook_id` repeat what is in it, for filtering and for
//! reading a message in the console or the DLQ without parsing it.

use app::error::MessagingError;

use crate::transient::is_transient;
use app::ports::{ATTR_PROVIDER, ATTR_WEBHOOK_ID, PaymentQueue, ProviderMessage};
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
    /// The queue at `queue_url`, with a client built from the shared SDK
    /// configuration.
    pub fn from_config(config: &aws_types::SdkConfig, queue_url: impl Into<String>) -> Self {
        SqsQueue::new(Client::new(config), queue_url)
    }

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
