//! Coverage: what Trade Assurance covers for an order, against the
//! supplier's assurance limit, and when that coverage ends.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::calendar::{Timestamp, plus_days};
use crate::clocks::Clocks;
use crate::ids::UserId;
use crate::money::{MoneyError, Usd};
use crate::text::ShortText;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageType {
    /// Covers the initial payment; the buyer checks quality before shipment.
    /// Ends when the buyer confirms receipt.
    PreShipment,
    /// Covers the full order amount; the buyer checks quality within the
    /// quality window after shipment.
    PostDelivery,
}

/// The amount covered for an order: pre-shipment covers the initial
/// payment, post-delivery the full order amount, each up to what the
/// supplier has available.
pub fn covered_amount(coverage: CoverageType, total: Usd, initial: Usd, available: Usd) -> Usd {
    let wanted = match coverage {
        CoverageType::PreShipment => initial,
        CoverageType::PostDelivery => total,
    };
    wanted.min(available)
}

/// The end of the post-delivery quality window: the earlier of
/// `clocks.quality_days_after_shipment` (180) days after shipment and
/// `clocks.quality_days_after_customs` (15) days after customs clearance (if
/// recorded).
pub fn quality_window_end(
    shipped_at: Timestamp,
    customs_cleared_at: Option<Timestamp>,
    clocks: &Clocks,
) -> Timestamp {
    let by_shipment = plus_days(shipped_at, clocks.quality_days_after_shipment);
    match customs_cleared_at {
        Some(c) => by_shipment.min(plus_days(c, clocks.quality_days_after_customs)),
        None => by_shipment,
    }
}

/// The supplier's bank account that T/T payments are wired to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivingAccount {
    pub bank_name: ShortText,
    pub account_name: ShortText,
    pub account_number: ShortText,
    pub swift: ShortText,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LimitError {
    #[error("the supplier's assurance limit has {available} available, {requested} is needed")]
    Insufficient { requested: Usd, available: Usd },
    #[error("cannot release {requested}: only {reserved} is reserved")]
    ReleaseExceedsReserved { requested: Usd, reserved: Usd },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// A supplier's Trade Assurance limit and what live orders have reserved of
/// it. Invariant: a reservation never makes `reserved` exceed `limit`; the
/// limit itself may be lowered below `reserved` by an arbiter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssuranceLimit {
    pub supplier_id: UserId,
    limit: Usd,
    reserved: Usd,
    pub receiving_account: Option<ReceivingAccount>,
}

impl AssuranceLimit {
    pub fn new(supplier_id: UserId, limit: Usd) -> Self {
        AssuranceLimit {
            supplier_id,
            limit,
            reserved: Usd::ZERO,
            receiving_account: None,
        }
    }

    /// Rebuild from stored figures (any values: a lowered limit may sit
    /// below `reserved`).
    pub fn from_parts(
        supplier_id: UserId,
        limit: Usd,
        reserved: Usd,
        receiving_account: Option<ReceivingAccount>,
    ) -> Self {
        AssuranceLimit {
            supplier_id,
            limit,
            reserved,
            receiving_account,
        }
    }

    pub fn limit(&self) -> Usd {
        self.limit
    }

    pub fn reserved(&self) -> Usd {
        self.reserved
    }

    /// max(0, limit − reserved).
    pub fn available(&self) -> Usd {
        self.limit.saturating_sub(self.reserved)
    }

    /// An arbiter sets a new limit; it may be below what is reserved, in
    /// which case nothing new can be reserved until releases make room.
    pub fn set_limit(&mut self, limit: Usd) {
        self.limit = limit;
    }

    /// Reserve `amount`, refusing anything that would push `reserved` over
    /// `limit`.
    pub fn reserve(&mut self, amount: Usd) -> Result<(), LimitError> {
        let available = self.available();
        if amount > available {
            return Err(LimitError::Insufficient {
                requested: amount,
                available,
            });
        }
        self.reserved = self.reserved.checked_add(amount)?;
        Ok(())
    }

    /// Give back a reservation.
    pub fn release(&mut self, amount: Usd) -> Result<(), LimitError> {
        self.reserved =
            self.reserved
                .checked_sub(amount)
                .map_err(|_| LimitError::ReleaseExceedsReserved {
                    requested: amount,
                    reserved: self.reserved,
                })?;
        Ok(())
    }
}
