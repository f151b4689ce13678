//! What keeps an order small enough to store whatever the parties write:
//! at most three disputes, and per dispute at most 50 offers and comments
//! (25 per party) and 20 evidence references (10 per party); every text at
//! most 2,000 characters; all dispute texts of one order at most 64 KB,
//! half of it each party's. Once a party's half is used up it can no longer
//! comment or add evidence, but the actions that move or end a dispute are
//! still accepted with a message of at most 500 characters (8 KB of such
//! messages per party), and always without one; a new dispute always with a
//! description of at most 500 characters. The system's own writes
//! (payments, refund parts, events) are never refused for size: they are
//! bounded by the rules (three failed payments per stage, five refund
//! attempts per part, …).

use crate::actor::{ActorKind, Party};
use crate::dispute::{
    Dispute, EntryKind, MAX_EVIDENCE, MAX_EVIDENCE_PER_PARTY, MAX_MESSAGE_CHARS_WHEN_FULL,
    MAX_MESSAGES_PER_DISPUTE, MAX_MESSAGES_PER_PARTY, MAX_PARTY_OVERFLOW_BYTES,
    MAX_PARTY_TEXT_BYTES, evidence_bytes,
};
use crate::error::{OrderError, Rule};
use crate::text::{DocumentRef, LongText};

use super::Order;

fn kind_of(party: Party) -> ActorKind {
    match party {
        Party::Buyer => ActorKind::Buyer,
        Party::Supplier => ActorKind::Supplier,
    }
}

impl Order {
    /// The UTF-8 bytes `party` has written in this order's disputes: within
    /// its share, and beyond it (short messages on actions).
    pub fn dispute_text_bytes(&self, party: Party) -> (usize, usize) {
        let kind = kind_of(party);
        let (mut within, mut beyond) = (0, 0);
        for e in self
            .past_disputes
            .iter()
            .chain(self.dispute.as_ref())
            .flat_map(|d| d.entries.iter())
            .filter(|e| e.by.kind() == kind)
        {
            if e.over_budget {
                beyond += e.text_bytes();
            } else {
                within += e.text_bytes();
            }
        }
        (within, beyond)
    }

    /// May `party` add an entry of `kind` with this message and evidence to
    /// `dispute` (the one being opened when `None`)? `Ok(true)`: yes, as a
    /// short message beyond its share of texts.
    pub(super) fn check_dispute_write(
        &self,
        party: Party,
        kind: EntryKind,
        message: Option<&LongText>,
        evidence: &[DocumentRef],
        dispute: Option<&Dispute>,
    ) -> Result<bool, OrderError> {
        let who = Some(kind_of(party));
        let counted = matches!(kind, EntryKind::Offered | EntryKind::Commented);
        if counted {
            let all = dispute.map_or(0, |d| d.counted_entries(None));
            if all >= MAX_MESSAGES_PER_DISPUTE {
                return Err(Rule::TooManyMessages(MAX_MESSAGES_PER_DISPUTE).into());
            }
            let own = dispute.map_or(0, |d| d.counted_entries(who));
            if own >= MAX_MESSAGES_PER_PARTY {
                return Err(Rule::TooManyMessagesForParty(MAX_MESSAGES_PER_PARTY).into());
            }
        }
        if !evidence.is_empty() {
            let all = dispute.map_or(0, |d| d.evidence_count(None)) + evidence.len();
            if all > MAX_EVIDENCE {
                return Err(Rule::TooMuchEvidence(MAX_EVIDENCE).into());
            }
            let own = dispute.map_or(0, |d| d.evidence_count(who)) + evidence.len();
            if own > MAX_EVIDENCE_PER_PARTY {
                return Err(Rule::TooMuchEvidenceForParty(MAX_EVIDENCE_PER_PARTY).into());
            }
        }
        let message_bytes = message.map_or(0, |m| m.as_str().len());
        let bytes = message_bytes + evidence_bytes(evidence);
        if bytes == 0 {
            return Ok(false);
        }
        let (within, beyond) = self.dispute_text_bytes(party);
        if within + bytes <= MAX_PARTY_TEXT_BYTES {
            return Ok(false);
        }
        // The party's share is used up: no comment, no evidence; an action
        // that moves or ends the dispute with a short message.
        if kind == EntryKind::Commented || !evidence.is_empty() {
            return Err(Rule::DisputeTextsFull(MAX_PARTY_TEXT_BYTES).into());
        }
        let chars = message.map_or(0, |m| m.as_str().chars().count());
        if chars > MAX_MESSAGE_CHARS_WHEN_FULL {
            return Err(Rule::MessageTooLongWhenFull(MAX_MESSAGE_CHARS_WHEN_FULL).into());
        }
        // Opening needs a description: a short one is always accepted (at
        // most three disputes per order keep that bounded too).
        if kind != EntryKind::Opened && beyond + message_bytes > MAX_PARTY_OVERFLOW_BYTES {
            return Err(Rule::NoMessageRoomLeft.into());
        }
        Ok(true)
    }
}
