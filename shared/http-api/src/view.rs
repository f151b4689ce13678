//! Response bodies: money as `{"amount", "currency"}`, times RFC 3339 UTC,
//! dates `YYYY-MM-DD`, snake_case.

use domain::Order;
use domain::actor::Actor;
use domain::coverage::AssuranceLimit;
use domain::deadline::DeadlineKind;
use domain::dispute::{Dispute, DisputeEntry};
use domain::event::HistoryEntry;
use domain::feedback::RatingSummary;
use domain::money::Usd;
use domain::payment::Payment;
use domain::refund::RefundPart;
use serde_json::{Value, json};

pub fn money(u: Usd) -> Value {
    json!({"amount": u.to_string(), "currency": "USD"})
}

fn opt_money(u: Option<Usd>) -> Value {
    u.map_or(Value::Null, money)
}

/// A payment. A Pay Later payment shows no arrival window until its loan
/// agreement is completed (the window starts then), but the instant the
/// agreement is due.
pub fn payment(p: &Payment) -> Value {
    payment_with(p, None)
}

/// A payment of `o`, with the deadlines its order's clocks give it.
pub fn order_payment(o: &Order, p: &Payment) -> Value {
    payment_with(p, Some(o))
}

fn payment_with(p: &Payment, o: Option<&Order>) -> Value {
    let awaiting_agreement = p.status == domain::payment::PaymentStatus::AwaitingAgreement;
    let clocks = o.map_or_else(domain::clocks::Clocks::default, |o| *o.clocks());
    json!({
        "id": p.id,
        "stage": p.stage,
        "method": p.method.kind(),
        "amount": money(p.amount),
        "inspection_fee": money(p.inspection_fee),
        "fee": money(p.fee),
        "status": p.status,
        "failure_reason": p.failure,
        "flagged": p.flag.is_some(),
        "flag": p.flag.as_ref().map(|f| json!({"reason": f.reason, "at": f.at})),
        "expected_arrival": (!awaiting_agreement).then(|| json!({
            "earliest": p.expected_arrival.earliest,
            "latest": p.expected_arrival.latest,
        })),
        "agreement_due": p.agreement_due(&clocks),
        "expires_at": p.expires_after(&clocks),
        "instructions": p.instructions.as_ref().map(wire_instructions),
        "provider_reference": p.provider_reference,
        "next_action": p.next_action.as_ref().map(next_action),
        "refunded": money(p.refunded),
        "initiated_at": p.initiated_at,
        "settled_at": p.settled_at,
    })
}

fn wire_instructions(w: &domain::payment::WireInstructions) -> Value {
    json!({
        "bank_name": w.account.bank_name,
        "account_name": w.account.account_name,
        "account_number": w.account.account_number,
        "swift": w.account.swift,
        "reference": w.reference,
        "amount": money(w.amount),
    })
}

/// The buyer's next step with the provider.
pub fn next_action(a: &domain::payment::NextAction) -> Value {
    use domain::payment::NextAction;
    match a {
        NextAction::Checkout { url } => json!({"type": "checkout", "url": url}),
        NextAction::Authorize { url } => json!({"type": "authorize", "url": url}),
        NextAction::Wire { instructions } => {
            json!({"type": "wire", "instructions": wire_instructions(instructions)})
        }
        NextAction::LoanAgreement { url } => json!({"type": "loan_agreement", "url": url}),
    }
}

pub fn order(o: &Order) -> Value {
    let t = o.terms();
    json!({
        "id": o.id(),
        "status": o.status(),
        "status_reason": o.end_reason(),
        "buyer_id": o.buyer_id(),
        "supplier_id": o.supplier_id(),
        "created_by": o.created_by(),
        "items": t.items().iter().map(|i| json!({
            "description": i.description,
            "quantity": i.quantity,
            "unit_price": money(i.unit_price),
        })).collect::<Vec<_>>(),
        "shipping_fee": money(t.shipping_fee()),
        "total": money(t.total()),
        "initial_payment": money(t.initial_payment()),
        "balance": money(t.balance()),
        "ship_by": t.ship_by(),
        "quality_terms": t.quality_terms(),
        "destination_country": t.destination_country(),
        "inspection": t.inspection().map(|i| json!({
            "agency": i.agency, "location": i.location, "fee": money(i.fee()),
        })),
        "contract_document": t.contract_document(),
        "coverage": {
            "type": o.coverage().kind,
            "covered_amount": opt_money(o.coverage().covered_amount),
            "reserved": money(o.coverage().reserved),
            "refunded": money(o.coverage().refunded),
            "ends_at": o.coverage_end(),
        },
        "confirmations": {
            "buyer": o.confirmations().buyer,
            "supplier": o.confirmations().supplier,
        },
        "payments": o.payments().iter().map(|p| order_payment(o, p)).collect::<Vec<_>>(),
        "amount_paid": money(o.amount_paid()),
        "shipment": o.shipment(),
        "completed_at": o.completed_at(),
        "receipt": o.receipt_clock().map(|r| json!({
            "auto_confirm_at": o.receipt_due(),
            "extensions_used": r.extensions,
            "extensions_left": domain::clocks::MAX_RECEIPT_EXTENSIONS.saturating_sub(r.extensions),
        })),
        "feedback": o.feedback(),
        "dispute": dispute_of(o),
        "past_disputes": o.past_disputes().iter().map(|d| dispute_body(o, d)).collect::<Vec<_>>(),
        "refunds": o.refunds().iter().map(refund_part).collect::<Vec<_>>(),
        "amount_refunded": money(o.amount_refunded()),
        "deadlines": o.deadlines(),
        "version": o.version(),
        "created_at": o.created_at(),
        "updated_at": o.updated_at(),
    })
}

fn actor(a: &Actor) -> Value {
    match a {
        Actor::Buyer(id) | Actor::Supplier(id) | Actor::Arbiter(id) => {
            json!({"role": a.kind(), "id": id})
        }
        Actor::Provider(p) => json!({"role": a.kind(), "id": p}),
        Actor::Scheduler => json!({"role": a.kind()}),
    }
}

fn dispute_entry(e: &DisputeEntry) -> Value {
    json!({
        "at": e.at,
        "by": actor(&e.by),
        "action": e.kind,
        "amount": opt_money(e.amount),
        "message": e.message,
        "evidence": e.evidence,
    })
}

fn dispute_body(o: &Order, d: &Dispute) -> Value {
    // The dispute's own deadlines while they run.
    let deadlines: Vec<_> = if d.is_unresolved() {
        o.deadlines()
            .into_iter()
            .filter(|x| {
                matches!(
                    x.kind,
                    DeadlineKind::SupplierResponseDue | DeadlineKind::EscalationDue
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "reason": d.reason,
        "status": d.status,
        "outcome": d.outcome,
        "requested_refund": money(d.requested_refund),
        "description": d.description,
        "opened_at": d.opened_at,
        "supplier_response_due": d.supplier_response_due,
        "resolution_due": d.resolution_due,
        "supplier_responded_at": d.supplier_responded_at,
        "pending_offer": opt_money(d.pending_offer),
        "escalated_at": d.escalated_at,
        "escalation_ground": d.escalation_ground,
        "resolved_at": d.resolved_at,
        "refund_amount": opt_money(d.refund_amount),
        "inspection_fee_refund": opt_money(d.inspection_fee_refund),
        "entries": d.entries.iter().map(dispute_entry).collect::<Vec<_>>(),
        "deadlines": deadlines,
    })
}

fn dispute_of(o: &Order) -> Value {
    o.dispute().map_or(Value::Null, |d| dispute_body(o, d))
}

/// What a dispute action answers: the order's dispute, with the order's
/// id, status and version (what a client needs for its next step).
pub fn dispute(o: &Order) -> Value {
    let mut body = dispute_of(o);
    if let Value::Object(map) = &mut body {
        map.insert("order_id".into(), json!(o.id()));
        map.insert("order_status".into(), json!(o.status()));
        map.insert("order_version".into(), json!(o.version()));
    }
    body
}

/// One line of the arbiters' dispute queue.
pub fn dispute_summary(o: &Order) -> Value {
    let mut body = dispute(o);
    if let Value::Object(map) = &mut body {
        map.insert("buyer_id".into(), json!(o.buyer_id()));
        map.insert("supplier_id".into(), json!(o.supplier_id()));
        map.insert(
            "covered_amount".into(),
            opt_money(o.coverage().covered_amount),
        );
        map.insert("amount_paid".into(), money(o.amount_paid()));
    }
    body
}

pub fn refund_part(r: &RefundPart) -> Value {
    json!({
        "id": r.id,
        "payment_id": r.payment_id,
        "provider": r.provider,
        "amount": money(r.amount),
        "status": r.status,
        "attempts": r.attempts,
        "flagged": r.flagged,
        "flag_reason": r.flag_reason,
        "requested_at": r.requested_at,
        "attempted_at": r.attempted_at.unwrap_or(r.requested_at),
        "provider_key": r.attempt_key(),
        "provider_reference": r.provider_reference,
        "settled_at": r.settled_at,
        "settled_outside": r.settled_outside,
    })
}

/// What leaving feedback created.
pub fn feedback(o: &Order) -> Value {
    json!({"order_id": o.id(), "supplier_id": o.supplier_id(), "feedback": o.feedback()})
}

/// The payment a request just started: the order's newest payment.
pub fn last_payment(o: &Order) -> Value {
    o.payments()
        .last()
        .map_or(Value::Null, |p| order_payment(o, p))
}

pub fn history(entries: &[HistoryEntry]) -> Value {
    json!({"items": entries})
}

pub fn limit(l: &AssuranceLimit) -> Value {
    json!({
        "supplier_id": l.supplier_id,
        "limit": money(l.limit()),
        "reserved": money(l.reserved()),
        "available": money(l.available()),
        "receiving_account": l.receiving_account,
    })
}

pub fn credit_line(c: &domain::payment::CreditLine) -> Value {
    json!({
        "buyer_id": c.buyer_id,
        "application_id": c.application_id,
        "status": c.status(),
        "limit": money(c.limit()),
        "reserved": money(c.reserved()),
        "available": money(c.available()),
        "applied_at": c.applied_at,
        "decided_at": c.decided_at,
    })
}

pub fn rating(supplier: &str, r: &RatingSummary, items: Vec<Value>) -> Value {
    json!({
        "supplier_id": supplier,
        "count": r.count,
        "average_rating": r.average().map(|a| a.to_string()),
        "items": items,
    })
}
