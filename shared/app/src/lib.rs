//! The application layer between the pure domain and the outside world:
//! narrow ports, the one-table key design, the effects an order commit
//! carries, idempotency and pagination, clocks, and the embedded in-memory
//! backend. The AWS adapters live in `aws-adapters`; the contract suite that
//! both backends must pass is in `test-kit`.

pub mod clock;
pub mod consumer;
pub mod effects;
pub mod error;
pub mod idempotency;
pub mod memory;
pub mod page;
pub mod ports;
pub mod publisher;
pub mod sweep;
pub mod table;
pub mod usecases;
pub mod webhooks;

pub use error::{ConflictKind, MessagingError, StoreError};
