//! Idempotency keys, records and the decision a request takes from them.

use base64::Engine;
use chrono::TimeDelta;
use domain::calendar::Timestamp;
use domain::ids::UserId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

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
