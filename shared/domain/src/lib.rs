//! The Trade Assurance domain, pure: types, rules and the order state
//! machine. No I/O, no clock (every command is given `now`), no async, no
//! AWS or HTTP; money is [`money::Usd`], never a float.
//!
//! Commands on an [`order::Order`] return the [`event::DomainEvent`]s they
//! caused. Effects on other aggregates travel in those events and are
//! applied by the caller in the same atomic write: `CoverageReserved` /
//! `ReservationReleased` on the supplier's [`coverage::AssuranceLimit`],
//! `CreditReserved` / `CreditReleased` on the buyer's
//! [`payment::CreditLine`].

pub mod actor;
pub mod calendar;
pub mod clocks;
pub mod contract;
pub mod coverage;
pub mod deadline;
pub mod dispute;
pub mod error;
pub mod event;
pub mod feedback;
pub mod ids;
pub mod money;
pub mod order;
pub mod payment;
pub mod refund;
pub mod status;
pub mod text;

pub use actor::{Actor, ActorKind, Caller, Party, Provider, Role};
pub use calendar::Timestamp;
pub use error::{ErrorKind, OrderError};
pub use money::{Currency, Money, MoneyError, Usd};
pub use order::Order;
pub use status::OrderStatus;
