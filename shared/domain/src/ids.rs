//! Identifiers. The domain never invents random ids (it is pure): callers
//! generate them and the domain only checks their shape. Ids the domain must
//! derive (refund parts, wire references) are deterministic.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {max} characters")]
    TooLong { kind: &'static str, max: usize },
    #[error("{kind} must start with {prefix:?}")]
    WrongPrefix {
        kind: &'static str,
        prefix: &'static str,
    },
    #[error("{kind} may contain only letters, digits, '-', '_', '.', '@' and ':'")]
    BadCharacter { kind: &'static str },
}

fn check(kind: &'static str, prefix: &'static str, max: usize, s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.chars().count() > max {
        return Err(IdError::TooLong { kind, max });
    }
    if !s.starts_with(prefix) || s.len() == prefix.len() {
        return Err(IdError::WrongPrefix { kind, prefix });
    }
    let ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'));
    if !ok {
        return Err(IdError::BadCharacter { kind });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($kind, $prefix, $max, &s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An order, `ord_…`.
    OrderId, "order id", "ord_", 64
);
id_type!(
    /// A payment, `pay_…`.
    PaymentId, "payment id", "pay_", 64
);
id_type!(
    /// One part of a refund, `ref_…`, derived from the payment it returns.
    RefundId, "refund id", "ref_", 100
);
id_type!(
    /// A Pay Later credit-line application, `app_…`.
    ApplicationId, "application id", "app_", 64
);
id_type!(
    /// A user: the JWT `sub` of a buyer, supplier or arbiter.
    UserId, "user id", "", 128
);

impl RefundId {
    /// The id of the `sequence`-th refund part returned through `payment`
    /// (counting from 1). Deterministic, so a retried command derives the
    /// same id and a provider's refund event finds its part.
    pub fn derive(payment: &PaymentId, sequence: u32) -> RefundId {
        let suffix = payment.as_str().trim_start_matches(PaymentId::PREFIX);
        RefundId(format!("ref_{suffix}_{sequence}"))
    }
}
