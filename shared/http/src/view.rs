//! Response bodies: money as `{"amount", "currency"}`, times RFC 3339 UTC,
//! dates `YYYY-MM-DD`, snake_case.

use domain::Order;
use domain::coverage::AssuranceLimit;
use domain::event::HistoryEntry;
use domain::feedback::RatingSummary;
use domain::money::Usd;
use domain::payment::Payment;
use serde_json::{Value, json};

pub fn money(u: Usd) -> Value {
    json!({"amount": u.to_string(), "currency": "USD"})
}

fn opt_money(u: Option<Usd>) -> Value {
    u.map_or(Value::Null, money)
}

pub fn payment(p: &Payment) -> Value {
    json!({
        "id": p.id,
        "stage": p.stage,
        "method": p.method.kind(),
        "amount": money(p.amount),
        "inspection_fee": money(p.inspection_fee),
        "fee": money(p.fee),
        "status": p.status,
        "flagged": p.flag.is_some(),
        "flag": p.flag.as_ref().map(|f| json!({"reason": f.reason, "at": f.at})),
        "expected_arrival": {"earliest": p.expected_arrival.earliest, "latest": p.expected_arrival.latest},
        "instructions": p.instructions.as_ref().map(|w| json!({
            "bank_name": w.account.bank_name,
            "account_name": w.account.account_name,
            "account_number": w.account.account_number,
            "swift": w.account.swift,
            "reference": w.reference,
            "amount": money(w.amount),
        })),
        "refunded": money(p.refunded),
        "initiated_at": p.initiated_at,
        "settled_at": p.settled_at,
    })
}

pub fn order(o: &Order) -> Value {
    let t = o.terms();
    json!({
        "id": o.id(),
        "status": o.status(),
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
            "ends_at": o.coverage_end(),
        },
        "confirmations": {
            "buyer": o.confirmations().buyer,
            "supplier": o.confirmations().supplier,
        },
        "payments": o.payments().iter().map(payment).collect::<Vec<_>>(),
        "amount_paid": money(o.amount_paid()),
        "shipment": o.shipment(),
        "completed_at": o.completed_at(),
        "feedback": o.feedback(),
        "dispute": o.dispute(),
        "refunds": o.refunds(),
        "deadlines": o.deadlines(),
        "version": o.version(),
        "created_at": o.created_at(),
        "updated_at": o.updated_at(),
    })
}

/// What leaving feedback created.
pub fn feedback(o: &Order) -> Value {
    json!({"order_id": o.id(), "supplier_id": o.supplier_id(), "feedback": o.feedback()})
}

/// The payment a request just started: the order's newest payment.
pub fn last_payment(o: &Order) -> Value {
    o.payments().last().map_or(Value::Null, payment)
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
