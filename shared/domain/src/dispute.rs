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
    /// Written after the party's share of dispute texts was used up (a short
    /// message on an action that moves or ends the dispute).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_budget: bool,
}

impl DisputeEntry {
    /// The UTF-8 bytes of what the party wrote: the message and the
    /// evidence names and URLs.
    pub fn text_bytes(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.as_str().len()) + evidence_bytes(&self.evidence)
    }

    /// Offers and comments: what the per-dispute counts bound.
    pub fn is_counted(&self) -> bool {
        matches!(self.kind, EntryKind::Offered | EntryKind::Commented)
    }
}

/// The UTF-8 bytes of evidence references' names and URLs.
pub fn evidence_bytes(evidence: &[DocumentRef]) -> usize {
    evidence
        .iter()
        .map(|e| e.name.as_str().len() + e.url.as_str().len())
        .sum()
}

/// The arbiter's decision on an escalated dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "refund_amount", rename_all = "snake_case")]
pub enum Decision {
    SupplierAtFault(Usd),
    ClaimRejected,
}

/// At most this many disputes per order over its life, withdrawn ones
/// included.
pub const MAX_DISPUTES_PER_ORDER: usize = 3;
/// Per dispute: offers and comments together…
pub const MAX_MESSAGES_PER_DISPUTE: usize = 50;
/// …and per party (so one party cannot use up the other's room).
pub const MAX_MESSAGES_PER_PARTY: usize = 25;
/// Evidence references per dispute…
pub const MAX_EVIDENCE: usize = 20;
/// …and per party.
pub const MAX_EVIDENCE_PER_PARTY: usize = 10;
/// Every text in a dispute (description, message) is at most this long.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// All dispute texts of one order together (UTF-8 bytes: descriptions,
/// messages, evidence names and URLs)…
pub const MAX_ORDER_TEXT_BYTES: usize = 64 * 1024;
/// …of which each party may write half.
pub const MAX_PARTY_TEXT_BYTES: usize = MAX_ORDER_TEXT_BYTES / 2;
/// Once a party's share is used up, an action that moves or ends a dispute
/// is still accepted with a message of at most this many characters…
pub const MAX_MESSAGE_CHARS_WHEN_FULL: usize = 500;
/// …while such messages together stay within this many bytes per party;
/// beyond it the action is accepted without a message.
pub const MAX_PARTY_OVERFLOW_BYTES: usize = 8 * 1024;

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
    /// When the supplier last rejected the claim: the sweep escalates at
    /// its next run after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_at: Option<Timestamp>,
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
            rejected_at: None,
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

    /// Why the buyer may escalate the dispute at `now`, if they may: the
    /// supplier has not responded by its deadline, rejected the claim, or
    /// no solution came by the resolution deadline. `None` once escalated
    /// or resolved.
    pub fn escalation_ground(&self, now: Timestamp) -> Option<EscalationGround> {
        if !self.negotiable() {
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

    /// Why the sweep escalates the dispute at `now`, if it does: a clock
    /// fires strictly after its instant (a party's change committed at that
    /// instant wins), and a rejection is escalated at the first run after
    /// it.
    pub fn sweep_escalation(&self, now: Timestamp) -> Option<EscalationGround> {
        if !self.negotiable() {
            return None;
        }
        if !self.supplier_responded_in_time() && now > self.supplier_response_due {
            Some(EscalationGround::SupplierNoResponse)
        } else if now > self.resolution_due {
            Some(EscalationGround::NoSolutionInTime)
        } else if self.supplier_rejected && self.rejected_at.is_none_or(|at| now > at) {
            Some(EscalationGround::SupplierRejected)
        } else {
            None
        }
    }

    /// Open or negotiating: the parties can still settle it themselves.
    fn negotiable(&self) -> bool {
        matches!(
            self.status,
            DisputeStatus::Open | DisputeStatus::Negotiating
        )
    }

    /// The instant the sweep must look at this dispute (it acts strictly
    /// after it).
    pub fn next_escalation_check(&self) -> Option<Timestamp> {
        if !self.negotiable() {
            return None;
        }
        let mut due = self.resolution_due;
        if !self.supplier_responded_in_time() {
            due = due.min(self.supplier_response_due);
        }
        if self.supplier_rejected {
            due = due.min(self.rejected_at.unwrap_or(self.opened_at));
        }
        Some(due)
    }

    /// Offers and comments written by `by` (any party when `None`).
    pub fn counted_entries(&self, by: Option<crate::actor::ActorKind>) -> usize {
        self.entries
            .iter()
            .filter(|e| e.is_counted() && by.is_none_or(|k| e.by.kind() == k))
            .count()
    }

    /// Evidence references added by `by` (any party when `None`).
    pub fn evidence_count(&self, by: Option<crate::actor::ActorKind>) -> usize {
        self.entries
            .iter()
            .filter(|e| by.is_none_or(|k| e.by.kind() == k))
            .map(|e| e.evidence.len())
            .sum()
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
