//! Where new ids and random values come from: one injected source, so that
//! production draws unguessable values and a test (or a fuzz target) draws
//! a repeatable sequence. Order, payment and credit-application ids, and
//! the DynamoDB adapter's client request tokens, all come from here.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::calendar::Timestamp;
use domain::ids::{ApplicationId, IdError, OrderId, PaymentId};

/// A source of 64-bit values.
pub trait Entropy: Send + Sync + 'static {
    fn next_u64(&self) -> u64;
}

/// Unguessable values: a process-wide counter hashed with a freshly
/// OS-seeded `RandomState` (no RNG crate, nothing to set up at cold start).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn next_u64(&self) -> u64 {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        std::collections::hash_map::RandomState::new()
            .hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
    }
}

/// A repeatable sequence (SplitMix64 from a seed): the same seed gives the
/// same ids, which tests and fuzz targets rely on. Never for production.
#[derive(Debug, Default)]
pub struct SeededEntropy(AtomicU64);

impl SeededEntropy {
    pub fn new(seed: u64) -> Self {
        SeededEntropy(AtomicU64::new(seed))
    }
}

impl Entropy for SeededEntropy {
    fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// New ids: `<prefix>_` + the creation instant in microseconds (so ids sort
/// by business time) + 64 bits from the source, in hex.
#[derive(Clone)]
pub struct Ids {
    source: Arc<dyn Entropy>,
}

impl fmt::Debug for Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ids")
    }
}

impl Default for Ids {
    fn default() -> Self {
        Ids::os()
    }
}

impl Ids {
    /// Production: unguessable values ([`OsEntropy`]).
    pub fn os() -> Self {
        Ids::from_source(OsEntropy)
    }

    /// A repeatable sequence ([`SeededEntropy`]).
    pub fn seeded(seed: u64) -> Self {
        Ids::from_source(SeededEntropy::new(seed))
    }

    pub fn from_source(source: impl Entropy) -> Self {
        Ids {
            source: Arc::new(source),
        }
    }

    /// 64 bits from the source.
    pub fn next_u64(&self) -> u64 {
        self.source.next_u64()
    }

    fn id(&self, prefix: &str, now: Timestamp) -> String {
        let micros = now.timestamp_micros().max(0);
        format!("{prefix}_{micros:x}{:016x}", self.next_u64())
    }

    pub fn order_id(&self, now: Timestamp) -> Result<OrderId, IdError> {
        OrderId::parse(self.id("ord", now))
    }

    pub fn payment_id(&self, now: Timestamp) -> Result<PaymentId, IdError> {
        PaymentId::parse(self.id("pay", now))
    }

    pub fn application_id(&self, now: Timestamp) -> Result<ApplicationId, IdError> {
        ApplicationId::parse(self.id("app", now))
    }

    /// 128 bits in hex: a token naming one logical write (a DynamoDB client
    /// request token).
    pub fn token(&self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn a_seed_gives_the_same_ids_and_another_seed_others() {
        let (a, b, c) = (Ids::seeded(7), Ids::seeded(7), Ids::seeded(8));
        let first = a.order_id(at()).map(|i| i.to_string());
        assert_eq!(first, b.order_id(at()).map(|i| i.to_string()));
        assert_ne!(first, c.order_id(at()).map(|i| i.to_string()));
        assert_ne!(
            a.order_id(at()).map(|i| i.to_string()),
            first,
            "a sequence, not one value"
        );
    }

    #[test]
    fn ids_carry_their_prefix_and_sort_by_creation_time() {
        let ids = Ids::os();
        let early = ids
            .payment_id(at())
            .map(|i| i.to_string())
            .unwrap_or_default();
        let late = ids
            .payment_id(at() + chrono::TimeDelta::seconds(1))
            .map(|i| i.to_string())
            .unwrap_or_default();
        assert!(early.starts_with("pay_"), "{early}");
        assert!(early < late, "{early} < {late}");
        assert!(
            ids.application_id(at())
                .map(|i| i.to_string())
                .unwrap_or_default()
                .starts_with("app_")
        );
        assert_eq!(ids.token().len(), 32);
    }
}
