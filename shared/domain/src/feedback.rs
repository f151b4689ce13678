//! Feedback on a completed order: once, a rating of 1 to 5 and a comment,
//! within 60 days of completion; the supplier's average rating.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::calendar::Timestamp;
use crate::text::LongText;

/// Feedback may be left this many days after the order completed.
pub const FEEDBACK_WINDOW_DAYS: u32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("rating must be a whole number from 1 to 5")]
pub struct RatingError;

/// 1 to 5 stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Rating(u8);

impl Rating {
    pub fn parse(n: i64) -> Result<Rating, RatingError> {
        match n {
            1..=5 => Ok(Rating(n as u8)),
            _ => Err(RatingError),
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Rating {
    type Error = RatingError;
    fn try_from(n: i64) -> Result<Self, RatingError> {
        Rating::parse(n)
    }
}

impl From<Rating> for u8 {
    fn from(r: Rating) -> u8 {
        r.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    pub rating: Rating,
    pub comment: LongText,
    pub at: Timestamp,
}

/// A supplier's feedback summary: how many ratings and their sum, so the
/// average can be kept with one atomic counter update per feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RatingSummary {
    pub count: u64,
    pub sum: u64,
}

impl RatingSummary {
    pub fn add(&mut self, rating: Rating) {
        self.count += 1;
        self.sum += u64::from(rating.get());
    }

    /// The mean rating at exactly 2 places (half away from zero), so `5`
    /// reads "5.00"; `None` with no ratings.
    pub fn average(&self) -> Option<Decimal> {
        if self.count == 0 {
            return None;
        }
        let avg = Decimal::from(self.sum) / Decimal::from(self.count);
        let mut rounded = avg.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        rounded.rescale(2);
        Some(rounded)
    }
}
