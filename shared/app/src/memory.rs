//! The embedded in-memory backend: the local stack's default and the fast
//! path for tests. It enforces the same conditions as the DynamoDB adapter
//! (version checks, limit and credit room, live idempotency records,
//! de-duplication, expiry on read), all-or-nothing under one lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use domain::actor::Provider;
use domain::calendar::Timestamp;
use domain::coverage::{AssuranceLimit, ReceivingAccount};
use domain::event::DomainEvent;
use domain::feedback::{Feedback, RatingSummary};
use domain::ids::{OrderId, UserId};
use domain::order::AttentionKind;
use domain::payment::{CreditLine, CreditLineStatus};
use domain::{Order, Usd};

use crate::effects::{Net, effects_of};
use crate::error::{ConflictKind, MessagingError, StoreError};
use crate::flags::{self, FlagEntry, RefusedEvent};
use crate::idempotency::{IdemKey, IdemRecord, IdemState};
use crate::page::{Cursor, CursorPosition, Page, PageRequest};
use crate::ports::{
    Attention, Commit, CreditLines, DeadlineIndex, Dedup, DedupMark, EventBus, Idempotency,
    Listing, LoadRequest, Loaded, OrderQueries, OrderStore, Outbox, OutboxEntry, PaymentQueue,
    ProviderMessage, StoreResult, SupplierLimits,
};
use crate::table::{
    REFUSED_SK, event_sk, feedback_sk, is_event_sk, is_feedback_sk, is_listing_sk,
    listing_partition, order_flag_sk, order_index_keys, order_pk, refused_pk, sort_ts, supplier_pk,
};

#[derive(Debug, Clone)]
struct EventRow {
    event: DomainEvent,
    published: bool,
}

#[derive(Debug, Default)]
struct State {
    orders: HashMap<OrderId, Order>,
    /// (order pk, event sk) → event.
    events: BTreeMap<(String, String), EventRow>,
    limits: HashMap<UserId, AssuranceLimit>,
    ratings: HashMap<UserId, RatingSummary>,
    /// Per supplier: feedback sort key → feedback.
    feedback: HashMap<UserId, BTreeMap<String, Feedback>>,
    credit: HashMap<UserId, CreditLine>,
    idempotency: HashMap<IdemKey, IdemRecord>,
    dedup: HashMap<(Provider, String), Timestamp>,
    /// Open flags and refused provider events, by item key (pk, sk).
    flags: BTreeMap<(String, String), FlagEntry>,
}

/// Every store port over one in-process state. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
    /// The largest order document (JSON bytes) a commit may store, like
    /// DynamoDB's item limit: 0 stores anything.
    max_order_bytes: Arc<std::sync::atomic::AtomicUsize>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuse (`TooLarge`) a commit whose order document exceeds `bytes`,
    /// as DynamoDB refuses an item over 400 KB (for tests of that path).
    pub fn with_max_order_bytes(self, bytes: usize) -> Self {
        self.set_max_order_bytes(bytes);
        self
    }

    /// [`MemoryBackend::with_max_order_bytes`] from now on (0: no limit).
    pub fn set_max_order_bytes(&self, bytes: usize) {
        self.max_order_bytes
            .store(bytes, std::sync::atomic::Ordering::SeqCst);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied commit
        // (commits check everything before changing anything).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn conflict<T>(kind: ConflictKind) -> StoreResult<T> {
    Err(StoreError::conflict(kind))
}

fn live_idem(state: &State, key: &IdemKey, now: Timestamp) -> Option<IdemRecord> {
    state
        .idempotency
        .get(key)
        .filter(|r| r.is_live(now))
        .cloned()
}

/// May `record` be written over what is stored for its key?
fn idem_writable(state: &State, record: &IdemRecord, now: Timestamp) -> bool {
    match live_idem(state, &record.key, now) {
        None => true,
        Some(existing) => {
            existing.state == IdemState::InProgress
                && existing.payload_hash == record.payload_hash
                && matches!(record.state, IdemState::Complete { .. })
        }
    }
}

fn dedup_live(state: &State, provider: Provider, event_id: &str, now: Timestamp) -> bool {
    state
        .dedup
        .get(&(provider, event_id.to_owned()))
        .is_some_and(|exp| now < *exp)
}

impl OrderStore for MemoryBackend {
    async fn load(&self, request: LoadRequest<'_>, now: Timestamp) -> StoreResult<Loaded> {
        let state = self.lock();
        Ok(Loaded {
            order: state.orders.get(request.order).cloned(),
            idempotency: request.idempotency.and_then(|k| live_idem(&state, k, now)),
            limit: request.limit_of.and_then(|s| state.limits.get(s).cloned()),
            credit: request.credit_of.and_then(|b| state.credit.get(b).cloned()),
        })
    }

    async fn commit(&self, c: Commit<'_>) -> StoreResult<()> {
        let mut state = self.lock();
        let id = c.order.id();
        // Check every condition first…
        match (c.expected_revision, state.orders.get(id)) {
            (None, Some(_)) => return conflict(ConflictKind::Version),
            (Some(_), None) => return conflict(ConflictKind::Version),
            (Some(r), Some(stored)) if stored.revision() != r => {
                return conflict(ConflictKind::Version);
            }
            _ => {}
        }
        let max = self
            .max_order_bytes
            .load(std::sync::atomic::Ordering::SeqCst);
        if max > 0 {
            let size = serde_json::to_vec(c.order).map_or(usize::MAX, |v| v.len());
            if size > max {
                return Err(StoreError::TooLarge);
            }
        }
        let pk = order_pk(id);
        let event_keys: Vec<(String, String)> = c
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| (pk.clone(), event_sk(c.order.revision(), e.at, i)))
            .collect();
        if event_keys.iter().any(|k| state.events.contains_key(k)) {
            return conflict(ConflictKind::Version);
        }
        if let Some(rec) = c.idempotency
            && !idem_writable(&state, rec, c.now)
        {
            return conflict(ConflictKind::Idempotency);
        }
        if let Some(d) = c.dedup
            && dedup_live(&state, d.provider, &d.event_id, c.now)
        {
            return conflict(ConflictKind::Duplicate);
        }
        let effects = effects_of(c.events);
        let mut limits = Vec::new();
        for (supplier, net) in &effects.limits {
            let mut limit = state
                .limits
                .get(supplier)
                .cloned()
                .ok_or(StoreError::conflict(ConflictKind::LimitInsufficient))?;
            let ok = match net {
                Net::Reserve(a) => limit.reserve(*a).is_ok(),
                Net::Release(a) => limit.release(*a).is_ok(),
            };
            if !ok {
                return conflict(ConflictKind::LimitInsufficient);
            }
            limits.push(limit);
        }
        let mut credit = Vec::new();
        for (buyer, net) in &effects.credit {
            let mut line = state
                .credit
                .get(buyer)
                .cloned()
                .ok_or(StoreError::conflict(ConflictKind::CreditInsufficient))?;
            let ok = match net {
                Net::Reserve(a) => line.reserve(*a).is_ok(),
                Net::Release(a) => line.release(*a).is_ok(),
            };
            if !ok {
                return conflict(ConflictKind::CreditInsufficient);
            }
            credit.push((buyer.clone(), line));
        }
        // …then apply all of it.
        state.orders.insert(id.clone(), c.order.clone());
        for (key, event) in event_keys.into_iter().zip(c.events) {
            state.events.insert(
                key,
                EventRow {
                    event: event.clone(),
                    published: false,
                },
            );
        }
        if let Some(rec) = c.idempotency {
            state.idempotency.insert(rec.key.clone(), rec.clone());
        }
        if let Some(d) = c.dedup {
            state
                .dedup
                .insert((d.provider, d.event_id.clone()), d.expires_at);
        }
        let flag_changes = flags::changes(c.previous_flags, &c.order.open_flags());
        for (kind, subject) in &flag_changes.delete {
            state
                .flags
                .remove(&(pk.clone(), order_flag_sk(*kind, subject)));
        }
        for flag in &flag_changes.put {
            state.flags.insert(
                (pk.clone(), order_flag_sk(flag.kind, &flag.subject)),
                FlagEntry::of_order(id, flag),
            );
        }
        for limit in limits {
            state.limits.insert(limit.supplier_id.clone(), limit);
        }
        for (buyer, line) in credit {
            state.credit.insert(buyer, line);
        }
        for (supplier, (count, sum)) in effects.ratings {
            let r = state.ratings.entry(supplier.clone()).or_default();
            r.count += count;
            r.sum += sum;
            if let Some(f) = c.order.feedback() {
                state
                    .feedback
                    .entry(supplier)
                    .or_default()
                    .insert(feedback_sk(f.at, id), f.clone());
            }
        }
        Ok(())
    }

    async fn history(&self, order: &OrderId, page: &PageRequest) -> StoreResult<Page<DomainEvent>> {
        let pk = order_pk(order);
        let after = match &page.cursor {
            Some(c) => Some(
                c.position_in(&pk, is_event_sk)
                    .map_err(|_| StoreError::InvalidCursor)?
                    .sort_key,
            ),
            None => None,
        };
        let state = self.lock();
        let rows: Vec<(&String, &EventRow)> = state
            .events
            .range((pk.clone(), String::new())..)
            .take_while(|((p, _), _)| *p == pk)
            .filter(|((_, sk), _)| after.as_ref().is_none_or(|a| sk > a))
            .take(page.limit as usize + 1)
            .map(|((_, sk), row)| (sk, row))
            .collect();
        let more = rows.len() > page.limit as usize;
        let rows = &rows[..rows.len().min(page.limit as usize)];
        let next_cursor = match (more, rows.last()) {
            (true, Some((sk, _))) => Some(Cursor::encode(&CursorPosition {
                partition: pk.clone(),
                sort_key: (*sk).clone(),
                order_id: order.to_string(),
            })),
            _ => None,
        };
        Ok(Page {
            items: rows.iter().map(|(_, row)| row.event.clone()).collect(),
            next_cursor,
        })
    }
}

impl OrderQueries for MemoryBackend {
    async fn list(&self, listing: &Listing, page: &PageRequest) -> StoreResult<Page<Order>> {
        let (partition, newest_first) = listing_partition(listing);
        let start = match &page.cursor {
            Some(c) => Some(
                c.position_in(&partition, is_listing_sk)
                    .map_err(|_| StoreError::InvalidCursor)?,
            ),
            None => None,
        };
        let state = self.lock();
        let mut rows: Vec<(String, &Order)> = state
            .orders
            .values()
            .filter_map(|o| {
                let keys = order_index_keys(o);
                let in_listing = match listing {
                    Listing::Buyer(_) => keys.buyer_pk == partition,
                    Listing::Supplier(_) => keys.supplier_pk == partition,
                    Listing::Disputes(_) => {
                        keys.dispute.as_ref().is_some_and(|(p, _)| *p == partition)
                    }
                };
                let sk = match listing {
                    Listing::Disputes(_) => keys.dispute.map(|(_, s)| s),
                    _ => Some(keys.list_sk),
                }?;
                in_listing.then_some((sk, o))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        if newest_first {
            rows.reverse();
        }
        let after: Vec<_> = rows
            .into_iter()
            .filter(|(sk, _)| match &start {
                None => true,
                Some(pos) if newest_first => *sk < pos.sort_key,
                Some(pos) => *sk > pos.sort_key,
            })
            .collect();
        let more = after.len() > page.limit as usize;
        let items: Vec<(String, Order)> = after
            .into_iter()
            .take(page.limit as usize)
            .map(|(sk, o)| (sk, o.clone()))
            .collect();
        let next_cursor = match (more, items.last()) {
            (true, Some((sk, o))) => Some(Cursor::encode(&CursorPosition {
                partition,
                sort_key: sk.clone(),
                order_id: o.id().to_string(),
            })),
            _ => None,
        };
        Ok(Page {
            items: items.into_iter().map(|(_, o)| o).collect(),
            next_cursor,
        })
    }
}

impl DeadlineIndex for MemoryBackend {
    async fn due(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<OrderId>> {
        let state = self.lock();
        let mut due: Vec<(Timestamp, OrderId)> = state
            .orders
            .values()
            .filter_map(|o| {
                o.next_sweep_due()
                    .filter(|t| *t <= now)
                    .map(|t| (t, o.id().clone()))
            })
            .collect();
        due.sort();
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|(_, id)| id)
            .collect())
    }
}

impl Outbox for MemoryBackend {
    async fn unpublished(&self, limit: u32) -> StoreResult<Vec<OutboxEntry>> {
        let state = self.lock();
        let mut rows: Vec<(String, OutboxEntry)> = state
            .events
            .iter()
            .filter(|(_, row)| !row.published)
            .map(|((pk, sk), row)| {
                (
                    format!("{}#{pk}#{sk}", sort_ts(row.event.at)),
                    OutboxEntry {
                        id: format!("{pk}|{sk}"),
                        event: row.event.clone(),
                    },
                )
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rows
            .into_iter()
            .take(limit as usize)
            .map(|(_, e)| e)
            .collect())
    }

    async fn mark_published(&self, ids: &[String]) -> StoreResult<()> {
        let mut state = self.lock();
        for id in ids {
            if let Some((pk, sk)) = id.split_once('|')
                && let Some(row) = state.events.get_mut(&(pk.to_owned(), sk.to_owned()))
            {
                row.published = true;
            }
        }
        Ok(())
    }
}

impl SupplierLimits for MemoryBackend {
    async fn get_limit(&self, supplier: &UserId) -> StoreResult<Option<AssuranceLimit>> {
        Ok(self.lock().limits.get(supplier).cloned())
    }

    async fn set_limit(
        &self,
        supplier: &UserId,
        limit: Usd,
        receiving_account: Option<&ReceivingAccount>,
    ) -> StoreResult<AssuranceLimit> {
        let mut state = self.lock();
        let entry = state
            .limits
            .entry(supplier.clone())
            .or_insert_with(|| AssuranceLimit::new(supplier.clone(), Usd::ZERO));
        entry.set_limit(limit);
        if let Some(account) = receiving_account {
            entry.receiving_account = Some(account.clone());
        }
        Ok(entry.clone())
    }

    async fn rating(&self, supplier: &UserId) -> StoreResult<RatingSummary> {
        Ok(self
            .lock()
            .ratings
            .get(supplier)
            .copied()
            .unwrap_or_default())
    }

    async fn feedback(&self, supplier: &UserId, page: &PageRequest) -> StoreResult<Page<Feedback>> {
        let partition = supplier_pk(supplier);
        let before = match &page.cursor {
            Some(c) => Some(
                c.position_in(&partition, is_feedback_sk)
                    .map_err(|_| StoreError::InvalidCursor)?
                    .sort_key,
            ),
            None => None,
        };
        let state = self.lock();
        let rows: Vec<(String, Feedback)> = state
            .feedback
            .get(supplier)
            .map(|m| {
                m.iter()
                    .rev()
                    .filter(|(sk, _)| before.as_ref().is_none_or(|b| *sk < b))
                    .take(page.limit as usize + 1)
                    .map(|(sk, f)| (sk.clone(), f.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let more = rows.len() > page.limit as usize;
        let rows: Vec<(String, Feedback)> = rows.into_iter().take(page.limit as usize).collect();
        let next_cursor = match (more, rows.last()) {
            (true, Some((sk, _))) => Some(Cursor::encode(&CursorPosition {
                partition,
                sort_key: sk.clone(),
                order_id: String::new(),
            })),
            _ => None,
        };
        Ok(Page {
            items: rows.into_iter().map(|(_, f)| f).collect(),
            next_cursor,
        })
    }
}

impl CreditLines for MemoryBackend {
    async fn get_credit(&self, buyer: &UserId) -> StoreResult<Option<CreditLine>> {
        Ok(self.lock().credit.get(buyer).cloned())
    }

    async fn apply_for_credit(&self, line: &CreditLine) -> StoreResult<()> {
        let mut state = self.lock();
        match state.credit.get(&line.buyer_id) {
            // The same application again: a retried write, already done.
            Some(l) if l.application_id == line.application_id => return Ok(()),
            Some(l) if l.status() != CreditLineStatus::Declined => {
                return conflict(ConflictKind::AlreadyExists);
            }
            _ => {}
        }
        state.credit.insert(line.buyer_id.clone(), line.clone());
        Ok(())
    }

    async fn decide_credit(&self, line: &CreditLine, dedup: Option<&DedupMark>) -> StoreResult<()> {
        let mut state = self.lock();
        let pending = state.credit.get(&line.buyer_id).is_some_and(|l| {
            l.status() == CreditLineStatus::Pending && l.application_id == line.application_id
        });
        if !pending {
            return conflict(ConflictKind::Version);
        }
        if let Some(d) = dedup {
            let now = line.decided_at.unwrap_or(line.applied_at);
            if dedup_live(&state, d.provider, &d.event_id, now) {
                return conflict(ConflictKind::Duplicate);
            }
            state
                .dedup
                .insert((d.provider, d.event_id.clone()), d.expires_at);
        }
        state.credit.insert(line.buyer_id.clone(), line.clone());
        Ok(())
    }
}

impl Idempotency for MemoryBackend {
    async fn get_record(&self, key: &IdemKey, now: Timestamp) -> StoreResult<Option<IdemRecord>> {
        Ok(live_idem(&self.lock(), key, now))
    }

    async fn begin(&self, record: &IdemRecord, now: Timestamp) -> StoreResult<()> {
        let mut state = self.lock();
        if live_idem(&state, &record.key, now).is_some() {
            return conflict(ConflictKind::Idempotency);
        }
        state.idempotency.insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn complete(&self, record: &IdemRecord, now: Timestamp) -> StoreResult<()> {
        let mut state = self.lock();
        if !idem_writable(&state, record, now) {
            return conflict(ConflictKind::Idempotency);
        }
        state.idempotency.insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn release(&self, record: &IdemRecord) -> StoreResult<()> {
        let mut state = self.lock();
        let own_lease = state.idempotency.get(&record.key).is_some_and(|r| {
            r.state == IdemState::InProgress && r.payload_hash == record.payload_hash
        });
        if own_lease {
            state.idempotency.remove(&record.key);
        }
        Ok(())
    }
}

impl Attention for MemoryBackend {
    async fn flags(
        &self,
        kind: Option<AttentionKind>,
        page: &PageRequest,
        now: Timestamp,
    ) -> StoreResult<Page<FlagEntry>> {
        let after = flags::resume_after(kind, page).map_err(|_| StoreError::InvalidCursor)?;
        let state = self.lock();
        let per_partition = flags::partitions(kind)
            .into_iter()
            .map(|k| {
                let mut of_kind: Vec<(String, &FlagEntry)> = state
                    .flags
                    .values()
                    .filter(|e| e.kind == k)
                    .map(|e| (e.index_sort_key(), e))
                    .filter(|(sk, _)| after.as_ref().is_none_or(|a| sk > a))
                    .collect();
                of_kind.sort_by(|a, b| a.0.cmp(&b.0));
                of_kind
                    .into_iter()
                    .take(page.limit as usize + 1)
                    .map(|(_, e)| e.clone())
                    .collect()
            })
            .collect();
        Ok(flags::merge(kind, per_partition, page, now))
    }

    async fn record_refused(&self, event: &RefusedEvent) -> StoreResult<()> {
        let mut state = self.lock();
        let key = (
            refused_pk(event.provider, &event.webhook_id),
            REFUSED_SK.to_owned(),
        );
        state.flags.entry(key).or_insert_with(|| event.entry());
        Ok(())
    }
}

impl Dedup for MemoryBackend {
    async fn seen(&self, provider: Provider, event_id: &str, now: Timestamp) -> StoreResult<bool> {
        Ok(dedup_live(&self.lock(), provider, event_id, now))
    }
}

/// An in-process payment queue: what was sent, in order.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueue {
    sent: Arc<Mutex<Vec<ProviderMessage>>>,
}

impl MemoryQueue {
    /// Everything sent so far (kept).
    pub fn sent(&self) -> Vec<ProviderMessage> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Take everything sent so far.
    pub fn drain(&self) -> Vec<ProviderMessage> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl PaymentQueue for MemoryQueue {
    async fn send(&self, message: &ProviderMessage) -> Result<(), MessagingError> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message.clone());
        Ok(())
    }
}

/// An in-process event bus: every event published, in order.
#[derive(Debug, Clone, Default)]
pub struct MemoryBus {
    published: Arc<Mutex<Vec<DomainEvent>>>,
}

impl MemoryBus {
    pub fn published(&self) -> Vec<DomainEvent> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl EventBus for MemoryBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), MessagingError> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(events);
        Ok(())
    }
}
