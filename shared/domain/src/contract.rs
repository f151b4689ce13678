//! The contract both parties confirm: line items, totals, the initial
//! payment, the ship-by date, quality terms, coverage type and an optional
//! third-party inspection.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::calendar::{Timestamp, end_of_day};
use crate::coverage::CoverageType;
use crate::money::{MoneyError, Usd};
use crate::text::{CountryCode, DocumentRef, LongText, ShortText};

/// Why a set of terms was refused. Each names the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TermsError {
    #[error("a contract needs at least one line item")]
    NoItems,
    #[error("a contract has at most {max} line items")]
    TooManyItems { max: usize },
    #[error("line item {index}: quantity must be greater than zero")]
    ZeroQuantity { index: usize },
    #[error("line item {index}: unit price must be greater than zero")]
    ZeroUnitPrice { index: usize },
    #[error("the initial payment must be greater than zero")]
    ZeroInitialPayment,
    #[error("the initial payment {initial} exceeds the order total {total}")]
    InitialPaymentExceedsTotal { initial: Usd, total: Usd },
    #[error("the order total is too large: {0}")]
    TotalTooLarge(MoneyError),
}

impl TermsError {
    /// The request field the error is about, for field-level problem details.
    pub fn field(&self) -> String {
        match self {
            TermsError::NoItems | TermsError::TooManyItems { .. } => "items".into(),
            TermsError::ZeroQuantity { index } => format!("items[{index}].quantity"),
            TermsError::ZeroUnitPrice { index } => format!("items[{index}].unit_price"),
            TermsError::ZeroInitialPayment | TermsError::InitialPaymentExceedsTotal { .. } => {
                "initial_payment".into()
            }
            TermsError::TotalTooLarge(_) => "items".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub description: ShortText,
    pub quantity: u32,
    pub unit_price: Usd,
}

impl LineItem {
    pub fn subtotal(&self) -> Result<Usd, MoneyError> {
        self.unit_price.checked_mul(self.quantity)
    }
}

/// Third-party inspection agencies the platform works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InspectionAgency {
    #[serde(rename = "SGS")]
    Sgs,
    #[serde(rename = "BV")]
    Bv,
    #[serde(rename = "TUV")]
    Tuv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectionLocation {
    China,
    Overseas,
}

/// An inspection, paid by the buyer as a separate line of the initial
/// payment: US $200 within China, US $300 overseas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspection {
    pub agency: InspectionAgency,
    pub location: InspectionLocation,
}

pub const INSPECTION_FEE_CHINA: Usd = Usd::dollars_const(200);
pub const INSPECTION_FEE_OVERSEAS: Usd = Usd::dollars_const(300);

impl Inspection {
    pub fn fee(&self) -> Usd {
        match self.location {
            InspectionLocation::China => INSPECTION_FEE_CHINA,
            InspectionLocation::Overseas => INSPECTION_FEE_OVERSEAS,
        }
    }
}

pub const MAX_LINE_ITEMS: usize = 100;

/// What a creator or an amendment proposes; [`Terms::new`] checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsDraft {
    pub items: Vec<LineItem>,
    pub shipping_fee: Usd,
    pub initial_payment: Usd,
    pub ship_by: NaiveDate,
    pub quality_terms: LongText,
    pub destination_country: CountryCode,
    pub coverage: CoverageType,
    pub inspection: Option<Inspection>,
    pub contract_document: Option<DocumentRef>,
}

/// Valid terms: at least one item, every quantity and unit price > 0,
/// total = Σ(quantity × unit price) + shipping fee, 0 < initial ≤ total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TermsDraft", into = "TermsDraft")]
pub struct Terms {
    draft: TermsDraft,
    total: Usd,
}

impl TryFrom<TermsDraft> for Terms {
    type Error = TermsError;
    fn try_from(d: TermsDraft) -> Result<Self, TermsError> {
        Terms::new(d)
    }
}

impl From<Terms> for TermsDraft {
    fn from(t: Terms) -> Self {
        t.draft
    }
}

impl Terms {
    pub fn new(draft: TermsDraft) -> Result<Self, TermsError> {
        if draft.items.is_empty() {
            return Err(TermsError::NoItems);
        }
        if draft.items.len() > MAX_LINE_ITEMS {
            return Err(TermsError::TooManyItems {
                max: MAX_LINE_ITEMS,
            });
        }
        let mut total = draft.shipping_fee;
        for (index, item) in draft.items.iter().enumerate() {
            if item.quantity == 0 {
                return Err(TermsError::ZeroQuantity { index });
            }
            if item.unit_price.is_zero() {
                return Err(TermsError::ZeroUnitPrice { index });
            }
            let subtotal = item.subtotal().map_err(TermsError::TotalTooLarge)?;
            total = total
                .checked_add(subtotal)
                .map_err(TermsError::TotalTooLarge)?;
        }
        if draft.initial_payment.is_zero() {
            return Err(TermsError::ZeroInitialPayment);
        }
        if draft.initial_payment > total {
            return Err(TermsError::InitialPaymentExceedsTotal {
                initial: draft.initial_payment,
                total,
            });
        }
        Ok(Terms { draft, total })
    }

    pub fn items(&self) -> &[LineItem] {
        &self.draft.items
    }
    pub fn shipping_fee(&self) -> Usd {
        self.draft.shipping_fee
    }
    /// Σ(quantity × unit price) + shipping fee.
    pub fn total(&self) -> Usd {
        self.total
    }
    pub fn initial_payment(&self) -> Usd {
        self.draft.initial_payment
    }
    /// total − initial payment (never negative: initial ≤ total).
    pub fn balance(&self) -> Usd {
        self.total.saturating_sub(self.draft.initial_payment)
    }
    pub fn ship_by(&self) -> NaiveDate {
        self.draft.ship_by
    }
    /// The last instant a shipment is on time: 23:59:59 UTC on the ship-by
    /// date.
    pub fn ship_by_deadline(&self) -> Timestamp {
        end_of_day(self.draft.ship_by)
    }
    pub fn quality_terms(&self) -> &LongText {
        &self.draft.quality_terms
    }
    pub fn destination_country(&self) -> CountryCode {
        self.draft.destination_country
    }
    pub fn coverage(&self) -> CoverageType {
        self.draft.coverage
    }
    pub fn inspection(&self) -> Option<Inspection> {
        self.draft.inspection
    }
    /// The inspection fee (zero without an inspection).
    pub fn inspection_fee(&self) -> Usd {
        self.draft.inspection.map_or(Usd::ZERO, |i| i.fee())
    }
    pub fn contract_document(&self) -> Option<&DocumentRef> {
        self.draft.contract_document.as_ref()
    }
    pub fn draft(&self) -> &TermsDraft {
        &self.draft
    }
}
