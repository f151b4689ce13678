//! US dollars with exactly two decimal places. Never a float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount must be a plain decimal such as \"1500.00\"")]
    Malformed,
    #[error("amount must not be negative")]
    Negative,
    #[error("amount has more than 2 decimal places")]
    TooPrecise,
    #[error("amount exceeds the largest supported amount of 999999999999.99")]
    TooLarge,
    #[error("currency {0:?} is not supported; only USD is")]
    UnsupportedCurrency(String),
    #[error("the result would be negative")]
    WouldBeNegative,
}

/// The only currency the service takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Currency {
    #[default]
    #[serde(rename = "USD")]
    Usd,
}

impl Currency {
    pub const fn code(self) -> &'static str {
        "USD"
    }

    /// `"USD"` only (exact, upper case); anything else is a clear error.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        if code == "USD" {
            Ok(Currency::Usd)
        } else {
            Err(MoneyError::UnsupportedCurrency(code.to_owned()))
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A non-negative amount of US dollars, always held at scale 2, at most
/// [`Usd::MAX`]. Arithmetic is checked: overflow and negative results are
/// errors, never wrap-around or silent clamping.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Usd(Decimal);

const MAX_INTEGER_DIGITS: usize = 12;

impl Usd {
    pub const ZERO: Usd = Usd(Decimal::from_parts(0, 0, 0, false, 2));
    /// 999,999,999,999.99 — far above any order this service will see, far
    /// below where `Decimal` loses exactness.
    pub const MAX: Usd = Usd::cents_const(99_999_999_999_999);

    /// A constant amount from whole cents, for rule constants. Callers pass
    /// values at most [`Usd::MAX`] in cents.
    pub const fn cents_const(cents: u64) -> Usd {
        Usd(Decimal::from_parts(
            (cents & 0xFFFF_FFFF) as u32,
            (cents >> 32) as u32,
            0,
            false,
            2,
        ))
    }

    /// Strict parse of a decimal string: digits, optionally a point and one
    /// or two digits. No sign, exponent, spaces or separators.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || frac.is_some_and(|f| !digits(f)) {
            return Err(MoneyError::Malformed);
        }
        if negative {
            return Err(MoneyError::Negative);
        }
        if frac.is_some_and(|f| f.len() > 2) {
            return Err(MoneyError::TooPrecise);
        }
        if int.trim_start_matches('0').len() > MAX_INTEGER_DIGITS {
            return Err(MoneyError::TooLarge);
        }
        let value = Decimal::from_str(body).map_err(|_| MoneyError::Malformed)?;
        Self::from_decimal(value)
    }

    /// Accepts a `Decimal` that is non-negative, has at most 2 places and is
    /// at most [`Usd::MAX`].
    pub fn from_decimal(value: Decimal) -> Result<Self, MoneyError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::Negative);
        }
        let normalized = value.normalize();
        if normalized.scale() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        let mut v = normalized.abs();
        v.rescale(2);
        if v > Self::MAX.0 {
            return Err(MoneyError::TooLarge);
        }
        Ok(Usd(v))
    }

    /// A constant amount of whole dollars, for rule constants.
    pub const fn dollars_const(dollars: u64) -> Usd {
        Usd::cents_const(dollars * 100)
    }

    /// Whole cents, e.g. `Usd::from_cents(150_000)` is 1500.00.
    pub fn from_cents(cents: u64) -> Result<Self, MoneyError> {
        Self::from_decimal(Decimal::from_i128_with_scale(i128::from(cents), 2))
    }

    /// Whole dollars, e.g. `Usd::dollars(200)` is 200.00.
    pub fn dollars(whole: u64) -> Result<Self, MoneyError> {
        Self::from_decimal(Decimal::from(whole))
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    /// The amount in whole cents (exact: the scale is always 2).
    pub fn cents(self) -> u64 {
        // Scale 2 and at most MAX: the mantissa is the cents and fits a u64.
        u64::try_from(self.0.mantissa()).unwrap_or(u64::MAX)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn checked_add(self, other: Usd) -> Result<Usd, MoneyError> {
        Self::from_decimal(self.0 + other.0)
    }

    /// `self − other`; an error if that would be negative.
    pub fn checked_sub(self, other: Usd) -> Result<Usd, MoneyError> {
        if other > self {
            return Err(MoneyError::WouldBeNegative);
        }
        Self::from_decimal(self.0 - other.0)
    }

    /// `max(0, self − other)`.
    pub fn saturating_sub(self, other: Usd) -> Usd {
        if other >= self {
            Usd::ZERO
        } else {
            Usd(self.0 - other.0)
        }
    }

    /// `self × quantity`, checked against [`Usd::MAX`].
    pub fn checked_mul(self, quantity: u32) -> Result<Usd, MoneyError> {
        let product = self
            .0
            .checked_mul(Decimal::from(quantity))
            .ok_or(MoneyError::TooLarge)?;
        Self::from_decimal(product)
    }

    /// Σ of the amounts, checked.
    pub fn sum<I: IntoIterator<Item = Usd>>(amounts: I) -> Result<Usd, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Usd::ZERO, |acc, a| acc.checked_add(a))
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl fmt::Debug for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Usd({self})")
    }
}

impl FromStr for Usd {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Usd::parse(s)
    }
}

impl TryFrom<&str> for Usd {
    type Error = MoneyError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Usd::parse(s)
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Usd::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount with its currency, the shape money takes in the API
/// (`{"amount": "1500.00", "currency": "USD"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: Usd,
    pub currency: Currency,
}

impl Money {
    /// Parse an amount string and a currency code together.
    pub fn parse(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let currency = Currency::parse(currency)?;
        Ok(Money {
            amount: Usd::parse(amount)?,
            currency,
        })
    }
}

impl From<Usd> for Money {
    fn from(amount: Usd) -> Self {
        Money {
            amount,
            currency: Currency::Usd,
        }
    }
}

/// `Usd` literals for tests and constants that are known to be valid.
#[macro_export]
macro_rules! usd {
    ($s:literal) => {
        match $crate::money::Usd::parse($s) {
            Ok(v) => v,
            Err(_) => panic!(concat!("invalid usd literal ", $s)),
        }
    };
}
