//! Clocks: the system clock for Lambda, and a clock that can be moved
//! forward for the local stack's time travel and for tests.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{SubsecRound, TimeDelta, Utc};
use domain::calendar::Timestamp;

use crate::ports::Clock;

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// Business time is kept to the microsecond (what the store's sort keys
/// and the API show).
fn micros(t: Timestamp) -> Timestamp {
    t.trunc_subsecs(6)
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        micros(Utc::now())
    }
}

/// The system clock plus an offset that only grows: business time for the
/// local stack (`POST /_local/clock/advance`).
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_micros: AtomicI64,
}

impl OffsetClock {
    pub fn advance(&self, by: TimeDelta) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX).max(0);
        self.offset_micros.fetch_add(micros, Ordering::SeqCst);
    }

    pub fn offset(&self) -> TimeDelta {
        TimeDelta::microseconds(self.offset_micros.load(Ordering::SeqCst))
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        micros(Utc::now() + self.offset())
    }
}

/// A clock that reads what it was set to: for tests.
#[derive(Debug)]
pub struct FixedClock {
    micros: AtomicI64,
}

impl FixedClock {
    pub fn at(t: Timestamp) -> Self {
        FixedClock {
            micros: AtomicI64::new(t.timestamp_micros()),
        }
    }

    pub fn set(&self, t: Timestamp) {
        self.micros.store(t.timestamp_micros(), Ordering::SeqCst);
    }

    pub fn advance(&self, by: TimeDelta) {
        self.micros
            .fetch_add(by.num_microseconds().unwrap_or(0), Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        chrono::DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst))
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
    }
}
