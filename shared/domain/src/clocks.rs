//! The lifecycle's clocks: how long each waiting status may last before
//! the scheduled sweep acts. Every order keeps the clocks it was created
//! with (so a change of configuration never moves a running deadline), and
//! stores them only when they differ from the defaults.
//!
//! | waiting for | clock (default) | when it runs out |
//! |---|---|---|
//! | the other party's confirmation | 30 days since creation or the last amendment, at most 90 since creation | cancelled (`not_confirmed`) |
//! | an initial payment | 30 days in all without a payment in flight (≥ 7 after a failure) | cancelled (`unpaid`) |
//! | a payment in flight | its arrival window + 10 working days (Pay Later agreement: 7 days) | the payment expires |
//! | shipment, long overdue | 30 days after the ship-by date | everything paid refunded (`not_shipped`) |
//! | the balance | 30 days after delivery, at most 90 after shipment (≥ 7 after a dispute or failure) | closed (`balance_unpaid`) |
//! | receipt confirmation | 30 days (+15 twice on request; ≥ 5 after a dispute) | receipt confirmed by the sweep |
//! | the supplier's dispute response | 5 days | escalated |
//! | a dispute solution | 15 days | escalated |
//! | a refund part | 10 working days after it was requested | flagged for an operator |
//! | post-delivery coverage | 180 days after shipment / 15 after customs | coverage ends |

use serde::{Deserialize, Serialize};

use crate::dispute::DisputePolicy;

/// At most this many failed or expired payments per stage; after the last
/// the order is cancelled (initial payment) or closed (balance).
pub const MAX_FAILED_PAYMENTS_PER_STAGE: usize = 3;
/// The buyer may extend the receipt clock this many times.
pub const MAX_RECEIPT_EXTENSIONS: u8 = 2;

/// Every clock of the lifecycle, in days (working days where the name says
/// so). [`Clocks::default`] is the product's rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Clocks {
    /// A draft not confirmed by both within this many days of its creation
    /// or last amendment is cancelled…
    pub confirmation_days: u32,
    /// …and at the latest this many days after its creation.
    pub confirmation_max_days: u32,
    /// A confirmed order without a payment in flight for this many days in
    /// all is cancelled.
    pub unpaid_days: u32,
    /// After a failed or expired payment (either stage) or a dispute
    /// (balance), at least this many days remain on the stage's clock.
    pub retry_min_days: u32,
    /// A payment not arrived this many working days after the last day of
    /// its arrival window expires.
    pub payment_expiry_working_days: u32,
    /// A Pay Later loan agreement not completed within this many days
    /// expires its payment.
    pub agreement_days: u32,
    /// Goods not shipped this many days after the ship-by date are refunded.
    pub not_shipped_days: u32,
    /// The balance is due this many days after delivery is recorded…
    pub balance_days: u32,
    /// …and at the latest this many days after the shipment was recorded.
    pub balance_max_days: u32,
    /// The sweep confirms receipt this many days after the order started
    /// waiting for it (or after the recorded delivery, if later).
    pub receipt_days: u32,
    /// One extension of the receipt clock, on the buyer's request.
    pub receipt_extension_days: u32,
    /// An event announces the automatic confirmation this many days before.
    pub receipt_notice_days: u32,
    /// After a dispute that did not close the order, at least this many days
    /// remain on the receipt clock.
    pub receipt_min_days: u32,
    /// The supplier's dispute response and the dispute's solution.
    pub disputes: DisputePolicy,
    /// A refund part not confirmed this many working days after it was
    /// requested is flagged for an operator.
    pub refund_working_days: u32,
    /// Post-delivery quality window: days after shipment…
    pub quality_days_after_shipment: u32,
    /// …and days after customs clearance, whichever ends first.
    pub quality_days_after_customs: u32,
}

impl Default for Clocks {
    fn default() -> Self {
        Clocks {
            confirmation_days: 30,
            confirmation_max_days: 90,
            unpaid_days: 30,
            retry_min_days: 7,
            payment_expiry_working_days: 10,
            agreement_days: 7,
            not_shipped_days: 30,
            balance_days: 30,
            balance_max_days: 90,
            receipt_days: 30,
            receipt_extension_days: 15,
            receipt_notice_days: 3,
            receipt_min_days: 5,
            disputes: DisputePolicy::default(),
            refund_working_days: 10,
            quality_days_after_shipment: 180,
            quality_days_after_customs: 15,
        }
    }
}

/// One configurable clock: its environment name (`CLOCK_` + this, upper
/// case), its allowed range and how to read and set it.
pub struct ClockSetting {
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
    pub get: fn(&Clocks) -> u32,
    pub set: fn(&mut Clocks, u32),
}

macro_rules! setting {
    ($name:literal, $min:expr, $max:expr, $($field:ident).+) => {
        ClockSetting {
            name: $name,
            min: $min,
            max: $max,
            get: |c| c.$($field).+,
            set: |c, v| c.$($field).+ = v,
        }
    };
}

/// Every clock that configuration may set, with its range.
pub const SETTINGS: &[ClockSetting] = &[
    setting!("confirmation_days", 1, 365, confirmation_days),
    setting!("confirmation_max_days", 1, 365, confirmation_max_days),
    setting!("unpaid_days", 1, 365, unpaid_days),
    setting!("retry_min_days", 1, 60, retry_min_days),
    setting!(
        "payment_expiry_working_days",
        1,
        60,
        payment_expiry_working_days
    ),
    setting!("agreement_days", 1, 60, agreement_days),
    setting!("not_shipped_days", 1, 365, not_shipped_days),
    setting!("balance_days", 1, 365, balance_days),
    setting!("balance_max_days", 1, 365, balance_max_days),
    setting!("receipt_days", 1, 365, receipt_days),
    setting!("receipt_extension_days", 1, 60, receipt_extension_days),
    setting!("receipt_notice_days", 0, 30, receipt_notice_days),
    setting!("receipt_min_days", 1, 60, receipt_min_days),
    setting!(
        "dispute_supplier_response_days",
        1,
        365,
        disputes.supplier_response_days
    ),
    setting!("dispute_resolution_days", 1, 365, disputes.resolution_days),
    setting!("refund_working_days", 1, 60, refund_working_days),
    setting!(
        "quality_days_after_shipment",
        1,
        730,
        quality_days_after_shipment
    ),
    setting!(
        "quality_days_after_customs",
        1,
        365,
        quality_days_after_customs
    ),
];

impl Clocks {
    pub fn is_default(&self) -> bool {
        *self == Clocks::default()
    }

    /// Clocks from `CLOCK_<NAME>` values (days; a name absent keeps its
    /// default). A value that is not a whole number in its range, or a set
    /// of clocks that contradict each other, is refused with a message
    /// naming the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Clocks, String> {
        let mut clocks = Clocks::default();
        for s in SETTINGS {
            let var = format!("CLOCK_{}", s.name.to_ascii_uppercase());
            if let Some(v) = lookup(&var) {
                match v.trim().parse::<u32>() {
                    Ok(d) if (s.min..=s.max).contains(&d) => (s.set)(&mut clocks, d),
                    _ => {
                        return Err(format!(
                            "{var} must be a whole number from {} to {}, not {v:?}",
                            s.min, s.max
                        ));
                    }
                }
            }
        }
        clocks.check()?;
        Ok(clocks)
    }

    /// Clocks that contradict each other.
    pub fn check(&self) -> Result<(), String> {
        let pairs = [
            (
                "CLOCK_CONFIRMATION_DAYS",
                self.confirmation_days,
                "CLOCK_CONFIRMATION_MAX_DAYS",
                self.confirmation_max_days,
            ),
            (
                "CLOCK_BALANCE_DAYS",
                self.balance_days,
                "CLOCK_BALANCE_MAX_DAYS",
                self.balance_max_days,
            ),
            (
                "CLOCK_DISPUTE_SUPPLIER_RESPONSE_DAYS",
                self.disputes.supplier_response_days,
                "CLOCK_DISPUTE_RESOLUTION_DAYS",
                self.disputes.resolution_days,
            ),
            (
                "CLOCK_RECEIPT_NOTICE_DAYS",
                self.receipt_notice_days,
                "CLOCK_RECEIPT_DAYS",
                self.receipt_days,
            ),
        ];
        for (a, av, b, bv) in pairs {
            if av > bv {
                return Err(format!("{a} ({av}) exceeds {b} ({bv})"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_default_to_the_designed_durations_and_bad_values_are_refused() {
        let c = Clocks::from_lookup(|_| None).expect("defaults");
        assert!(c.is_default());
        assert_eq!((c.confirmation_days, c.confirmation_max_days), (30, 90));
        assert_eq!((c.unpaid_days, c.retry_min_days), (30, 7));
        assert_eq!((c.payment_expiry_working_days, c.agreement_days), (10, 7));
        assert_eq!((c.balance_days, c.balance_max_days), (30, 90));
        assert_eq!(
            (
                c.receipt_days,
                c.receipt_extension_days,
                c.receipt_notice_days
            ),
            (30, 15, 3)
        );
        assert_eq!(
            (
                c.disputes.supplier_response_days,
                c.disputes.resolution_days
            ),
            (5, 15)
        );
        let live = Clocks::from_lookup(|k| match k {
            "CLOCK_DISPUTE_SUPPLIER_RESPONSE_DAYS" => Some("3".into()),
            "CLOCK_DISPUTE_RESOLUTION_DAYS" => Some("8".into()),
            _ => None,
        })
        .expect("the live pages' 3 and 8 days");
        assert_eq!(
            (
                live.disputes.supplier_response_days,
                live.disputes.resolution_days
            ),
            (3, 8)
        );
        for bad in ["0", "-1", "2.5", "x", "366"] {
            let r = Clocks::from_lookup(|k| (k == "CLOCK_UNPAID_DAYS").then(|| bad.to_owned()));
            assert!(r.is_err(), "{bad}");
        }
        let r = Clocks::from_lookup(|k| (k == "CLOCK_BALANCE_DAYS").then(|| "120".to_owned()));
        assert!(r.is_err(), "30-day delivery clock beyond the 90-day cap");
    }

    #[test]
    fn default_clocks_are_not_stored_and_others_are() {
        #[derive(Serialize, Deserialize)]
        struct Holder {
            #[serde(default, skip_serializing_if = "Clocks::is_default")]
            clocks: Clocks,
        }
        let json = serde_json::to_string(&Holder {
            clocks: Clocks::default(),
        })
        .expect("json");
        assert_eq!(json, "{}");
        let c = Clocks {
            unpaid_days: 10,
            ..Clocks::default()
        };
        let json = serde_json::to_string(&Holder { clocks: c }).expect("json");
        let back: Holder = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.clocks, c);
    }
}
