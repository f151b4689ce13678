//! The application layer between the pure domain and the outside world:
//! narrow ports, the one write path every change of an order takes
//! ([`write`]), the one idempotency guard ([`idempotency`]), the injected
//! source of ids ([`ids`]), the payment-events consumer, the sweep and the
//! outbox publisher, the one-table key design, the effects an order commit
//! carries, pagination, clocks, and the embedded in-memory backend. The AWS adapters live in `aws-adapters`; the contract suite that
//! both backends must pass is in `test-kit`.

pub mod clock;
pub mod consumer;
pub mod effects;
pub mod error;
pub mod flags;
pub mod idempotency;
pub mod ids;
pub mod memory;
pub mod metrics;
pub mod page;
pub mod ports;
pub mod provider_actions;
pub mod provider_events;
pub mod provider_requests;
pub mod publisher;
pub mod sweep;
pub mod table;
pub mod usecases;
pub mod write;

pub use error::{ConflictKind, MessagingError, StoreError};
