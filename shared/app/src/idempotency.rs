//! Idempotency: keys, records, the decision a request takes from what is
//! stored for its key, and the one guard every keyed write goes through.
//!
//! A write that changes an order reads the key's record with the order and
//! stores the completed record in the same commit ([`crate::write`]). A
//! write that cannot carry the record in an order commit (creating an
//! order, a credit-line application) takes a lease first ([`lease`]), so a
//! concurrent duplicate is told the request is in progress, and settles it
//! afterwards ([`settle`]): the response stored for replays, or the lease
//! given up after a server error so that the retry runs at once.

use base64::Engine;
use chrono::TimeDelta;
use domain::calendar::Timestamp;
use domain::ids::UserId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::error::{ConflictKind, StoreError};
use crate::ports::Idempotency;

/// Records are kept at least this long.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;
/// How long an in-progress lease holds before a retry may take over.
pub const IN_PROGRESS_LEASE_SECONDS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
pub struct IdemKeyError;

/// An `Idempotency-Key`, scoped to the caller, method and path. Stored by a
/// digest of the four, so no part can be crafted to collide with another
/// caller's scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdemKey(String);

impl IdemKey {
    pub fn new(caller: &UserId, method: &str, path: &str, key: &str) -> Result<Self, IdemKeyError> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdemKeyError);
        }
        let mut h = Sha256::new();
        for part in [caller.as_str(), method, path, key] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Ok(IdemKey(hex(&h.finalize())))
    }

    /// The storage id (a hex digest).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuild from a stored id.
    pub fn from_stored(id: String) -> Self {
        IdemKey(id)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a request body, to tell a retry from a different request
/// reusing the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayloadHash(String);

impl PayloadHash {
    pub fn of(body: &[u8]) -> Self {
        PayloadHash(base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(body)))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn from_stored(s: String) -> Self {
        PayloadHash(s)
    }
}

/// The response a completed request gave, replayed to its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// Headers a replay must carry too (e.g. a 201's `Location`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IdemState {
    InProgress,
    Complete { response: StoredResponse },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemRecord {
    pub key: IdemKey,
    pub payload_hash: PayloadHash,
    pub state: IdemState,
    pub expires_at: Timestamp,
}

impl IdemRecord {
    pub fn in_progress(key: IdemKey, payload_hash: PayloadHash, now: Timestamp) -> Self {
        IdemRecord {
            key,
            payload_hash,
            state: IdemState::InProgress,
            expires_at: now + TimeDelta::seconds(IN_PROGRESS_LEASE_SECONDS),
        }
    }

    pub fn complete(
        key: IdemKey,
        payload_hash: PayloadHash,
        response: StoredResponse,
        now: Timestamp,
    ) -> Self {
        IdemRecord {
            key,
            payload_hash,
            state: IdemState::Complete { response },
            expires_at: now + TimeDelta::hours(IDEMPOTENCY_TTL_HOURS),
        }
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// What a request does given the record stored for its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemDecision {
    /// No live record: run the request.
    Proceed,
    /// The same request completed: answer with its response again.
    Replay(StoredResponse),
    /// The same key with another body: 422.
    PayloadMismatch,
    /// The same request is still running: 409.
    InProgress,
}

/// Decide from a looked-up record (expired records count as none).
pub fn decide(record: Option<&IdemRecord>, payload: &PayloadHash, now: Timestamp) -> IdemDecision {
    match record.filter(|r| r.is_live(now)) {
        None => IdemDecision::Proceed,
        Some(r) if &r.payload_hash != payload => IdemDecision::PayloadMismatch,
        Some(IdemRecord {
            state: IdemState::Complete { response },
            ..
        }) => IdemDecision::Replay(response.clone()),
        Some(_) => IdemDecision::InProgress,
    }
}

/// A request's `Idempotency-Key`, scoped, and its body's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemRequest {
    pub key: IdemKey,
    pub payload: PayloadHash,
}

/// Why a keyed request cannot run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum IdemConflict {
    /// The same key came with another body (422).
    #[error("the Idempotency-Key was used with another request body")]
    PayloadMismatch,
    /// The same request is still running (409).
    #[error("a request with this Idempotency-Key is still being processed")]
    InProgress,
}

/// What a keyed request does before running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run it.
    Run,
    /// It ran: answer with its response again.
    Replay(StoredResponse),
}

impl IdemRequest {
    /// The verdict from the record stored for the key (if any).
    pub fn verdict(
        &self,
        record: Option<&IdemRecord>,
        now: Timestamp,
    ) -> Result<Verdict, IdemConflict> {
        match decide(record, &self.payload, now) {
            IdemDecision::Proceed => Ok(Verdict::Run),
            IdemDecision::Replay(r) => Ok(Verdict::Replay(r)),
            IdemDecision::PayloadMismatch => Err(IdemConflict::PayloadMismatch),
            IdemDecision::InProgress => Err(IdemConflict::InProgress),
        }
    }

    /// This request's in-progress record.
    pub fn lease_record(&self, now: Timestamp) -> IdemRecord {
        IdemRecord::in_progress(self.key.clone(), self.payload.clone(), now)
    }

    /// This request's completed record, answering `response`.
    pub fn completed(&self, response: StoredResponse, now: Timestamp) -> IdemRecord {
        IdemRecord::complete(self.key.clone(), self.payload.clone(), response, now)
    }
}

/// Why the guard could not decide.
#[derive(Debug, Error)]
pub enum GuardError {
    #[error(transparent)]
    Conflict(#[from] IdemConflict),
    #[error("the idempotency record could not be read or written")]
    Store(#[from] StoreError),
}

/// Take the request's lease: `Run` when it is ours, `Replay` when the same
/// request completed before; a live lease of the same request, or the key
/// with another body, is a conflict.
pub async fn lease<S: Idempotency>(
    store: &S,
    request: &IdemRequest,
    now: Timestamp,
) -> Result<Verdict, GuardError> {
    match store.begin(&request.lease_record(now), now).await {
        Ok(()) => Ok(Verdict::Run),
        Err(StoreError::Conflict(ConflictKind::Idempotency)) => {
            Ok(Verdict::Replay(replay(store, request, now).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// After a keyed write found the key's record moved on without it (the same
/// request committed, its answer lost and its write retried, or another
/// holds the key): replay the stored response, or say why not.
pub async fn replay<S: Idempotency>(
    store: &S,
    request: &IdemRequest,
    now: Timestamp,
) -> Result<StoredResponse, GuardError> {
    let existing = store.get_record(&request.key, now).await?;
    match request.verdict(existing.as_ref(), now)? {
        Verdict::Replay(r) => Ok(r),
        // Nothing completed to replay: whoever holds the key is still on it.
        Verdict::Run => Err(IdemConflict::InProgress.into()),
    }
}

/// Settle the request's lease: store the response for replays, or, with
/// `None` (a server error: nothing to replay), give the lease up so that
/// the retry runs at once (best effort: if that fails too, the lease
/// expires by itself).
pub async fn settle<S: Idempotency>(
    store: &S,
    request: &IdemRequest,
    response: Option<StoredResponse>,
    now: Timestamp,
) -> Result<(), StoreError> {
    match response {
        Some(response) => store.complete(&request.completed(response, now), now).await,
        None => {
            if let Err(e) = store.release(&request.lease_record(now)).await {
                tracing::warn!(error = %crate::error::error_chain(&e), "could not release an idempotency lease; it expires by itself");
            }
            Ok(())
        }
    }
}
