//! Where new ids and random values come from: one injected source, so that
//! production draws unguessable values and a test (or a fuzz target) draws
//! a repeatable sequence. Order, payment and credit-application ids, and
//! the DynamoDB adapter's client request tokens, all come from here.
//!
//! An id's leading part is the instant it was made, from the source too:
//! the real clock in production (ids sort by when they were really made,
//! whatever business time says), a counter in a seeded sequence.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::ids::{ApplicationId, IdError, OrderId, PaymentId};

/// A source of 64-bit values, and of the instant an id is made.
pub trait Entropy: Send + Sync + 'static {
    fn next_u64(&self) -> u64;

    /// Microseconds since 1970 for an id's leading, ordering part.
    fn micros(&self) -> u64;
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

    /// The real clock.
    fn micros(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or_default()
    }
}

/// A repeatable sequence (SplitMix64 from a seed; instants counting up a
/// microsecond at a time from 2026-01-01): the same seed gives the same
/// ids, which tests and fuzz targets rely on. Never for production.
#[derive(Debug, Default)]
pub struct SeededEntropy {
    state: AtomicU64,
    micros: AtomicU64,
}

/// 2026-01-01T00:00:00Z in microseconds.
const SEQUENCE_START_MICROS: u64 = 1_767_225_600_000_000;

impl SeededEntropy {
    pub fn new(seed: u64) -> Self {
        SeededEntropy {
            state: AtomicU64::new(seed),
            micros: AtomicU64::new(SEQUENCE_START_MICROS),
        }
    }
}

impl Entropy for SeededEntropy {
    fn micros(&self) -> u64 {
        self.micros.fetch_add(1, Ordering::Relaxed)
    }

    fn next_u64(&self) -> u64 {
        let mut z = self
            .state
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

    fn id(&self, prefix: &str) -> String {
        format!(
            "{prefix}_{:x}{:016x}",
            self.source.micros(),
            self.next_u64()
        )
    }

    pub fn order_id(&self) -> Result<OrderId, IdError> {
        OrderId::parse(self.id("ord"))
    }

    pub fn payment_id(&self) -> Result<PaymentId, IdError> {
        PaymentId::parse(self.id("pay"))
    }

    pub fn application_id(&self) -> Result<ApplicationId, IdError> {
        ApplicationId::parse(self.id("app"))
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

    fn text<T: std::fmt::Display>(id: Result<T, IdError>) -> String {
        id.map(|i| i.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_seed_gives_the_same_ids_and_another_seed_others() {
        let (a, b, c) = (Ids::seeded(7), Ids::seeded(7), Ids::seeded(8));
        let first = text(a.order_id());
        assert_eq!(first, text(b.order_id()));
        assert_ne!(first, text(c.order_id()));
        assert_ne!(text(a.order_id()), first, "a sequence, not one value");
    }

    #[test]
    fn ids_carry_their_prefix_and_sort_by_when_they_were_made() {
        for ids in [Ids::os(), Ids::seeded(1)] {
            let early = text(ids.payment_id());
            std::thread::sleep(std::time::Duration::from_millis(2));
            let late = text(ids.payment_id());
            assert!(early.starts_with("pay_"), "{early}");
            assert!(early < late, "{early} < {late}");
            assert!(text(ids.application_id()).starts_with("app_"));
            assert!(text(ids.order_id()).starts_with("ord_"));
            assert_eq!(ids.token().len(), 32);
        }
    }
}
