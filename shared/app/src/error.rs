//! What a store, queue or bus can answer besides success. Conflicts are
//! typed so the HTTP layer can map them (409 / 422) and retryable faults
//! (429 / 503) are told apart from bugs.

use thiserror::Error;

/// Which condition of an atomic write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// The order changed since it was read (or already exists on create).
    Version,
    /// The supplier's limit no longer has room for the reservation.
    LimitInsufficient,
    /// The buyer's Pay Later credit no longer has room, or is not approved.
    CreditInsufficient,
    /// A live idempotency record for the key already exists.
    Idempotency,
    /// The provider event was already applied.
    Duplicate,
    /// A record that must be new already exists (credit application, …).
    AlreadyExists,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("conflict: {0:?}")]
    Conflict(ConflictKind),
    /// Throttling, a 5xx, a timeout, or a transaction conflict that
    /// persisted after bounded retries: the caller may retry later.
    #[error("the backend is unavailable or throttling; retry later")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A pagination cursor that does not belong to the listing asked for.
    #[error("the cursor is not valid for this listing")]
    InvalidCursor,
    /// A stored item could not be read back (a bug or manual edit).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A request the backend refused that is not a conflict (a bug).
    #[error("backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The item would exceed what the backend stores (DynamoDB: 400 KB).
    /// The order's bounds keep this from happening; should it still, the
    /// caller gets a 422, never a 500, and a provider event is not retried.
    #[error("the record is too large to store")]
    TooLarge,
}

impl StoreError {
    pub fn conflict(kind: ConflictKind) -> Self {
        StoreError::Conflict(kind)
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    pub fn conflict_kind(&self) -> Option<ConflictKind> {
        match self {
            StoreError::Conflict(k) => Some(*k),
            _ => None,
        }
    }
}

/// A queue or bus failure.
#[derive(Debug, Error)]
pub enum MessagingError {
    #[error("the messaging service is unavailable or throttling; retry later")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{failed} of {total} entries were not accepted")]
    Partial { failed: usize, total: usize },
    #[error("messaging error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("message could not be encoded: {0}")]
    Encode(String),
}

/// `error: cause: cause…` for the logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
