//! Disputes: grounds, the negotiation between buyer and supplier, deadlines,
//! escalation and the arbiter's decision. The commands that change a dispute
//! live on the order (`order.rs`); this module holds its data and the rules
//! that need only the dispute itself.

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::calendar::{Timestamp, plus_days};
use crate::money::Usd;
use crate::text::{DocumentRef, LongText};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeReason {
    /// Not shipped by the end of the ship-by date, or shipped after it.
    LateShipment,
    /// Goods not as the contract's quality terms say.
    Quality,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    Open,
    Negotiating,
    Escalated,
    Resolved,
}

impl DisputeStatus {
    pub const ALL: [DisputeStatus; 4] = [
        DisputeStatus::Open,
        DisputeStatus::Negotiating,
        DisputeStatus::Escalated,
        DisputeStatus::Resolved,
    ];

    /// The name the API and the store use (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Negotiating => "negotiating",
            DisputeStatus::Escalated => "escalated",
            DisputeStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<DisputeStatus> {
        DisputeStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeOutcome {
    /// Buyer and supplier agreed a refund.
    Agreed,
    /// The arbiter found the supplier at fault and decided a refund.
    SupplierAtFault,
    /// The arbiter rejected the claim; the order continues.
    ClaimRejected,
    /// The buyer withdrew the dispute; the order continues.
    Withdrawn,
}

/// Why a dispute may be escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationGround {
    /// The supplier did not respond by the response deadline.
    SupplierNoResponse,
    /// The supplier rejected the claim.
    SupplierRejected,
    /// No solution by the resolution deadline.
    NoSolutionInTime,
}

impl EscalationGround {
    /// Grounds the scheduler acts on by itself (deadlines passed). A
    /// rejection lets the buyer escalate at once; the sweep waits for the
    /// resolution deadline.
    pub fn is_time_based(self) -> bool {
        !matches!(self, EscalationGround::SupplierRejected)
    }
}

/// The dispute deadlines, configuration with the design's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputePolicy {
    /// Days the supplier has to respond after opening (default 5).
    pub supplier_response_days: u32,
    /// Days after opening by which a solution must be reached (default 15).
    pub resolution_days: u32,
}

impl Default for DisputePolicy {
    fn default() -> Self {
        DisputePolicy {
            supplier_response_days: 5,
            resolution_days: 15,
        }
    }
}

/// What a party does in a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "refund_amount", rename_all = "snake_case")]
pub enum ResponseAction {
    /// Supplier: accept the requested refund. Buyer: accept the supplier's
    /// counter-offer.
    Accept,
    /// Supplier: a counter-offer.
    Offer(Usd),
    /// Supplier: reject the claim. Buyer: reject the counter-offer.
    Reject,
    /// Either: a message and/or evidence.
    Comment,
}

/// What the record of a dispute says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Opened,
    Accepted,
    Offered,
    Rejected,
    Commented,
    Withdrawn,
    Escalated,
    Decided,
}

/// One step of a dispute: who, what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeEntry {
    pub at: Timestamp,
    pub by: Actor,
    pub kind: EntryKind,
    pub amount: Option<Usd>,
    pub message: Option<LongText>,
    pub evidence: Vec<DocumentRef>,
}

/// The arbiter's decision on an escalated dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "refund_amount", rename_all = "snake_case")]
pub enum Decision {
    SupplierAtFault(Usd),
    ClaimRejected,
}

pub const MAX_EVIDENCE: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub reason: DisputeReason,
    pub status: DisputeStatus,
    pub outcome: Option<DisputeOutcome>,
    pub requested_refund: Usd,
    pub description: LongText,
    pub opened_at: Timestamp,
    pub supplier_response_due: Timestamp,
    pub resolution_due: Timestamp,
    pub supplier_responded_at: Option<Timestamp>,
    pub supplier_rejected: bool,
    /// The supplier's counter-offer waiting for the buyer.
    pub pending_offer: Option<Usd>,
    pub escalated_at: Option<Timestamp>,
    pub escalation_ground: Option<EscalationGround>,
    pub resolved_at: Option<Timestamp>,
    /// The refund the dispute ended with (agreed or decided), if any.
    pub refund_amount: Option<Usd>,
    /// The inspection fee refunded on top (quality, supplier at fault).
    pub inspection_fee_refund: Option<Usd>,
    pub entries: Vec<DisputeEntry>,
}

impl Dispute {
    pub fn new(
        reason: DisputeReason,
        requested_refund: Usd,
        description: LongText,
        opening: DisputeEntry,
        policy: DisputePolicy,
    ) -> Self {
        let now = opening.at;
        Dispute {
            reason,
            status: DisputeStatus::Open,
            outcome: None,
            requested_refund,
            description,
            opened_at: now,
            supplier_response_due: plus_days(now, policy.supplier_response_days),
            resolution_due: plus_days(now, policy.resolution_days),
            supplier_responded_at: None,
            supplier_rejected: false,
            pending_offer: None,
            escalated_at: None,
            escalation_ground: None,
            resolved_at: None,
            refund_amount: None,
            inspection_fee_refund: None,
            entries: vec![opening],
        }
    }

    /// The supplier responded by its deadline. A response after it does not
    /// take away the buyer's right to escalate for want of a response.
    pub fn supplier_responded_in_time(&self) -> bool {
        self.supplier_responded_at
            .is_some_and(|at| at <= self.supplier_response_due)
    }

    /// Open, negotiating or escalated.
    pub fn is_unresolved(&self) -> bool {
        self.status != DisputeStatus::Resolved
    }

    /// Why the dispute may be escalated at `now`, if it may: the supplier
    /// has not responded by its deadline, rejected the claim, or no solution
    /// came by the resolution deadline. `None` once escalated or resolved.
    pub fn escalation_ground(&self, now: Timestamp) -> Option<EscalationGround> {
        if !matches!(
            self.status,
            DisputeStatus::Open | DisputeStatus::Negotiating
        ) {
            return None;
        }
        if !self.supplier_responded_in_time() && now >= self.supplier_response_due {
            Some(EscalationGround::SupplierNoResponse)
        } else if now >= self.resolution_due {
            Some(EscalationGround::NoSolutionInTime)
        } else if self.supplier_rejected {
            Some(EscalationGround::SupplierRejected)
        } else {
            None
        }
    }

    /// The next instant the scheduler must look at this dispute.
    pub fn next_escalation_check(&self) -> Option<Timestamp> {
        if !matches!(
            self.status,
            DisputeStatus::Open | DisputeStatus::Negotiating
        ) {
            return None;
        }
        if !self.supplier_responded_in_time() {
            Some(self.supplier_response_due.min(self.resolution_due))
        } else {
            Some(self.resolution_due)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_serialized_ones_and_parse_back() {
        for st in DisputeStatus::ALL {
            let json = serde_json::to_value(st).map_err(|e| e.to_string());
            assert_eq!(json, Ok(serde_json::Value::from(st.as_str())));
            assert_eq!(DisputeStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(DisputeStatus::parse("closed"), None);
    }
}
