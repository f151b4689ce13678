//! The payment queue, in process: what the webhook route sends, the
//! `process-payment-events` consumer receives — in SQS-shaped batches
//! (`SqsEvent`: message ids, the `ApproximateReceiveCount` attribute, at
//! most [`BATCH_SIZE`] records) handed to the same
//! `entry_points::payment_queue::process_batch` the Lambda runs, from a
//! background task ([`run_consumer`]).
//!
//! As SQS with the template's redrive policy would: a message the consumer
//! names in `batchItemFailures` becomes visible again after a short
//! visibility delay and is redelivered; after [`MAX_RECEIVES`] receives
//! without success it moves to the dead-letter list (`GET /_local/dlq`).
//! After a batch acknowledged something the outbox is published, as the
//! gateway does after a successful write.
//!
//! [`Consumed`] counts how often the consumer has handled each (provider,
//! `webhook-id`), so the provider simulator can answer once its delivery
//! was processed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::error::MessagingError;
use app::ports::{ATTR_PROVIDER, ATTR_WEBHOOK_ID};
use app::ports::{Backend, EventBus, PaymentQueue, ProviderMessage};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use domain::actor::Provider;
use entry_points::payment_queue::process_batch;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::stack::Stack;

/// Receives before a message moves to the dead-letter queue: the
/// template's `maxReceiveCount`.
pub const MAX_RECEIVES: u32 = 5;
/// Records per batch: the template's event source mapping `BatchSize`.
pub const BATCH_SIZE: usize = 10;
/// How long a message the consumer failed stays invisible.
pub const REDELIVERY_DELAY: Duration = Duration::from_secs(1);
/// The ARN the in-process queue's records name as their source.
pub const LOCAL_QUEUE_ARN: &str =
    "arn:aws:sqs:us-east-1:000000000000:trade-assurance-local-payments";

/// What the stack's webhook route sends to: a payment queue whose dead
/// letters can be listed.
pub trait StackQueue: PaymentQueue + 'static {
    /// The messages in the dead-letter queue, oldest first.
    fn dead_letters(&self) -> impl Future<Output = Result<Vec<DeadLetter>, MessagingError>> + Send;
}

/// A message in the dead-letter queue, as `GET /_local/dlq` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    /// `None` when the message is not a provider message and carries no
    /// `provider` attribute.
    pub provider: Option<String>,
    pub webhook_id: Option<String>,
    /// How often the consumer received it before it was dead-lettered.
    pub receive_count: u32,
    /// When the webhook route accepted it (business time).
    pub received_at: Option<domain::calendar::Timestamp>,
    /// The provider's webhook body (JSON when it is JSON), or the raw
    /// message body when it is not a provider message.
    pub body: Value,
}

impl DeadLetter {
    /// From a message body (the JSON of a [`ProviderMessage`], or anything
    /// else) and the `provider` / `webhook_id` attributes, if any.
    pub fn from_raw(
        message_id: &str,
        receive_count: u32,
        raw: &str,
        attributes: (Option<String>, Option<String>),
    ) -> Self {
        match serde_json::from_str::<ProviderMessage>(raw) {
            Ok(m) => DeadLetter {
                message_id: message_id.to_owned(),
                provider: Some(m.provider.as_str().to_owned()),
                webhook_id: Some(m.webhook_id),
                receive_count,
                received_at: Some(m.received_at),
                body: serde_json::from_str(&m.body).unwrap_or(Value::String(m.body)),
            },
            Err(_) => DeadLetter {
                message_id: message_id.to_owned(),
                provider: attributes.0,
                webhook_id: attributes.1,
                receive_count,
                received_at: None,
                body: Value::String(raw.to_owned()),
            },
        }
    }
}

/// What became of one delivery of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Applied, a duplicate, no change, or refused for good: deleted.
    Acknowledged,
    /// Named in `batchItemFailures`: delivered again after a delay.
    Redelivered,
    /// Failed on its last allowed receive: moved to the dead-letter queue.
    DeadLettered,
}

impl Outcome {
    /// The outcome of a delivery, from whether the consumer failed it and
    /// how often it has been received.
    pub fn of(failed: bool, receive_count: u32) -> Outcome {
        match (failed, receive_count >= MAX_RECEIVES) {
            (false, _) => Outcome::Acknowledged,
            (true, false) => Outcome::Redelivered,
            (true, true) => Outcome::DeadLettered,
        }
    }
}

/// How often the consumer has handled each (provider, `webhook-id`), and
/// the last outcome.
#[derive(Debug)]
pub struct Consumed {
    seen: Mutex<HashMap<(Provider, String), (u64, Outcome)>>,
    changed: watch::Sender<u64>,
}

impl Default for Consumed {
    fn default() -> Self {
        Consumed {
            seen: Mutex::default(),
            changed: watch::channel(0).0,
        }
    }
}

impl Consumed {
    /// How often the consumer has handled this delivery so far.
    pub fn times(&self, provider: Provider, webhook_id: &str) -> u64 {
        self.get(provider, webhook_id).map_or(0, |(n, _)| n)
    }

    fn get(&self, provider: Provider, webhook_id: &str) -> Option<(u64, Outcome)> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(provider, webhook_id.to_owned()))
            .copied()
    }

    /// The consumer handled one delivery.
    pub fn record(&self, provider: Provider, webhook_id: &str, outcome: Outcome) {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let entry = seen
                .entry((provider, webhook_id.to_owned()))
                .or_insert((0, outcome));
            entry.0 += 1;
            entry.1 = outcome;
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wait until the consumer has handled this delivery more than `times`
    /// times; the last outcome, or `None` after `timeout`.
    pub async fn wait_beyond(
        &self,
        provider: Provider,
        webhook_id: &str,
        times: u64,
        timeout: Duration,
    ) -> Option<Outcome> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.changed.subscribe();
        loop {
            match self.get(provider, webhook_id) {
                Some((n, outcome)) if n > times => return Some(outcome),
                _ => {}
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }
}

/// A message in the in-process queue.
#[derive(Debug, Clone)]
pub struct Stored {
    pub message_id: String,
    pub provider: Provider,
    pub webhook_id: String,
    /// The JSON of the [`ProviderMessage`], as the SQS adapter sends it.
    pub body: String,
    pub receive_count: u32,
    /// Real time, milliseconds since the epoch (`SentTimestamp`).
    sent_at_ms: i64,
    /// `ApproximateFirstReceiveTimestamp`.
    first_received_ms: Option<i64>,
    visible_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    /// Visible or delayed, in the order they (re)entered the queue.
    waiting: VecDeque<Stored>,
    in_flight: Vec<Stored>,
    dead: Vec<DeadLetter>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Woken by every send (a permit is kept if the consumer is busy).
    wake: Notify,
    redelivery_delay: Duration,
}

/// The in-process payment queue; clones share it.
#[derive(Debug, Clone)]
pub struct LocalQueue {
    inner: Arc<Inner>,
}

impl Default for LocalQueue {
    fn default() -> Self {
        LocalQueue::new(REDELIVERY_DELAY)
    }
}

fn real_now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// 128 unguessable bits as a UUID-shaped string (SQS message ids look so).
pub fn fresh_uuid() -> String {
    let (a, b) = (
        app::ids::Entropy::next_u64(&app::ids::OsEntropy),
        app::ids::Entropy::next_u64(&app::ids::OsEntropy),
    );
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

impl LocalQueue {
    /// A queue whose failed messages come back after `redelivery_delay`.
    pub fn new(redelivery_delay: Duration) -> Self {
        LocalQueue {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                wake: Notify::new(),
                redelivery_delay,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages waiting (visible or delayed) and in flight.
    pub fn depth(&self) -> (usize, usize) {
        let state = self.state();
        (state.waiting.len(), state.in_flight.len())
    }

    /// Up to `max` visible messages, oldest first, each with its receive
    /// count raised; they stay in flight until [`LocalQueue::settle`].
    pub fn receive(&self, max: usize, now: Instant) -> Vec<Stored> {
        let mut state = self.state();
        let mut out = Vec::new();
        let mut kept = VecDeque::with_capacity(state.waiting.len());
        while let Some(mut message) = state.waiting.pop_front() {
            if out.len() < max && message.visible_at <= now {
                message.receive_count += 1;
                message.first_received_ms.get_or_insert_with(real_now_ms);
                out.push(message);
            } else {
                kept.push_back(message);
            }
        }
        state.waiting = kept;
        state.in_flight.extend(out.iter().cloned());
        out
    }

    /// Settle a message received: deleted when the consumer did not fail
    /// it; else visible again after the delay, or dead-lettered on its last
    /// allowed receive.
    pub fn settle(&self, message_id: &str, failed: bool, now: Instant) -> Outcome {
        let mut state = self.state();
        let Some(at) = state
            .in_flight
            .iter()
            .position(|m| m.message_id == message_id)
        else {
            return Outcome::Acknowledged;
        };
        let mut message = state.in_flight.swap_remove(at);
        let outcome = Outcome::of(failed, message.receive_count);
        match outcome {
            Outcome::Acknowledged => {}
            Outcome::Redelivered => {
                message.visible_at = now + self.inner.redelivery_delay;
                state.waiting.push_back(message);
            }
            Outcome::DeadLettered => {
                tracing::warn!(
                    message_id,
                    provider = %message.provider,
                    webhook_id = message.webhook_id,
                    receive_count = message.receive_count,
                    "payment message moved to the dead-letter queue"
                );
                let dead = DeadLetter::from_raw(
                    &message.message_id,
                    message.receive_count,
                    &message.body,
                    (None, None),
                );
                state.dead.push(dead);
            }
        }
        outcome
    }

    /// When the next delayed message becomes visible.
    pub fn next_visible(&self) -> Option<Instant> {
        self.state().waiting.iter().map(|m| m.visible_at).min()
    }

    /// The batch `process_batch` is handed for these messages.
    pub fn sqs_event(messages: &[Stored]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = messages
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = Some(m.message_id.clone());
                record.receipt_handle = Some(format!("{}:{}", m.message_id, m.receive_count));
                record.body = Some(m.body.clone());
                let first = m.first_received_ms.unwrap_or(m.sent_at_ms);
                record.attributes = HashMap::from([
                    (
                        "ApproximateReceiveCount".to_owned(),
                        m.receive_count.to_string(),
                    ),
                    ("SentTimestamp".to_owned(), m.sent_at_ms.to_string()),
                    (
                        "ApproximateFirstReceiveTimestamp".to_owned(),
                        first.to_string(),
                    ),
                    ("SenderId".to_owned(), "local-stack".to_owned()),
                ]);
                record.message_attributes = HashMap::from([
                    (
                        ATTR_PROVIDER.to_owned(),
                        string_attribute(m.provider.as_str()),
                    ),
                    (ATTR_WEBHOOK_ID.to_owned(), string_attribute(&m.webhook_id)),
                ]);
                record.event_source = Some("aws:sqs".to_owned());
                record.event_source_arn = Some(LOCAL_QUEUE_ARN.to_owned());
                record.aws_region = Some("us-east-1".to_owned());
                record
            })
            .collect();
        event
    }
}

fn string_attribute(value: &str) -> SqsMessageAttribute {
    let mut attribute = SqsMessageAttribute::default();
    attribute.data_type = Some("String".to_owned());
    attribute.string_value = Some(value.to_owned());
    attribute
}

impl PaymentQueue for LocalQueue {
    async fn send(&self, message: &ProviderMessage) -> Result<(), MessagingError> {
        let body =
            serde_json::to_string(message).map_err(|e| MessagingError::Encode(e.to_string()))?;
        let stored = Stored {
            message_id: fresh_uuid(),
            provider: message.provider,
            webhook_id: message.webhook_id.clone(),
            body,
            receive_count: 0,
            sent_at_ms: real_now_ms(),
            first_received_ms: None,
            visible_at: Instant::now(),
        };
        self.state().waiting.push_back(stored);
        self.inner.wake.notify_one();
        Ok(())
    }
}

impl StackQueue for LocalQueue {
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, MessagingError> {
        Ok(self.state().dead.clone())
    }
}

/// The message ids a batch response names for redelivery.
pub fn failed_ids(response: &SqsBatchResponse) -> HashSet<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// After a batch: publish the outbox if the consumer acknowledged
/// anything, then count each delivery handled (so a simulator waiting for
/// one finds its events published).
pub async fn finish_batch<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    handled: &[(Option<(Provider, String)>, Outcome)],
) {
    if handled
        .iter()
        .any(|(_, outcome)| *outcome == Outcome::Acknowledged)
    {
        stack.publish_pending().await;
    }
    for (key, outcome) in handled {
        if let Some((provider, webhook_id)) = key {
            stack.consumed.record(*provider, webhook_id, *outcome);
        }
    }
}

/// Hand the consumer one batch of what is visible now; how many messages
/// it held (0: nothing was visible).
pub async fn consume_ready<B: Backend, U: EventBus>(stack: &Stack<B, U, LocalQueue>) -> usize {
    let queue = &stack.webhooks.queue;
    let received = queue.receive(BATCH_SIZE, Instant::now());
    if received.is_empty() {
        return 0;
    }
    let event = LocalQueue::sqs_event(&received);
    let response = process_batch(&stack.api.backend, &stack.clock, &event).await;
    let failed = failed_ids(&response);
    let now = Instant::now();
    let handled: Vec<(Option<(Provider, String)>, Outcome)> = received
        .iter()
        .map(|m| {
            let outcome = queue.settle(&m.message_id, failed.contains(&m.message_id), now);
            (Some((m.provider, m.webhook_id.clone())), outcome)
        })
        .collect();
    finish_batch(stack, &handled).await;
    received.len()
}

/// The consumer task: batches while messages are visible, then sleep until
/// the next send or the next delayed message. Runs until the process ends.
pub async fn run_consumer<B: Backend, U: EventBus>(stack: Arc<Stack<B, U, LocalQueue>>) {
    loop {
        if consume_ready(&stack).await > 0 {
            continue;
        }
        let queue = &stack.webhooks.queue;
        let woken = queue.inner.wake.notified();
        match queue.next_visible() {
            Some(at) => {
                tokio::select! {
                    () = woken => {}
                    () = tokio::time::sleep_until(at) => {}
                }
            }
            None => woken.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::memory::MemoryBackend;
    use app::provider_events::WebhookSecret;
    use domain::ids::{OrderId, PaymentId};
    use domain::payment::PaymentStatus;
    use http_api::webhook::{LOCAL_DEFAULT_SECRET, ProviderSecrets, Webhooks};
    use test_kit::outage::Outage;
    use test_kit::store_contract::{order_paying_by_card, payment_body, stored_order, unique};

    use crate::jwt::JwtConfig;
    use crate::stack::NoUpstream;

    type TestStack = Stack<Outage<MemoryBackend>, NoUpstream, LocalQueue>;

    fn stack(delay: Duration) -> TestStack {
        let secret = WebhookSecret::parse(LOCAL_DEFAULT_SECRET).expect("secret");
        Stack::new(
            Outage::new(MemoryBackend::new()),
            NoUpstream,
            Webhooks {
                queue: LocalQueue::new(delay),
                secrets: ProviderSecrets::uniform(secret),
            },
            JwtConfig::new("s"),
        )
    }

    /// Read past the outage.
    async fn payment_status(stack: &TestStack, order: &OrderId, pay: &PaymentId) -> PaymentStatus {
        let order = stored_order(&stack.api.backend.inner, order).await;
        order.payment(pay).expect("payment").status
    }

    /// The provider's confirmation of the payment, for its amount.
    async fn message_for(stack: &TestStack, order: &OrderId, pay: &PaymentId) -> ProviderMessage {
        let stored = stored_order(&stack.api.backend, order).await;
        let amount = stored.payment(pay).expect("payment").amount.to_string();
        let body = payment_body("payment.succeeded", order, pay, &amount, "USD");
        ProviderMessage {
            provider: Provider::Card,
            webhook_id: unique("msg_"),
            received_at: chrono::Utc::now(),
            body: body.to_string(),
        }
    }

    #[tokio::test]
    async fn a_partial_failure_is_redelivered_and_applied_once_the_order_is_back() {
        let stack = stack(Duration::from_millis(50));
        let backend = &stack.api.backend;
        let (_, down, down_pay) = order_paying_by_card(backend).await;
        let (_, up, up_pay) = order_paying_by_card(backend).await;
        let down_message = message_for(&stack, &down, &down_pay).await;
        let up_message = message_for(&stack, &up, &up_pay).await;
        backend.cut(&down);
        let queue = &stack.webhooks.queue;
        queue.send(&down_message).await.expect("send");
        queue.send(&up_message).await.expect("send");

        // One batch of both: the reachable one is applied and deleted, the
        // other comes back after the delay, not before.
        assert_eq!(consume_ready(&stack).await, 2);
        assert_eq!(
            payment_status(&stack, &up, &up_pay).await,
            PaymentStatus::Succeeded
        );
        assert_eq!(
            payment_status(&stack, &down, &down_pay).await,
            PaymentStatus::Processing
        );
        assert_eq!(queue.depth(), (1, 0));
        assert_eq!(consume_ready(&stack).await, 0, "invisible during the delay");
        let consumed = &stack.consumed;
        assert_eq!(consumed.times(Provider::Card, &up_message.webhook_id), 1);
        assert_eq!(consumed.times(Provider::Card, &down_message.webhook_id), 1);
        // The applied event was published.
        assert!(
            stack
                .bus
                .published()
                .iter()
                .any(|e| e.order_id == up && e.body.detail_type() == "PaymentSucceeded"),
            "{:?}",
            stack.bus.published()
        );

        backend.restore(&down);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let before = queue.receive(BATCH_SIZE, Instant::now());
        assert_eq!(before.len(), 1);
        assert_eq!(before[0].webhook_id, down_message.webhook_id);
        assert_eq!(before[0].receive_count, 2, "the second receive");
        // Put it back as it was received, then let the consumer have it.
        let event = LocalQueue::sqs_event(&before);
        assert_eq!(
            event.records[0].attributes.get("ApproximateReceiveCount"),
            Some(&"2".to_owned())
        );
        let response = process_batch(&stack.api.backend, &stack.clock, &event).await;
        assert!(failed_ids(&response).is_empty());
        assert_eq!(
            queue.settle(&before[0].message_id, false, Instant::now()),
            Outcome::Acknowledged
        );
        assert_eq!(
            payment_status(&stack, &down, &down_pay).await,
            PaymentStatus::Succeeded
        );
        assert_eq!(queue.depth(), (0, 0));
        assert!(queue.dead_letters().await.expect("dlq").is_empty());
    }

    #[tokio::test]
    async fn a_message_failing_five_times_ends_in_the_dead_letter_queue() {
        let stack = stack(Duration::ZERO);
        let backend = &stack.api.backend;
        let (_, order, pay) = order_paying_by_card(backend).await;
        let message = message_for(&stack, &order, &pay).await;
        backend.cut(&order);
        let queue = &stack.webhooks.queue;
        queue.send(&message).await.expect("send");
        for receive in 1..MAX_RECEIVES {
            assert_eq!(consume_ready(&stack).await, 1, "receive {receive}");
            assert!(queue.dead_letters().await.expect("dlq").is_empty());
            assert_eq!(queue.depth(), (1, 0), "back in the queue");
        }
        // The last allowed receive fails too: dead-lettered, not redelivered.
        assert_eq!(consume_ready(&stack).await, 1);
        assert_eq!(consume_ready(&stack).await, 0, "gone from the queue");
        assert_eq!(queue.depth(), (0, 0));
        let dead = queue.dead_letters().await.expect("dlq");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].provider.as_deref(), Some("card"));
        assert_eq!(
            dead[0].webhook_id.as_deref(),
            Some(message.webhook_id.as_str())
        );
        assert_eq!(dead[0].receive_count, MAX_RECEIVES);
        assert_eq!(dead[0].body["type"], "payment.succeeded");
        assert_eq!(
            stack.consumed.times(Provider::Card, &message.webhook_id),
            u64::from(MAX_RECEIVES)
        );
        assert_eq!(
            payment_status(&stack, &order, &pay).await,
            PaymentStatus::Processing
        );
        // Nothing applied, nothing published for the order beyond its setup.
        backend.restore(&order);
        assert_eq!(consume_ready(&stack).await, 0);
    }

    #[tokio::test]
    async fn a_success_is_not_redelivered_and_the_task_consumes_what_is_sent() {
        let stack = Arc::new(stack(Duration::ZERO));
        let (_, order, pay) = order_paying_by_card(&stack.api.backend).await;
        let message = message_for(&stack, &order, &pay).await;
        let consumer = tokio::spawn(run_consumer(Arc::clone(&stack)));
        let before = stack.consumed.times(Provider::Card, &message.webhook_id);
        stack.webhooks.queue.send(&message).await.expect("send");
        let outcome = stack
            .consumed
            .wait_beyond(
                Provider::Card,
                &message.webhook_id,
                before,
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(outcome, Some(Outcome::Acknowledged));
        assert_eq!(
            payment_status(&stack, &order, &pay).await,
            PaymentStatus::Succeeded
        );
        // Given time to come back, it does not.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(stack.consumed.times(Provider::Card, &message.webhook_id), 1);
        assert_eq!(stack.webhooks.queue.depth(), (0, 0));
        assert!(
            stack
                .webhooks
                .queue
                .dead_letters()
                .await
                .expect("dlq")
                .is_empty()
        );
        consumer.abort();
    }

    #[test]
    fn a_batch_holds_at_most_ten_in_send_order_with_their_receive_counts() {
        let queue = LocalQueue::new(Duration::ZERO);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ids: Vec<String> = (0..12).map(|i| format!("msg_{i}")).collect();
        for id in &ids {
            let m = ProviderMessage {
                provider: Provider::Bank,
                webhook_id: id.clone(),
                received_at: chrono::Utc::now(),
                body: "{}".into(),
            };
            runtime.block_on(queue.send(&m)).expect("send");
        }
        let first = queue.receive(BATCH_SIZE, Instant::now());
        assert_eq!(first.len(), 10);
        let got: Vec<&str> = first.iter().map(|m| m.webhook_id.as_str()).collect();
        assert_eq!(
            got,
            ids[..10].iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(first.iter().all(|m| m.receive_count == 1));
        let event = LocalQueue::sqs_event(&first);
        let ids_in_event: HashSet<_> = event
            .records
            .iter()
            .filter_map(|r| r.message_id.clone())
            .collect();
        assert_eq!(ids_in_event.len(), 10, "distinct message ids");
        assert_eq!(
            event.records[0].message_attributes["provider"]
                .string_value
                .as_deref(),
            Some("bank")
        );
        assert_eq!(queue.receive(BATCH_SIZE, Instant::now()).len(), 2);
        assert_eq!(queue.depth(), (0, 12));
    }
}
