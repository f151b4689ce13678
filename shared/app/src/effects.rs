//! The effects an order commit's events carry on other records, netted per
//! record (one transaction may touch an item once).

use std::collections::BTreeMap;

use domain::Usd;
use domain::event::{DomainEvent, EventBody};
use domain::ids::UserId;

/// A net change of a reserved amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    Reserve(Usd),
    Release(Usd),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Per supplier: the net change to the reserved limit.
    pub limits: BTreeMap<UserId, Net>,
    /// Per buyer: the net change to the reserved Pay Later credit.
    pub credit: BTreeMap<UserId, Net>,
    /// Per supplier: ratings to add (count, sum).
    pub ratings: BTreeMap<UserId, (u64, u64)>,
}

fn add(map: &mut BTreeMap<UserId, (Usd, Usd)>, who: &UserId, reserve: Usd, release: Usd) {
    let e = map.entry(who.clone()).or_insert((Usd::ZERO, Usd::ZERO));
    e.0 = e.0.checked_add(reserve).unwrap_or(Usd::MAX);
    e.1 = e.1.checked_add(release).unwrap_or(Usd::MAX);
}

fn net(map: BTreeMap<UserId, (Usd, Usd)>) -> BTreeMap<UserId, Net> {
    map.into_iter()
        .filter_map(|(who, (reserve, release))| {
            if reserve > release {
                Some((who, Net::Reserve(reserve.saturating_sub(release))))
            } else if release > reserve {
                Some((who, Net::Release(release.saturating_sub(reserve))))
            } else {
                None
            }
        })
        .collect()
}

pub fn effects_of(events: &[DomainEvent]) -> Effects {
    let mut limits = BTreeMap::new();
    let mut credit = BTreeMap::new();
    let mut ratings: BTreeMap<UserId, (u64, u64)> = BTreeMap::new();
    for e in events {
        match &e.body {
            EventBody::CoverageReserved {
                supplier_id,
                amount,
            } => add(&mut limits, supplier_id, *amount, Usd::ZERO),
            EventBody::ReservationReleased {
                supplier_id,
                amount,
            } => add(&mut limits, supplier_id, Usd::ZERO, *amount),
            EventBody::CreditReserved {
                buyer_id, amount, ..
            } => add(&mut credit, buyer_id, *amount, Usd::ZERO),
            EventBody::CreditReleased {
                buyer_id, amount, ..
            } => add(&mut credit, buyer_id, Usd::ZERO, *amount),
            EventBody::FeedbackLeft {
                supplier_id,
                rating,
            } => {
                let r = ratings.entry(supplier_id.clone()).or_default();
                r.0 += 1;
                r.1 += u64::from(rating.get());
            }
            _ => {}
        }
    }
    Effects {
        limits: net(limits),
        credit: net(credit),
        ratings,
    }
}
