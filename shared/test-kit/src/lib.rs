//! What the tests share, kept out of the production crates (a function's
//! normal dependency tree holds none of it: `tests/src/purity.rs` checks):
//!
//! - [`store_contract`] and [`sweep_contract`]: the store contract every
//!   backend must pass (`contract_suite!`, `sweep_contract_suite!`), run
//!   against the in-memory backend and DynamoDB on moto;
//! - [`outage`]: a backend wrapper that makes chosen orders unreachable;
//! - [`fuzzing`]: the fuzz targets' harness, replayed by `make test`;
//! - [`moto`]: a moto server per test process and SDK configuration that
//!   never reaches real AWS; [`counting`]: SDK calls counted by operation;
//! - [`api`]: the HTTP fixtures (an `Api` on the in-memory backend at a
//!   fixed time, requests as API Gateway hands them over, every route's
//!   rightful point);
//! - [`figures`]: what the reliability tests report for RELIABILITY.md.

pub mod api;
#[cfg(feature = "aws")]
pub mod counting;
pub mod figures;
pub mod fuzzing;
#[cfg(feature = "aws")]
pub mod moto;
pub mod outage;
pub mod providers;
pub mod store_contract;
pub mod sweep_contract;
