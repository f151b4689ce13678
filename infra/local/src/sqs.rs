//! AWS-endpoint mode's payment queue: the webhook route sends with the
//! functions' own adapter (`aws_adapters::sqs::SqsQueue`) to a real SQS
//! queue (`PAYMENT_QUEUE_NAME`), created if missing with a dead-letter
//! queue (`PAYMENT_DLQ_NAME`) and a redrive policy of
//! [`MAX_RECEIVES`] receives, as the template's; a poller
//! ([`run_poller`]) receives batches of up to ten and hands them to
//! `process_batch` as the event source mapping would, deletes what the
//! consumer did not fail and makes the rest visible again after a short
//! delay. `GET /_local/dlq` reads the real dead-letter queue.
//!
//! The poller long-polls (20 s) — except against an endpoint on the
//! loopback interface, where it short-polls and pauses between empty
//! receives (woken early by each send): a local emulator such as the
//! single-threaded moto server would otherwise be blocked for the whole
//! long poll. `PAYMENT_QUEUE_WAIT_SECONDS` (0–20) overrides either.

use std::sync::Arc;
use std::time::Duration;

use app::error::MessagingError;
use app::ports::{ATTR_PROVIDER, ATTR_WEBHOOK_ID};
use app::ports::{Backend, EventBus, PaymentQueue, ProviderMessage};
use aws_adapters::sqs::SqsQueue;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, QueueAttributeName,
};
use domain::actor::Provider;
use entry_points::payment_queue::{parse_records, process_batch};
use tokio::sync::Notify;

use crate::queue::{
    BATCH_SIZE, DeadLetter, MAX_RECEIVES, Outcome, StackQueue, failed_ids, finish_batch,
};
use crate::stack::Stack;

/// The queue when `PAYMENT_QUEUE_NAME` is not set; its DLQ adds `-dlq`.
pub const DEFAULT_QUEUE: &str = "trade-assurance-local-payments";
/// SQS's longest long poll.
pub const LONG_POLL_SECONDS: i32 = 20;
/// How long a received message stays invisible while the consumer works.
const RECEIVE_VISIBILITY_SECONDS: i32 = 30;
/// How long a message the consumer failed stays invisible.
const REDELIVERY_SECONDS: i32 = 1;
/// Between empty short polls (a send wakes the poller earlier).
const IDLE_PAUSE: Duration = Duration::from_millis(500);
/// After a failed receive.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// The most messages `GET /_local/dlq` lists.
const MAX_DEAD_LETTERS_LISTED: usize = 200;

/// The queue names and how the poller waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub queue: String,
    pub dlq: String,
    /// `WaitTimeSeconds` of each receive: 20 (long polling), or 0 for a
    /// loopback endpoint.
    pub wait_seconds: i32,
}

impl QueueSettings {
    /// From `PAYMENT_QUEUE_NAME`, `PAYMENT_DLQ_NAME` and
    /// `PAYMENT_QUEUE_WAIT_SECONDS` (clamped to 0–20; not a number: the
    /// default).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, loopback: bool) -> QueueSettings {
        let set = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let queue = set("PAYMENT_QUEUE_NAME").unwrap_or_else(|| DEFAULT_QUEUE.to_owned());
        let dlq = set("PAYMENT_DLQ_NAME").unwrap_or_else(|| format!("{queue}-dlq"));
        let default_wait = if loopback { 0 } else { LONG_POLL_SECONDS };
        let wait_seconds = set("PAYMENT_QUEUE_WAIT_SECONDS")
            .and_then(|v| v.parse::<i32>().ok())
            .map_or(default_wait, |w| w.clamp(0, LONG_POLL_SECONDS));
        QueueSettings {
            queue,
            dlq,
            wait_seconds,
        }
    }
}

/// The payment queue on SQS, with its dead-letter queue.
#[derive(Clone)]
pub struct SqsPayments {
    sender: SqsQueue,
    client: Client,
    dlq_url: String,
    wait_seconds: i32,
    /// Woken by each send, so a short-polling poller receives at once.
    sent: Arc<Notify>,
}

impl std::fmt::Debug for SqsPayments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsPayments")
            .field("queue_url", &self.sender.queue_url())
            .field("dlq_url", &self.dlq_url)
            .field("wait_seconds", &self.wait_seconds)
            .finish_non_exhaustive()
    }
}

impl SqsPayments {
    pub fn queue_url(&self) -> &str {
        self.sender.queue_url()
    }

    pub fn dlq_url(&self) -> &str {
        &self.dlq_url
    }
}

fn unavailable<E>(
    e: aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> MessagingError
where
    E: std::error::Error + Send + Sync + 'static,
{
    MessagingError::Unavailable(Box::new(e))
}

impl PaymentQueue for SqsPayments {
    async fn send(&self, message: &ProviderMessage) -> Result<(), MessagingError> {
        self.sender.send(message).await?;
        self.sent.notify_one();
        Ok(())
    }
}

impl StackQueue for SqsPayments {
    /// Received with a visibility timeout (so each is listed once), then
    /// made visible again: reading the DLQ leaves it as it was, except that
    /// SQS counts the read as a receive — the count shown leaves it out.
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, MessagingError> {
        let mut letters = Vec::new();
        let mut handles = Vec::new();
        let peek_wait = self.wait_seconds.min(1);
        while letters.len() < MAX_DEAD_LETTERS_LISTED {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(RECEIVE_VISIBILITY_SECONDS)
                .wait_time_seconds(peek_wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await;
            let messages = match out {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(e) => {
                    self.release(&handles).await;
                    return Err(unavailable(e));
                }
            };
            if messages.is_empty() {
                break;
            }
            for m in &messages {
                let count = receive_count(m).saturating_sub(1);
                letters.push((sent_at(m), dead_letter(m, count)));
                handles.extend(m.receipt_handle.clone());
            }
        }
        self.release(&handles).await;
        letters.sort_by_key(|(sent, _)| *sent);
        Ok(letters.into_iter().map(|(_, letter)| letter).collect())
    }
}

impl SqsPayments {
    /// Make the dead letters read visible again.
    async fn release(&self, handles: &[String]) {
        for chunk in handles.chunks(10) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, handle)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            let released = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.dlq_url)
                .set_entries(Some(entries))
                .send()
                .await;
            if let Err(e) = released {
                tracing::warn!(error = %DisplayErrorContext(&e), "dead letters stay invisible until their timeout");
            }
        }
    }
}

fn attribute(m: &Message, name: &MessageSystemAttributeName) -> Option<String> {
    m.attributes.as_ref().and_then(|a| a.get(name)).cloned()
}

fn receive_count(m: &Message) -> u32 {
    attribute(m, &MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

fn sent_at(m: &Message) -> i64 {
    attribute(m, &MessageSystemAttributeName::SentTimestamp)
        .and_then(|c| c.parse().ok())
        .unwrap_or_default()
}

fn message_attribute(m: &Message, name: &str) -> Option<String> {
    m.message_attributes
        .as_ref()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value.clone())
}

fn dead_letter(m: &Message, receive_count: u32) -> DeadLetter {
    DeadLetter::from_raw(
        m.message_id.as_deref().unwrap_or_default(),
        receive_count,
        m.body.as_deref().unwrap_or_default(),
        (
            message_attribute(m, ATTR_PROVIDER),
            message_attribute(m, ATTR_WEBHOOK_ID),
        ),
    )
}

/// A queue's URL, creating the queue with `attributes` if it is missing.
async fn queue_url(
    client: &Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> Result<String, String> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => {
            return out
                .queue_url
                .ok_or_else(|| format!("queue {name:?} has no URL"));
        }
        Err(e) => {
            let missing = e
                .code()
                .is_some_and(|c| c.contains("QueueDoesNotExist") || c.contains("NonExistentQueue"));
            if !missing {
                return Err(format!(
                    "cannot look up queue {name:?}: {}",
                    DisplayErrorContext(&e)
                ));
            }
        }
    }
    let mut create = client.create_queue().queue_name(name);
    for (key, value) in attributes {
        create = create.attributes(key.clone(), value);
    }
    let out = create
        .send()
        .await
        .map_err(|e| format!("cannot create queue {name:?}: {}", DisplayErrorContext(&e)))?;
    tracing::info!(queue = name, "created SQS queue");
    out.queue_url
        .ok_or_else(|| format!("queue {name:?} was created without a URL"))
}

async fn queue_attribute(
    client: &Client,
    url: &str,
    name: QueueAttributeName,
) -> Result<Option<String>, String> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read the attributes of {url}: {}",
                DisplayErrorContext(&e)
            )
        })?;
    Ok(out.attributes.and_then(|mut a| a.remove(&name)))
}

/// Connect the payment queue: the DLQ and the queue created if missing
/// (the queue with a redrive policy to the DLQ after [`MAX_RECEIVES`]
/// receives). An existing queue keeps the dead-letter queue its redrive
/// policy names; one without a policy gets ours.
pub async fn connect(client: Client, settings: &QueueSettings) -> Result<SqsPayments, String> {
    let fourteen_days = (14 * 24 * 3600).to_string();
    let dlq_url = queue_url(
        &client,
        &settings.dlq,
        &[(QueueAttributeName::MessageRetentionPeriod, fourteen_days)],
    )
    .await?;
    let dlq_arn = queue_attribute(&client, &dlq_url, QueueAttributeName::QueueArn)
        .await?
        .ok_or_else(|| format!("queue {:?} has no ARN", settings.dlq))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVES,
    })
    .to_string();
    let url = queue_url(
        &client,
        &settings.queue,
        &[
            (QueueAttributeName::RedrivePolicy, redrive.clone()),
            (
                QueueAttributeName::VisibilityTimeout,
                RECEIVE_VISIBILITY_SECONDS.to_string(),
            ),
        ],
    )
    .await?;
    let policy = queue_attribute(&client, &url, QueueAttributeName::RedrivePolicy).await?;
    let target = policy
        .as_deref()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned));
    let dlq_url = match target {
        Some(arn) if arn == dlq_arn => dlq_url,
        Some(arn) => {
            // The queue existed with a DLQ of its own: list that one.
            let name = arn.rsplit(':').next().unwrap_or_default().to_owned();
            queue_url(&client, &name, &[]).await?
        }
        None => {
            client
                .set_queue_attributes()
                .queue_url(&url)
                .attributes(QueueAttributeName::RedrivePolicy, redrive)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "cannot set the redrive policy of {:?}: {}",
                        settings.queue,
                        DisplayErrorContext(&e)
                    )
                })?;
            dlq_url
        }
    };
    Ok(SqsPayments {
        sender: SqsQueue::new(client.clone(), url),
        client,
        dlq_url,
        wait_seconds: settings.wait_seconds,
        sent: Arc::new(Notify::new()),
    })
}

/// Hand one batch to the consumer; delete what it did not fail, make the
/// rest visible again after [`REDELIVERY_SECONDS`].
pub async fn consume<B: Backend, U: EventBus>(
    stack: &Stack<B, U, SqsPayments>,
    messages: &[Message],
) {
    let queue = &stack.webhooks.queue;
    let event = lambda_event(messages, None);
    let response = process_batch(&stack.api.backend, &stack.clock, &event).await;
    let failed = failed_ids(&response);
    let mut done = Vec::new();
    let mut handled: Vec<(Option<(Provider, String)>, Outcome)> = Vec::new();
    for (m, (id, parsed)) in messages.iter().zip(parse_records(&event)) {
        let redeliver = failed.contains(&id);
        let Some(handle) = m.receipt_handle.clone() else {
            continue;
        };
        if redeliver {
            let delayed = queue
                .client
                .change_message_visibility()
                .queue_url(queue.queue_url())
                .receipt_handle(&handle)
                .visibility_timeout(REDELIVERY_SECONDS)
                .send()
                .await;
            if let Err(e) = delayed {
                tracing::warn!(message_id = id, error = %DisplayErrorContext(&e), "redelivered after the queue's visibility timeout");
            }
        } else {
            done.push(handle);
        }
        let key = parsed.ok().map(|p| (p.provider, p.webhook_id));
        handled.push((key, Outcome::of(redeliver, receive_count(m))));
    }
    for chunk in done.chunks(BATCH_SIZE) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .ok()
            })
            .collect();
        let deleted = queue
            .client
            .delete_message_batch()
            .queue_url(queue.queue_url())
            .set_entries(Some(entries))
            .send()
            .await;
        match deleted {
            Ok(out) if !out.failed.is_empty() => {
                tracing::warn!(
                    failed = out.failed.len(),
                    "some handled messages were not deleted; they come back as duplicates"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %DisplayErrorContext(&e), "handled messages were not deleted; they come back as duplicates");
            }
        }
    }
    finish_batch(stack, &handled).await;
}

/// The poller: receive, consume, repeat, until the process ends.
pub async fn run_poller<B: Backend, U: EventBus>(stack: Arc<Stack<B, U, SqsPayments>>) {
    let queue = &stack.webhooks.queue;
    loop {
        let received = queue
            .client
            .receive_message()
            .queue_url(queue.queue_url())
            .max_number_of_messages(10)
            .visibility_timeout(RECEIVE_VISIBILITY_SECONDS)
            .wait_time_seconds(queue.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %DisplayErrorContext(&e), "receiving from the payment queue failed; retrying");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        if messages.is_empty() {
            if queue.wait_seconds == 0 {
                tokio::select! {
                    () = queue.sent.notified() => {}
                    () = tokio::time::sleep(IDLE_PAUSE) => {}
                }
            }
            continue;
        }
        consume(&stack, &messages).await;
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use app::memory::MemoryBackend;
    use app::provider_events::WebhookSecret;
    use domain::ids::{OrderId, PaymentId};
    use domain::payment::PaymentStatus;
    use http_api::webhook::{LOCAL_DEFAULT_SECRET, ProviderSecrets, Webhooks};
    use test_kit::moto::{MotoServer, sdk_config};
    use test_kit::outage::Outage;
    use test_kit::store_contract::{order_paying_by_card, payment_body, stored_order, unique};

    use crate::jwt::JwtConfig;
    use crate::stack::NoUpstream;

    type TestStack = Stack<Outage<MemoryBackend>, NoUpstream, SqsPayments>;

    async fn confirmation(stack: &TestStack, order: &OrderId, pay: &PaymentId) -> ProviderMessage {
        let stored = stored_order(&stack.api.backend.inner, order).await;
        let amount = stored.payment(pay).expect("payment").amount.to_string();
        ProviderMessage {
            provider: Provider::Card,
            webhook_id: unique("msg_"),
            received_at: chrono::Utc::now(),
            body: payment_body("payment.succeeded", order, pay, &amount, "USD").to_string(),
        }
    }

    async fn status(stack: &TestStack, order: &OrderId, pay: &PaymentId) -> PaymentStatus {
        let stored = stored_order(&stack.api.backend.inner, order).await;
        stored.payment(pay).expect("payment").status
    }

    /// Against the moto server: the queues are created once (a second
    /// connect finds them), the poller applies and deletes what succeeds,
    /// and what fails five receives — a store outage, a poison message —
    /// ends in the real dead-letter queue, which `dead_letters` lists
    /// without consuming it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_poller_applies_deletes_and_dead_letters_after_five_receives_on_moto() {
        let moto = MotoServer::shared();
        let client = Client::new(&sdk_config(&moto.endpoint).await);
        let settings = QueueSettings {
            queue: unique("ta-local-payments-"),
            dlq: unique("ta-local-payments-dlq-"),
            wait_seconds: 0,
        };
        let payments = connect(client.clone(), &settings).await.expect("connect");
        let again = connect(client.clone(), &settings)
            .await
            .expect("connect again");
        assert_eq!(again.queue_url(), payments.queue_url());
        assert_eq!(again.dlq_url(), payments.dlq_url());
        let policy = queue_attribute(
            &client,
            payments.queue_url(),
            QueueAttributeName::RedrivePolicy,
        )
        .await
        .expect("attributes")
        .expect("a redrive policy");
        let policy: serde_json::Value = serde_json::from_str(&policy).expect("JSON");
        assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "5");

        let secret = WebhookSecret::parse(LOCAL_DEFAULT_SECRET).expect("secret");
        let stack: Arc<TestStack> = Arc::new(Stack::new(
            Outage::new(MemoryBackend::new()),
            NoUpstream,
            Webhooks {
                queue: payments,
                secrets: ProviderSecrets::uniform(secret),
            },
            JwtConfig::new("s"),
        ));
        let (_, good, good_pay) = order_paying_by_card(&stack.api.backend).await;
        let (_, down, down_pay) = order_paying_by_card(&stack.api.backend).await;
        let good_message = confirmation(&stack, &good, &good_pay).await;
        let down_message = confirmation(&stack, &down, &down_pay).await;
        stack.api.backend.cut(&down);
        let poller = tokio::spawn(run_poller(Arc::clone(&stack)));

        let queue = &stack.webhooks.queue;
        queue.send(&good_message).await.expect("send");
        queue.send(&down_message).await.expect("send");
        client
            .send_message()
            .queue_url(queue.queue_url())
            .message_body("not a provider message")
            .send()
            .await
            .expect("send poison");

        let applied = stack
            .consumed
            .wait_beyond(
                Provider::Card,
                &good_message.webhook_id,
                0,
                Duration::from_secs(20),
            )
            .await;
        assert_eq!(applied, Some(Outcome::Acknowledged));
        assert_eq!(
            status(&stack, &good, &good_pay).await,
            PaymentStatus::Succeeded
        );

        let mut last = None;
        for n in 0..u64::from(MAX_RECEIVES) {
            last = stack
                .consumed
                .wait_beyond(
                    Provider::Card,
                    &down_message.webhook_id,
                    n,
                    Duration::from_secs(20),
                )
                .await;
            assert!(last.is_some(), "receive {} of the failing message", n + 1);
        }
        assert_eq!(last, Some(Outcome::DeadLettered));
        assert_eq!(
            status(&stack, &down, &down_pay).await,
            PaymentStatus::Processing
        );

        // SQS moves them on the receive after the last one.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let letters = loop {
            let letters = queue.dead_letters().await.expect("dead letters");
            if letters.len() >= 2 || tokio::time::Instant::now() > deadline {
                break letters;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(letters.len(), 2, "{letters:?}");
        let failing = letters
            .iter()
            .find(|l| l.webhook_id.as_deref() == Some(down_message.webhook_id.as_str()))
            .expect("the failing confirmation is dead-lettered");
        assert_eq!(failing.provider.as_deref(), Some("card"));
        assert_eq!(failing.receive_count, MAX_RECEIVES);
        assert_eq!(failing.body["type"], "payment.succeeded");
        let poison = letters
            .iter()
            .find(|l| l.provider.is_none())
            .expect("the poison message is dead-lettered");
        assert_eq!(poison.body, "not a provider message");
        assert_eq!(poison.receive_count, MAX_RECEIVES);
        // Listing leaves them there.
        assert_eq!(queue.dead_letters().await.expect("again").len(), 2);
        // The applied confirmation was deleted: never handled again.
        assert_eq!(
            stack
                .consumed
                .times(Provider::Card, &good_message.webhook_id),
            1
        );
        poller.abort();
    }

    #[test]
    fn queue_settings_default_from_the_queue_name_and_the_endpoint() {
        let none = |_: &str| None;
        assert_eq!(
            QueueSettings::from_lookup(none, true),
            QueueSettings {
                queue: DEFAULT_QUEUE.to_owned(),
                dlq: format!("{DEFAULT_QUEUE}-dlq"),
                wait_seconds: 0,
            }
        );
        assert_eq!(QueueSettings::from_lookup(none, false).wait_seconds, 20);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let named = QueueSettings::from_lookup(
            env(&[
                ("PAYMENT_QUEUE_NAME", "q1"),
                ("PAYMENT_QUEUE_WAIT_SECONDS", "99"),
            ]),
            true,
        );
        assert_eq!(named.queue, "q1");
        assert_eq!(named.dlq, "q1-dlq");
        assert_eq!(named.wait_seconds, 20);
        let own = QueueSettings::from_lookup(
            env(&[
                ("PAYMENT_DLQ_NAME", "dead"),
                ("PAYMENT_QUEUE_WAIT_SECONDS", "x"),
            ]),
            false,
        );
        assert_eq!(own.dlq, "dead");
        assert_eq!(own.wait_seconds, 20);
    }
}
