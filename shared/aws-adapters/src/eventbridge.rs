//! The domain event bus on EventBridge. Every [`DomainEvent`] becomes one
//! entry: source [`SOURCE`], detail-type [`EventBody::detail_type`], the
//! event's JSON as detail and its instant as the event time.
//!
//! PutEvents takes at most ten entries and may accept some of them only (a
//! 200 with `FailedEntryCount > 0`). Entries it did not accept are sent
//! again — only those — a bounded number of times with a short exponential
//! backoff; throttling and 5xx answers are retried the same way. What still
//! fails is reported (`Partial` / `Unavailable`) and stays in the outbox, so
//! the sweep publishes it later: delivery is at least once.
//!
//! [`EventBody::detail_type`]: domain::event::EventBody::detail_type

use std::time::Duration;

use app::error::MessagingError;

use crate::transient::is_transient;
use app::ports::EventBus;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::DateTime;
use aws_smithy_types::error::display::DisplayErrorContext;
use domain::calendar::Timestamp;
use domain::event::DomainEvent;

/// The source of every event this service publishes.
pub const SOURCE: &str = "trade-assurance";
/// PutEvents accepts at most this many entries per request.
pub const MAX_ENTRIES_PER_REQUEST: usize = 10;
/// Attempts per entry (the first send included) before giving up.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// The wait before the first retry; it doubles with every further one.
pub const DEFAULT_RETRY_BASE_DELAY: Duration = Duration::from_millis(50);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry).
    fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(1u32 << doublings)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: DEFAULT_RETRY_BASE_DELAY,
        }
    }
}

/// The domain event bus.
#[derive(Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
    retry: RetryPolicy,
}

impl EventBridgeBus {
    /// The bus `bus_name`, with a client built from the shared SDK
    /// configuration.
    pub fn from_config(config: &aws_types::SdkConfig, bus_name: impl Into<String>) -> Self {
        EventBridgeBus::new(Client::new(config), bus_name)
    }

    /// `bus_name` is the bus's name or ARN.
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        EventBridgeBus {
            client,
            bus_name: bus_name.into(),
            retry: RetryPolicy::default(),
        }
    }

    /// The wait before the first retry (default 50 ms); it doubles with
    /// every further retry.
    pub fn with_retry_base_delay(mut self, delay: Duration) -> Self {
        self.retry.base_delay = delay;
        self
    }

    /// Attempts per entry, the first send included (default 4, at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.retry.max_attempts = attempts.max(1);
        self
    }

    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }
}

/// Create the bus named `bus_name` if it does not exist (the local stack;
/// in AWS the SAM template's `AWS::Events::EventBus` creates it, with a
/// name and nothing else). `true` if this call created it. DescribeEventBus
/// first; a bus created meanwhile by someone else counts as existing.
pub async fn create_bus_if_missing(
    client: &Client,
    bus_name: &str,
) -> Result<bool, MessagingError> {
    match client.describe_event_bus().name(bus_name).send().await {
        Ok(_) => return Ok(false),
        Err(e) if e.code() == Some("ResourceNotFoundException") => {}
        Err(e) => return Err(bus_setup_error(e)),
    }
    match client.create_event_bus().name(bus_name).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ResourceAlreadyExistsException") => Ok(false),
        Err(e) => Err(bus_setup_error(e)),
    }
}

fn bus_setup_error<E>(err: SdkError<E, HttpResponse>) -> MessagingError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match sdk_failure(err) {
        SdkFailure::Transient(e) => MessagingError::Unavailable(e),
        SdkFailure::Fatal(e) => MessagingError::Backend(e),
    }
}

impl std::fmt::Debug for EventBridgeBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBridgeBus")
            .field("bus_name", &self.bus_name)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), MessagingError> {
        let entries = events
            .iter()
            .map(|event| entry(&self.bus_name, event))
            .collect::<Result<Vec<_>, _>>()?;
        put_all(&self.client, &entries, self.retry).await
    }
}

/// The PutEvents entry for one event.
fn entry(bus_name: &str, event: &DomainEvent) -> Result<PutEventsRequestEntry, MessagingError> {
    let detail = serde_json::to_string(event).map_err(|e| MessagingError::Encode(e.to_string()))?;
    Ok(PutEventsRequestEntry::builder()
        .source(SOURCE)
        .detail_type(event.body.detail_type())
        .detail(detail)
        .event_bus_name(bus_name)
        .time(smithy_time(event.at))
        .build())
}

fn smithy_time(at: Timestamp) -> DateTime {
    // chrono shows a leap second as nanos ≥ 1e9; the SDK type does not.
    DateTime::from_secs_and_nanos(at.timestamp(), at.timestamp_subsec_nanos().min(999_999_999))
}

/// A PutEvents call that failed as a whole.
#[derive(Debug)]
enum SdkFailure {
    /// Throttling, a 5xx, a timeout, the service unreachable.
    Transient(BoxError),
    /// Anything else: a request the service will never accept.
    Fatal(BoxError),
}

/// One PutEvents request: the seam the retry loop is written against.
trait PutEntries {
    /// Send `entries` (at most ten); for each, in order, the error code if
    /// it was not accepted.
    async fn put(
        &self,
        entries: &[PutEventsRequestEntry],
    ) -> Result<Vec<Option<String>>, SdkFailure>;
}

impl PutEntries for Client {
    async fn put(
        &self,
        entries: &[PutEventsRequestEntry],
    ) -> Result<Vec<Option<String>>, SdkFailure> {
        let output = self
            .put_events()
            .set_entries(Some(entries.to_vec()))
            .send()
            .await
            .map_err(sdk_failure)?;
        Ok(result_codes(
            entries.len(),
            output.failed_entry_count(),
            output.entries(),
        ))
    }
}

/// Error code given to every entry when the response's entries cannot be
/// matched with the request's.
const UNMATCHED_RESULT: &str = "UnmatchedResultEntries";

/// The per-entry outcome of a PutEvents response: the result entries are
/// in request order. If they cannot be matched (a count that differs),
/// all entries count as failed unless none failed.
fn result_codes(
    requested: usize,
    failed_entry_count: i32,
    results: &[PutEventsResultEntry],
) -> Vec<Option<String>> {
    if results.len() == requested {
        results
            .iter()
            .map(|r| r.error_code().map(str::to_owned))
            .collect()
    } else if failed_entry_count == 0 {
        vec![None; requested]
    } else {
        vec![Some(UNMATCHED_RESULT.to_owned()); requested]
    }
}

fn sdk_failure<E>(err: SdkError<E, HttpResponse>) -> SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&err) {
        SdkFailure::Transient(Box::new(err))
    } else {
        SdkFailure::Fatal(Box::new(err))
    }
}

/// Publish `entries` in requests of at most ten. A chunk that still has
/// rejected entries after the retries does not stop the others; a chunk
/// that cannot be sent at all (unavailable, refused) does.
async fn put_all<P: PutEntries>(
    putter: &P,
    entries: &[PutEventsRequestEntry],
    retry: RetryPolicy,
) -> Result<(), MessagingError> {
    let total = entries.len();
    let mut failed = 0;
    for chunk in entries.chunks(MAX_ENTRIES_PER_REQUEST) {
        match put_chunk(putter, chunk, retry).await {
            Ok(()) => {}
            Err(ChunkFailure::Rejected(n)) => failed += n,
            Err(ChunkFailure::Unavailable(e)) => {
                tracing::warn!(error = %DisplayErrorContext(&*e), "EventBridge unavailable");
                return Err(MessagingError::Unavailable(e));
            }
            Err(ChunkFailure::Refused(e)) => {
                tracing::error!(error = %DisplayErrorContext(&*e), "EventBridge refused PutEvents");
                return Err(MessagingError::Backend(e));
            }
        }
    }
    if failed > 0 {
        Err(MessagingError::Partial { failed, total })
    } else {
        Ok(())
    }
}

enum ChunkFailure {
    /// This many entries were still rejected after the last attempt.
    Rejected(usize),
    /// The last attempt failed as a whole, transiently.
    Unavailable(BoxError),
    /// A request the service will never accept.
    Refused(BoxError),
}

/// Send one chunk, re-sending only the entries not accepted, up to the
/// policy's attempts. The outcome of the last attempt decides the error.
async fn put_chunk<P: PutEntries>(
    putter: &P,
    chunk: &[PutEventsRequestEntry],
    retry: RetryPolicy,
) -> Result<(), ChunkFailure> {
    let mut pending: Vec<PutEventsRequestEntry> = chunk.to_vec();
    let mut last_transient: Option<BoxError> = None;
    for attempt in 1..=retry.max_attempts.max(1) {
        if attempt > 1 {
            tokio::time::sleep(retry.delay(attempt - 1)).await;
        }
        match putter.put(&pending).await {
            Ok(codes) => {
                last_transient = None;
                let mut still = Vec::new();
                for (i, entry) in pending.into_iter().enumerate() {
                    match codes.get(i) {
                        Some(None) => {}
                        Some(Some(code)) => {
                            tracing::warn!(
                                attempt,
                                code = code.as_str(),
                                detail_type = entry.detail_type().unwrap_or_default(),
                                "EventBridge did not accept an entry"
                            );
                            still.push(entry);
                        }
                        None => still.push(entry),
                    }
                }
                if still.is_empty() {
                    return Ok(());
                }
                pending = still;
            }
            Err(SdkFailure::Transient(e)) => {
                tracing::warn!(attempt, error = %DisplayErrorContext(&*e), "PutEvents failed; will retry");
                last_transient = Some(e);
            }
            Err(SdkFailure::Fatal(e)) => return Err(ChunkFailure::Refused(e)),
        }
    }
    Err(match last_transient {
        Some(e) => ChunkFailure::Unavailable(e),
        None => ChunkFailure::Rejected(pending.len()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;

    use chrono::{TimeZone, Utc};
    use domain::actor::{Actor, Party};
    use domain::event::EventBody;
    use domain::ids::OrderId;
    use domain::status::OrderStatus;

    use super::*;

    fn event(n: usize) -> DomainEvent {
        DomainEvent {
            correlation_id: None,
            order_id: OrderId::parse(format!("ord_{n}")).unwrap(),
            at: Utc.with_ymd_and_hms(2027, 3, 1, 9, 0, 0).unwrap()
                + chrono::TimeDelta::milliseconds(i64::try_from(n).unwrap() * 1_250),
            actor: Actor::Scheduler,
            status: OrderStatus::AwaitingInitialPayment,
            body: EventBody::OrderConfirmed { by: Party::Buyer },
        }
    }

    /// Entries are told apart by their detail (each event has its own order id).
    fn entries(n: usize) -> (Vec<PutEventsRequestEntry>, Vec<String>) {
        let entries: Vec<_> = (0..n).map(|i| entry("bus", &event(i)).unwrap()).collect();
        let details = entries
            .iter()
            .map(|e| e.detail().unwrap().to_owned())
            .collect();
        (entries, details)
    }

    enum Script {
        /// (call number from 1, entry detail) → the error code to answer.
        Reject(HashMap<(usize, String), &'static str>),
        /// Every call fails transiently.
        AlwaysTransient,
        /// Every call is refused.
        AlwaysFatal,
    }

    struct Double {
        script: Script,
        /// The details sent, call by call.
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl Double {
        fn new(script: Script) -> Self {
            Double {
                script,
                calls: Mutex::new(Vec::new()),
            }
        }

        fn calls(&self) -> Vec<Vec<String>> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl PutEntries for Double {
        async fn put(
            &self,
            entries: &[PutEventsRequestEntry],
        ) -> Result<Vec<Option<String>>, SdkFailure> {
            assert!(entries.len() <= MAX_ENTRIES_PER_REQUEST);
            let details: Vec<String> = entries
                .iter()
                .map(|e| e.detail().unwrap().to_owned())
                .collect();
            let call = {
                let mut calls = self.calls.lock().unwrap();
                calls.push(details.clone());
                calls.len()
            };
            match &self.script {
                Script::AlwaysTransient => Err(SdkFailure::Transient("throttled".into())),
                Script::AlwaysFatal => Err(SdkFailure::Fatal("validation".into())),
                Script::Reject(plan) => Ok(details
                    .into_iter()
                    .map(|d| plan.get(&(call, d)).map(|c| (*c).to_owned()))
                    .collect()),
            }
        }
    }

    fn fast(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn only_rejected_entries_are_sent_again_until_all_are_accepted() {
        let (entries, d) = entries(5);
        let double = Double::new(Script::Reject(HashMap::from([
            ((1, d[1].clone()), "ThrottlingException"),
            ((1, d[3].clone()), "InternalFailure"),
            ((2, d[3].clone()), "InternalFailure"),
        ])));
        put_all(&double, &entries, fast(4)).await.unwrap();
        assert_eq!(
            double.calls(),
            vec![
                d.clone(),
                vec![d[1].clone(), d[3].clone()],
                vec![d[3].clone()]
            ]
        );
    }

    #[tokio::test]
    async fn an_entry_still_rejected_after_the_bound_gives_partial() {
        let (entries, d) = entries(4);
        let plan = (1..=4).map(|call| ((call, d[2].clone()), "InternalFailure"));
        let double = Double::new(Script::Reject(plan.collect()));
        let err = put_all(&double, &entries, fast(4)).await.unwrap_err();
        assert!(
            matches!(
                err,
                MessagingError::Partial {
                    failed: 1,
                    total: 4
                }
            ),
            "{err:?}"
        );
        let calls = double.calls();
        assert_eq!(calls.len(), 4, "exactly the bound of attempts");
        assert_eq!(calls[0], d);
        for retry in &calls[1..] {
            assert_eq!(retry, &vec![d[2].clone()]);
        }
    }

    #[tokio::test]
    async fn events_go_in_chunks_of_ten_and_partial_counts_across_chunks() {
        let (entries, d) = entries(23);
        // One entry of the first chunk and one of the last never go through.
        let plan = (1..=20).flat_map(|call| {
            [
                ((call, d[4].clone()), "InternalFailure"),
                ((call, d[21].clone()), "InternalFailure"),
            ]
        });
        let double = Double::new(Script::Reject(plan.collect()));
        let err = put_all(&double, &entries, fast(3)).await.unwrap_err();
        assert!(
            matches!(
                err,
                MessagingError::Partial {
                    failed: 2,
                    total: 23
                }
            ),
            "{err:?}"
        );
        let sizes: Vec<usize> = double.calls().iter().map(Vec::len).collect();
        // chunk 1: 10, then 2 retries of 1; chunk 2: 10; chunk 3: 3, then 2 retries of 1
        assert_eq!(sizes, vec![10, 1, 1, 10, 3, 1, 1]);
        let sent: HashSet<String> = double.calls().into_iter().flatten().collect();
        assert_eq!(sent, d.into_iter().collect::<HashSet<_>>());
    }

    #[tokio::test]
    async fn persistent_throttling_gives_unavailable_after_the_bound() {
        let (entries, _) = entries(12);
        let double = Double::new(Script::AlwaysTransient);
        let err = put_all(&double, &entries, fast(4)).await.unwrap_err();
        assert!(matches!(err, MessagingError::Unavailable(_)), "{err:?}");
        // The first chunk exhausts its attempts; the second is not tried.
        assert_eq!(double.calls().len(), 4);
        assert!(double.calls().iter().all(|c| c.len() == 10));
    }

    #[tokio::test]
    async fn a_refused_request_is_a_backend_error_without_retries() {
        let (entries, _) = entries(3);
        let double = Double::new(Script::AlwaysFatal);
        let err = put_all(&double, &entries, fast(4)).await.unwrap_err();
        assert!(matches!(err, MessagingError::Backend(_)), "{err:?}");
        assert_eq!(double.calls().len(), 1);
    }

    #[tokio::test]
    async fn nothing_to_publish_sends_nothing() {
        let double = Double::new(Script::AlwaysFatal);
        put_all(&double, &[], fast(4)).await.unwrap();
        assert!(double.calls().is_empty());
    }

    #[test]
    fn an_entry_carries_source_detail_type_detail_bus_and_time() {
        let e = event(3);
        let entry = entry("orders-bus", &e).unwrap();
        assert_eq!(entry.source(), Some(SOURCE));
        assert_eq!(entry.detail_type(), Some("OrderConfirmed"));
        assert_eq!(entry.event_bus_name(), Some("orders-bus"));
        assert!(entry.resources().is_empty());
        let time = entry.time().unwrap();
        assert_eq!(time.secs(), e.at.timestamp());
        assert_eq!(time.subsec_nanos(), e.at.timestamp_subsec_nanos());
        let back: DomainEvent = serde_json::from_str(entry.detail().unwrap()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn result_entries_that_cannot_be_matched_count_as_failed() {
        let ok = PutEventsResultEntry::builder().event_id("1").build();
        let bad = PutEventsResultEntry::builder()
            .error_code("InternalFailure")
            .build();
        assert_eq!(
            result_codes(2, 1, &[ok.clone(), bad]),
            vec![None, Some("InternalFailure".to_owned())]
        );
        assert_eq!(result_codes(2, 0, &[]), vec![None, None]);
        assert_eq!(
            result_codes(2, 1, std::slice::from_ref(&ok)),
            vec![Some(UNMATCHED_RESULT.to_owned()); 2]
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_bus_is_created_once_on_moto() {
        use test_kit::moto::{MotoServer, sdk_config};
        let config = sdk_config(&MotoServer::shared().endpoint).await;
        let client = Client::new(&config);
        let name = test_kit::store_contract::unique("ta-bus-");
        let missing = client.describe_event_bus().name(&name).send().await;
        assert_eq!(
            missing.map_err(|e| e.code().map(str::to_owned)).err(),
            Some(Some("ResourceNotFoundException".to_owned()))
        );
        assert!(create_bus_if_missing(&client, &name).await.unwrap());
        let described = client
            .describe_event_bus()
            .name(&name)
            .send()
            .await
            .unwrap();
        assert_eq!(described.name(), Some(name.as_str()));
        assert!(!create_bus_if_missing(&client, &name).await.unwrap());
        // The bus takes events.
        EventBridgeBus::new(client, &name)
            .publish(&[event(1)])
            .await
            .unwrap();
    }

    #[test]
    fn backoff_doubles_from_the_base_delay() {
        let p = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(50),
        };
        assert_eq!(p.delay(1), Duration::from_millis(50));
        assert_eq!(p.delay(2), Duration::from_millis(100));
        assert_eq!(p.delay(3), Duration::from_millis(200));
    }
}
