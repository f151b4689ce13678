//! The OpenAPI 3.1 document of the API, generated from the route table (so
//! no route can be missing), written so that client generators produce a
//! client that works:
//!
//! - every operation has a `summary` and an `operationId` named after its
//!   step (`createOrder`, `confirmOrder`, …), unique;
//! - each route lists only the statuses it can answer;
//! - every object and every enum is a named component (`$ref`), never an
//!   inline schema repeated in several places (which generators name
//!   `Payment1`, `Payment2`, …); a request body that takes one of several
//!   shapes is a `oneOf` of named variants;
//! - each error status has exactly one media type, so a generator parses it
//!   with the one model it documents (a generator reads only the first of
//!   several, and then fails on the others).
//!
//! Which media type, per status: the functions answer every refusal as
//! `application/problem+json` (`Problem`, its `type` one of
//! [`PROBLEM_TYPES`]). API Gateway answers a few things by itself, before
//! any function runs, as `application/json` `{"message": …}`, and an HTTP
//! API cannot change that: of those, only its 401 answers a documented
//! request — any request without a valid token on a route behind the JWT
//! authorizer — so there 401 is documented as what the gateway sends
//! (`GatewayMessage`; no function answers 401 on those routes: a token the
//! authorizer accepted names a caller, Cognito's `sub` always being a valid
//! user id). On the public webhook route the
//! function answers 401 (a bad signature), as a problem. The gateway's
//! other answers are not documented: its 404 is for a path or method no
//! route has (a documented path always reaches a function, which answers
//! 404 for an unknown resource as a problem), and its 413 is for a body
//! over its 10 MB quota, far beyond the 64 KiB the functions refuse with
//! the documented 413 problem. docs/api.md says the same for readers.

use serde_json::{Map, Value, json};

use crate::routes::{ROUTES, Route};

// ---- schema helpers ---------------------------------------------------------------

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A named schema, with a description of what this use of it means.
fn described(name: &str, description: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}"), "description": description})
}

fn nullable(schema: Value) -> Value {
    json!({"oneOf": [schema, {"type": "null"}]})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn date() -> Value {
    json!({"type": "string", "format": "date"})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn list_of(name: &str) -> Value {
    json!({"type": "array", "items": reference(name)})
}

/// Text as the domain takes it (`domain::text::Text`): something besides
/// white space, no control characters but tab and newline, at most `max`
/// characters.
fn text(max: u32) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max,
        "pattern": "^[^\\x00-\\x08\\x0B-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x08\\x0B-\\x1F\\x7F-\\x9F]*$"})
}

/// A whole number in a request body. JSON Schema counts `3.0` as an
/// integer too; the handlers do not (400), hence the description.
fn whole(min: u64, max: u64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max,
        "description": "written without a fraction or exponent: 3, not 3.0"})
}

/// An object with these properties, the `required` ones always present,
/// no others.
fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "additionalProperties": false, "required": required,
        "properties": properties})
}

/// An object with exactly these properties, all of them always present.
fn record(properties: Value) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
}

/// `{"items": [...]}` (and `next_cursor` when there is more).
fn listing(item: &str, paginated: bool) -> Value {
    let mut list = object(&["items"], json!({"items": list_of(item)}));
    if paginated {
        list["properties"]["next_cursor"] = json!({"type": "string",
            "description": "present when there is more: pass it as `cursor` for the next page"});
    }
    list
}

fn enumeration<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> Value {
    let values: Vec<&str> = values.into_iter().collect();
    json!({"type": "string", "enum": values, "description": description})
}

/// `https://trade-assurance.dev/problems/{slug}`.
pub fn problem_type(slug: &str) -> String {
    format!("https://trade-assurance.dev/problems/{slug}")
}

// ---- problems ---------------------------------------------------------------------

/// Every problem `type` (its last segment) the API can answer, with its
/// status: the refusals of `problem.rs` and the codes of the domain's
/// conflicts and rules (`domain::error`, `domain::payment`). A test reads
/// those sources and fails on a code missing here.
pub const PROBLEM_TYPES: &[(&str, u16)] = &[
    ("bad-request", 400),
    ("unauthenticated", 401),
    ("invalid-signature", 401),
    ("forbidden", 403),
    ("not-found", 404),
    ("method-not-allowed", 405),
    ("wrong-status", 409),
    ("conflict", 409),
    ("concurrent-change", 409),
    ("request-in-progress", 409),
    ("credit-line-exists", 409),
    ("version-mismatch", 409),
    ("already-confirmed", 409),
    ("nothing-to-remind", 409),
    ("payment-in-flight", 409),
    ("duplicate-payment-id", 409),
    ("dispute-unresolved", 409),
    ("dispute-already-open", 409),
    ("no-open-dispute", 409),
    ("dispute-escalated", 409),
    ("dispute-not-escalated", 409),
    ("no-pending-offer", 409),
    ("already-recorded", 409),
    ("feedback-already-left", 409),
    ("not-flagged", 409),
    ("cannot-resolve", 409),
    ("already-rejected", 409),
    ("refund-not-flagged", 409),
    ("payload-too-large", 413),
    ("idempotency-key-reused", 422),
    ("order-too-large", 422),
    ("invalid-terms", 422),
    ("assurance-limit", 422),
    ("no-assurance-limit-available", 422),
    ("credit-line", 422),
    ("insufficient-credit", 422),
    ("rule", 422),
    ("same-buyer-and-supplier", 422),
    ("ship-by-in-past", 422),
    ("card-limit-exceeded", 422),
    ("card-brand-not-accepted", 422),
    ("echeck-requires-us-checking", 422),
    ("no-receiving-account", 422),
    ("no-approved-credit-line", 422),
    ("pay-later-term-out-of-range", 422),
    ("too-many-failed-payments", 422),
    ("no-balance-due", 422),
    ("shipped-at-in-future", 422),
    ("shipped-at-too-old", 422),
    ("shipped-before-confirmation", 422),
    ("before-shipment", 422),
    ("in-future", 422),
    ("nothing-to-record", 422),
    ("no-extensions-left", 422),
    ("feedback-window-closed", 422),
    ("not-late-yet", 422),
    ("shipped-on-time", 422),
    ("coverage-ended", 422),
    ("not-shipped-yet", 422),
    ("quality-window-closed", 422),
    ("refund-not-positive", 422),
    ("refund-exceeds-covered", 422),
    ("refund-exceeds-paid", 422),
    ("not-yet-escalatable", 422),
    ("empty-comment", 422),
    ("too-much-evidence", 422),
    ("too-much-evidence-for-party", 422),
    ("too-many-disputes", 422),
    ("claim-rejected-final", 422),
    ("too-many-messages", 422),
    ("too-many-messages-for-party", 422),
    ("dispute-texts-full", 422),
    ("message-too-long-when-full", 422),
    ("no-message-room-left", 422),
    ("amount-out-of-range", 422),
    ("too-many-requests", 429),
    ("internal", 500),
    ("unavailable", 503),
];

fn problem_schemas() -> Value {
    let mut by_status: Vec<String> = Vec::new();
    let mut statuses: Vec<u16> = PROBLEM_TYPES.iter().map(|(_, s)| *s).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let slugs: Vec<&str> = PROBLEM_TYPES
            .iter()
            .filter(|(_, s)| *s == status)
            .map(|(slug, _)| *slug)
            .collect();
        by_status.push(format!("{status}: {}", slugs.join(", ")));
    }
    let uris: Vec<String> = PROBLEM_TYPES
        .iter()
        .map(|(slug, _)| problem_type(slug))
        .collect();
    // Names for the enum's members in generated code (`NOT_FOUND`, not a
    // name made of the whole URI).
    let names: Vec<String> = PROBLEM_TYPES
        .iter()
        .map(|(slug, _)| slug.replace('-', "_").to_ascii_uppercase())
        .collect();
    json!({
        "ProblemType": {"type": "string", "format": "uri", "enum": uris, "x-enum-varnames": names,
            "description": format!(
                "what went wrong: https://trade-assurance.dev/problems/ and a stable code to branch on. \
                 By status — {}.", by_status.join("; "))},
        "FieldError": object(&["field", "message"], json!({
            "field": {"type": "string", "description": "the body field (`items[0].quantity`), query parameter or header at fault"},
            "message": string()})),
        "Problem": {"type": "object", "additionalProperties": false,
            "required": ["type", "title", "status", "detail"],
            "description": "an RFC 9457 problem: every refusal a function answers (application/problem+json)",
            "properties": {
                "type": reference("ProblemType"),
                "title": string(),
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": string(),
                "errors": {"type": "array", "items": reference("FieldError"),
                    "description": "every field that failed (400 and some 422)"}}},
        "GatewayMessage": object(&["message"], json!({"message": string()})),
    })
}

// ---- enums ------------------------------------------------------------------------

fn enum_schemas() -> Value {
    use domain::dispute::DisputeStatus;
    use domain::order::AttentionKind;
    use domain::status::OrderStatus;
    json!({
        "OrderStatus": enumeration(OrderStatus::ALL.iter().map(|s| s.as_str()), "where an order is in its lifecycle"),
        "OrderEndReason": enumeration(["by_party", "not_confirmed", "unpaid", "balance_unpaid", "not_shipped", "dispute"],
            "why an order ended (cancelled, closed or refunded)"),
        "Party": enumeration(["buyer", "supplier"], "a party to an order"),
        "ActorRole": enumeration(["buyer", "supplier", "arbiter", "provider", "scheduler"], "who acted"),
        "CoverageType": enumeration(["pre_shipment", "post_delivery"], "what Trade Assurance covers"),
        "InspectionAgency": enumeration(["SGS", "BV", "TUV"], "the inspection agency"),
        "InspectionLocation": enumeration(["china", "overseas"], "where the goods are inspected"),
        "DeadlineKind": enumeration(["confirmation_due", "ship_by", "unpaid_cancellation",
                "agreement_due", "payment_expected_by", "payment_expires", "not_shipped_refund",
                "balance_due", "receipt_auto_confirmation", "supplier_response_due",
                "escalation_due", "refund_expected_by", "quality_window_end", "feedback_window_end"],
            "which clock runs out"),
        "PaymentStage": enumeration(["initial", "balance"], "which part of the order a payment pays"),
        "PaymentMethod": enumeration(["e_checking", "credit_card", "telegraphic_transfer", "pay_later"], "how a payment is made"),
        "PaymentStatus": enumeration(["awaiting_agreement", "processing", "succeeded", "failed", "refunded"], "where a payment is"),
        "PaymentFailureReason": enumeration(["declined", "expired"], "why a payment failed"),
        "PaymentFlagReason": enumeration(["amount_mismatch", "currency_mismatch", "contradicts_final_status",
                "closed_order", "overdue", "wrong_provider", "beyond_coverage", "provider_refused"],
            "why a payment waits for an arbiter"),
        "Provider": enumeration(domain::actor::Provider::ALL.iter().map(|p| p.as_str()), "a payment provider"),
        "RefundStatus": enumeration(["requested", "succeeded"], "where a refund part is"),
        "RefundFlagReason": enumeration(["refund_failed", "overdue", "mismatch", "provider_refused"], "why a refund part waits for an arbiter"),
        "DisputeReason": enumeration(["late_shipment", "quality"], "what a dispute claims"),
        "DisputeStatus": enumeration(DisputeStatus::ALL.iter().map(|s| s.as_str()), "where a dispute is"),
        "DisputeOutcome": enumeration(["agreed", "supplier_at_fault", "claim_rejected", "withdrawn"], "how a dispute ended"),
        "DisputeEntryKind": enumeration(["opened", "accepted", "offered", "rejected", "commented", "withdrawn",
                "escalated", "decided"], "what a step of a dispute did"),
        "DisputeReplyAction": enumeration(["accept", "reject", "comment"],
            "accept the claim or the pending offer, reject the claim, or only comment"),
        "PaymentResolutionChoice": enumeration(["accept", "refund"],
            "accept a flagged payment as paid, or return its money"),
        "RefundResolutionChoice": enumeration(["retry", "settled_outside"],
            "ask the provider again, or record that the money was returned outside the platform"),
        "CreditLineStatus": enumeration(["pending", "approved", "declined"], "where a Pay Later application is"),
        "ProviderEventType": enumeration(crate::webhook::EVENT_TYPES, "what a provider reports"),
        "FlagKind": enumeration(AttentionKind::ALL.iter().map(|k| k.as_str()),
            "what needs an operator: a flagged payment, a payment past its arrival window, a refund part \
             the provider could not settle, a verified provider event that could not be applied"),
        "Country": {"type": "string", "enum": domain::text::ISO_3166_ALPHA2,
            "description": "an assigned ISO 3166-1 alpha-2 code"},
    })
}

// ---- request bodies ---------------------------------------------------------------

/// The contract terms' properties (and which are required), as created
/// and amended.
fn terms_properties() -> (Value, Vec<&'static str>) {
    let properties = json!({
        "items": {"type": "array", "minItems": 1, "maxItems": 100, "items": reference("LineItem")},
        "shipping_fee": reference("Amount"),
        "currency": {"const": "USD"},
        "initial_payment": reference("Amount"),
        "ship_by": date(),
        "quality_terms": text(2000),
        "destination_country": reference("Country"),
        "coverage": reference("CoverageType"),
        "inspection": reference("Inspection"),
        "contract_document": reference("Document"),
    });
    let required = vec![
        "items",
        "currency",
        "initial_payment",
        "ship_by",
        "quality_terms",
        "destination_country",
        "coverage",
    ];
    (properties, required)
}

/// A new order naming `counterparty` (`supplier_id` or `buyer_id`).
fn new_order(counterparty: &str, description: &str) -> Value {
    let (mut properties, mut required) = terms_properties();
    properties[counterparty] = described("UserId", "the other party's user id");
    required.insert(0, counterparty);
    let mut schema = object(&required, properties);
    schema["description"] = json!(description);
    schema
}

/// A payment by `method`, with the details it needs.
fn new_payment(method: &str, details: Value, required: &[&str]) -> Value {
    let mut properties = json!({"stage": reference("PaymentStage"), "method": {"const": method}});
    if let (Some(p), Value::Object(details)) = (properties.as_object_mut(), details) {
        p.extend(details);
    }
    let mut all = vec!["stage", "method"];
    all.extend_from_slice(required);
    object(&all, properties)
}

/// Request bodies: what the handlers decode (`dto.rs`), as strictly as
/// they parse it, so that what the document calls valid is.
fn request_schemas() -> Value {
    let evidence = json!({"type": "array", "maxItems": 10, "items": reference("Document")});
    let (properties, required) = terms_properties();
    let mut terms = object(&required, properties);
    terms["description"] = json!("the contract terms, amended (the parties cannot be)");
    let orders = json!({
        "Amount": {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,2})?$",
            "description": "US dollars as a decimal string, at most 2 decimal places"},
        "UserId": {"type": "string", "pattern": "^[A-Za-z0-9._@:-]{1,128}$"},
        "HttpsUrl": {"type": "string", "maxLength": 2048,
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]://([!-?A-~]*@)?[A-Za-z0-9._~%!$&'()*+,;=-]+(:[0-9]*)?([/?#][!-~]*)?$",
            "description": "an https URL with a host, printable ASCII only (percent-encode anything else)"},
        "Sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        "Document": object(&["name", "url", "sha256"], json!({"name": text(200),
            "url": reference("HttpsUrl"), "sha256": reference("Sha256")})),
        "LineItem": object(&["description", "quantity", "unit_price"], json!({
            "description": text(200), "quantity": whole(1, u64::from(u32::MAX)),
            "unit_price": reference("Amount")})),
        "Inspection": object(&["agency", "location"], json!({
            "agency": reference("InspectionAgency"), "location": reference("InspectionLocation")})),
        "NewOrder": {"oneOf": [reference("BuyerCreatesOrder"), reference("SupplierDraftsOrder")],
            "description": "a buyer creating names the supplier; a supplier drafting names the buyer"},
        "BuyerCreatesOrder": new_order("supplier_id", "a buyer creates an order with this supplier"),
        "SupplierDraftsOrder": new_order("buyer_id", "a supplier drafts an order (agreed offline) for this buyer"),
        "Terms": terms,
        "Confirm": object(&["version"], json!({"version": whole(0, u64::MAX)})),
        "Empty": {"type": "object", "additionalProperties": false, "properties": {},
            "description": "no fields: `{}` or an empty body"},
    });
    let payments = json!({
        "NewPayment": {"oneOf": [reference("CardPayment"), reference("ECheckPayment"),
                reference("WireTransferPayment"), reference("PayLaterPayment")],
            "discriminator": {"propertyName": "method", "mapping": {
                "credit_card": "#/components/schemas/CardPayment",
                "e_checking": "#/components/schemas/ECheckPayment",
                "telegraphic_transfer": "#/components/schemas/WireTransferPayment",
                "pay_later": "#/components/schemas/PayLaterPayment"}},
            "description": "a stage paid by a method, with the details that method needs"},
        "CardPayment": new_payment("credit_card", json!({"card_brand": {"type": "string",
            "description": "visa or mastercard are accepted"}}), &["card_brand"]),
        "ECheckPayment": new_payment("e_checking", json!({"bank_country": reference("Country"),
            "account_type": {"enum": ["checking", "savings"], "type": "string",
                "description": "only a checking account at a US bank is accepted"}}),
            &["bank_country", "account_type"]),
        "WireTransferPayment": new_payment("telegraphic_transfer", json!({}), &[]),
        "PayLaterPayment": new_payment("pay_later", json!({"term_months": whole(0, u64::from(u32::MAX))}),
            &["term_months"]),
        "Resolution": object(&["resolution"], json!({"resolution": reference("PaymentResolutionChoice")})),
        "RefundResolution": object(&["resolution"], json!({"resolution": reference("RefundResolutionChoice")})),
        "ProviderEvent": {"type": "object", "required": ["type", "data"],
            "description": "a payment provider's event, signed with the Standard Webhooks scheme (webhook-id, webhook-timestamp, webhook-signature)",
            "properties": {"type": reference("ProviderEventType"), "data": reference("ProviderEventData")}},
        "ProviderEventData": {"type": "object", "description": "what the event is about, by its type",
            "properties": {
                "payment_id": string(), "order_id": string(), "refund_id": string(),
                "amount": reference("Amount"), "currency": string(), "provider_reference": string(),
                "buyer_id": string(), "application_id": string(), "limit": reference("Amount")}},
    });
    let others = json!({
        "NewShipment": object(&["carrier", "tracking_number"], json!({"carrier": text(200),
            "tracking_number": text(200),
            "shipped_at": {"type": "string", "format": "date-time", "description": "now if not given"}})),
        "Delivery": {"type": "object", "additionalProperties": false, "minProperties": 1,
            "description": "customs_cleared_at, delivered_at or both",
            "properties": {"customs_cleared_at": time(), "delivered_at": time()}},
        "NewFeedback": object(&["rating", "comment"], json!({"rating": whole(1, 5), "comment": text(2000)})),
        "SetAssuranceLimit": object(&["limit"], json!({"limit": reference("Amount"),
            "receiving_account": reference("ReceivingAccount")})),
        "ReceivingAccount": object(&["bank_name", "account_name", "account_number", "swift"], json!({
            "bank_name": text(200), "account_name": text(200), "account_number": text(200),
            "swift": text(200)})),
        "OpenDispute": object(&["reason", "requested_refund", "description"], json!({
            "reason": reference("DisputeReason"), "requested_refund": reference("Amount"),
            "description": text(2000), "evidence": evidence.clone()})),
        "DisputeResponse": {"oneOf": [reference("DisputeOffer"), reference("DisputeReply")],
            "description": "a counter-offer (the supplier), or accepting, rejecting or commenting"},
        "DisputeOffer": object(&["action", "refund_amount"], json!({"action": {"const": "offer"},
            "refund_amount": reference("Amount"), "message": text(2000), "evidence": evidence.clone()})),
        "DisputeReply": object(&["action"], json!({"action": reference("DisputeReplyAction"),
            "message": text(2000), "evidence": evidence})),
        "Decision": {"oneOf": [reference("SupplierAtFault"), reference("ClaimRejected")],
            "discriminator": {"propertyName": "outcome", "mapping": {
                "supplier_at_fault": "#/components/schemas/SupplierAtFault",
                "claim_rejected": "#/components/schemas/ClaimRejected"}},
            "description": "an arbiter's decision on an escalated dispute"},
        "SupplierAtFault": object(&["outcome", "refund_amount"], json!({
            "outcome": {"const": "supplier_at_fault"}, "refund_amount": reference("Amount")})),
        "ClaimRejected": object(&["outcome"], json!({"outcome": {"const": "claim_rejected"}})),
    });
    merged([orders, payments, others])
}

/// The entries of several maps in one.
fn merged<const N: usize>(parts: [Value; N]) -> Value {
    let mut all = Map::new();
    for part in parts {
        if let Value::Object(part) = part {
            all.extend(part);
        }
    }
    Value::Object(all)
}

// ---- response bodies --------------------------------------------------------------

/// The dispute's own properties (`view::dispute_body`).
fn dispute_properties() -> Value {
    json!({
        "reason": reference("DisputeReason"),
        "status": reference("DisputeStatus"),
        "outcome": nullable(reference("DisputeOutcome")),
        "requested_refund": reference("Money"),
        "description": string(),
        "opened_at": time(),
        "supplier_response_due": time(),
        "resolution_due": time(),
        "supplier_responded_at": nullable(time()),
        "pending_offer": nullable(reference("Money")),
        "escalated_at": nullable(time()),
        "escalation_ground": {"type": ["string", "null"]},
        "resolved_at": nullable(time()),
        "refund_amount": nullable(reference("Money")),
        "inspection_fee_refund": nullable(reference("Money")),
        "entries": list_of("DisputeEntry"),
        "deadlines": {"type": "array", "items": reference("Deadline"),
            "description": "the dispute's own clocks while it is unresolved"},
    })
}

fn with(mut base: Value, more: Value) -> Value {
    if let (Some(b), Value::Object(more)) = (base.as_object_mut(), more) {
        b.extend(more);
    }
    base
}

/// Response bodies: what `view.rs` renders, every field.
fn response_schemas() -> Value {
    let dispute_action = with(
        dispute_properties(),
        json!({"order_id": string(), "order_status": reference("OrderStatus"),
            "order_version": {"type": "integer", "minimum": 0}}),
    );
    let dispute_summary = with(
        dispute_action.clone(),
        json!({"buyer_id": string(), "supplier_id": string(),
            "covered_amount": nullable(reference("Money")), "amount_paid": reference("Money")}),
    );
    let common = json!({
        "Money": object(&["amount", "currency"], json!({"amount": reference("Amount"), "currency": {"const": "USD"}})),
        "Actor": object(&["role"], json!({"role": reference("ActorRole"),
            "id": {"type": "string", "description": "the user, or the provider; none for the scheduler"}})),
        "EventActor": object(&["kind"], json!({"kind": reference("ActorRole"),
            "id": {"type": "string", "description": "the user, or the provider; none for the scheduler"}})),
        "Deadline": object(&["kind", "due"], json!({"kind": reference("DeadlineKind"), "due": time(),
            "payment_id": string(), "refund_id": string()})),
        "OrderItem": record(json!({"description": string(),
            "quantity": {"type": "integer", "minimum": 1}, "unit_price": reference("Money")})),
        "OrderInspection": record(json!({"agency": reference("InspectionAgency"),
            "location": reference("InspectionLocation"), "fee": reference("Money")})),
        "Coverage": record(json!({"type": reference("CoverageType"),
            "covered_amount": nullable(reference("Money")), "reserved": reference("Money"),
            "refunded": reference("Money"), "ends_at": nullable(time())})),
        "Confirmations": record(json!({"buyer": nullable(time()), "supplier": nullable(time())})),
        "Shipment": {"type": "object", "required": ["carrier", "tracking_number", "shipped_at"],
            "properties": {"carrier": string(), "tracking_number": string(), "shipped_at": time(),
                "late": {"type": "boolean"}, "customs_cleared_at": nullable(time()),
                "delivered_at": nullable(time())}},
        "Receipt": record(json!({"auto_confirm_at": nullable(time()),
            "extensions_used": {"type": "integer", "minimum": 0},
            "extensions_left": {"type": "integer", "minimum": 0}})),
        "Feedback": record(json!({"rating": {"type": "integer", "minimum": 1, "maximum": 5},
            "comment": string(), "at": time()})),
    });
    let orders = json!({
        "Order": order(),
        "OrderList": listing("Order", true),
        "HistoryEntry": record(json!({"at": time(), "actor": reference("EventActor"),
            "event": {"type": "string", "description": "the event's detail-type, e.g. OrderConfirmed"},
            "status": reference("OrderStatus"), "summary": string()})),
        "History": listing("HistoryEntry", true),
        "DisputeEntry": record(json!({"at": time(), "by": reference("Actor"),
            "action": reference("DisputeEntryKind"), "amount": nullable(reference("Money")),
            "message": {"type": ["string", "null"]}, "evidence": list_of("Document")})),
        "Dispute": record(dispute_properties()),
        "DisputeAction": record(dispute_action),
        "DisputeSummary": record(dispute_summary),
        "DisputeList": listing("DisputeSummary", true),
    });
    let payments = json!({
        "PaymentFlag": record(json!({"reason": reference("PaymentFlagReason"), "at": time()})),
        "ArrivalWindow": record(json!({"earliest": date(), "latest": date()})),
        "WireInstructions": record(json!({"bank_name": string(), "account_name": string(),
            "account_number": string(), "swift": string(),
            "reference": {"type": "string", "description": "quote it on the wire"},
            "amount": reference("Money")})),
        "Payment": record(json!({
            "id": string(), "stage": reference("PaymentStage"), "method": reference("PaymentMethod"),
            "amount": reference("Money"), "inspection_fee": reference("Money"), "fee": reference("Money"),
            "status": reference("PaymentStatus"),
            "failure_reason": nullable(reference("PaymentFailureReason")),
            "flagged": {"type": "boolean"},
            "flag": nullable(reference("PaymentFlag")),
            "expected_arrival": nullable(reference("ArrivalWindow")),
            "agreement_due": nullable(time()),
            "expires_at": nullable(time()),
            "instructions": nullable(reference("WireInstructions")),
            "provider_reference": nullable(string()),
            "next_action": nullable(reference("NextAction")),
            "refunded": reference("Money"), "initiated_at": time(), "settled_at": nullable(time()),
        })),
        "NextAction": {"description": "the buyer's next step with the provider, as it answered the payment's request",
            "oneOf": [reference("CheckoutAction"), reference("AuthorizeAction"), reference("WireAction"),
                reference("LoanAgreementAction")]},
        "CheckoutAction": record(json!({"type": {"const": "checkout"}, "url": string()})),
        "AuthorizeAction": record(json!({"type": {"const": "authorize"}, "url": string()})),
        "WireAction": record(json!({"type": {"const": "wire"}, "instructions": reference("WireInstructions")})),
        "LoanAgreementAction": record(json!({"type": {"const": "loan_agreement"}, "url": string()})),
        "PaymentList": listing("Payment", false),
        "RefundPart": record(json!({
            "id": string(), "payment_id": string(), "provider": reference("Provider"),
            "amount": reference("Money"), "status": reference("RefundStatus"),
            "attempts": {"type": "integer", "minimum": 1}, "flagged": {"type": "boolean"},
            "flag_reason": nullable(reference("RefundFlagReason")),
            "requested_at": time(), "attempted_at": time(), "provider_key": string(),
            "provider_reference": nullable(string()),
            "settled_at": nullable(time()), "settled_outside": {"type": "boolean"}})),
    });
    let others = json!({
        "FeedbackLeft": record(json!({"order_id": string(), "supplier_id": string(),
            "feedback": reference("Feedback")})),
        "SupplierRating": {"type": "object", "additionalProperties": false,
            "required": ["supplier_id", "count", "average_rating", "items"],
            "description": "count and average over all the supplier's feedback; items newest first, a page at a time, naming neither orders nor buyers",
            "properties": {"supplier_id": string(),
                "count": {"type": "integer", "minimum": 0},
                "average_rating": {"type": ["string", "null"]},
                "items": list_of("Feedback"),
                "next_cursor": {"type": "string"}}},
        "CreditLine": record(json!({"buyer_id": string(), "application_id": string(),
            "status": reference("CreditLineStatus"), "limit": reference("Money"),
            "reserved": reference("Money"), "available": reference("Money"),
            "applied_at": time(), "decided_at": nullable(time())})),
        "AssuranceLimit": record(json!({"supplier_id": string(),
            "limit": reference("Money"), "reserved": reference("Money"), "available": reference("Money"),
            "receiving_account": nullable(reference("ReceivingAccount"))})),
        "WebhookAccepted": record(json!({"status": {"const": "accepted"}, "webhook_id": string()})),
        "Flag": {"type": "object", "additionalProperties": false,
            "required": ["kind", "reason", "detail", "at"],
            "description": "something that needs an operator; fields that do not apply are absent",
            "properties": {"kind": reference("FlagKind"),
                "reason": {"type": "string", "description": "why, as a code (a payment's or refund part's flag reason, or why an event was refused)"},
                "detail": string(), "at": time(), "order_id": string(), "payment_id": string(),
                "refund_id": string(), "amount": reference("Money"), "provider": reference("Provider"),
                "webhook_id": string(), "event_type": string(),
                "body": {"type": "string", "description": "the refused event's body, as received"}}},
        "FlagList": listing("Flag", true),
    });
    merged([common, orders, payments, others])
}

/// The order as `view::order` renders it.
fn order() -> Value {
    record(json!({
        "id": string(), "status": reference("OrderStatus"),
        "status_reason": nullable(reference("OrderEndReason")),
        "buyer_id": string(), "supplier_id": string(),
        "created_by": reference("Party"),
        "items": {"type": "array", "minItems": 1, "items": reference("OrderItem")},
        "shipping_fee": reference("Money"), "total": reference("Money"),
        "initial_payment": reference("Money"), "balance": reference("Money"),
        "ship_by": date(), "quality_terms": string(),
        "destination_country": string(),
        "inspection": nullable(reference("OrderInspection")),
        "contract_document": nullable(reference("Document")),
        "coverage": reference("Coverage"),
        "confirmations": reference("Confirmations"),
        "payments": list_of("Payment"),
        "amount_paid": reference("Money"),
        "shipment": nullable(reference("Shipment")),
        "completed_at": nullable(time()),
        "receipt": nullable(reference("Receipt")),
        "feedback": nullable(reference("Feedback")),
        "dispute": nullable(reference("Dispute")),
        "past_disputes": list_of("Dispute"),
        "refunds": list_of("RefundPart"),
        "amount_refunded": reference("Money"),
        "deadlines": {"type": "array", "items": reference("Deadline"),
            "description": "every clock running on the order"},
        "version": {"type": "integer", "minimum": 0, "description": "what a confirmation names"},
        "created_at": time(), "updated_at": time(),
    }))
}

fn schemas() -> Value {
    merged([
        problem_schemas(),
        enum_schemas(),
        request_schemas(),
        response_schemas(),
    ])
}

// ---- operations -------------------------------------------------------------------

/// Each operation's id (the step, camelCase) and summary.
const OPERATIONS: &[(&str, &str, &str, &str)] = &[
    (
        "POST",
        "/v1/orders",
        "createOrder",
        "Create an order (a buyer), or draft one agreed offline (a supplier)",
    ),
    (
        "GET",
        "/v1/orders",
        "listOrders",
        "List your orders, newest first",
    ),
    ("GET", "/v1/orders/{id}", "getOrder", "Get an order"),
    (
        "GET",
        "/v1/orders/{id}/history",
        "getOrderHistory",
        "Get an order's events, oldest first",
    ),
    (
        "POST",
        "/v1/orders/{id}/amend",
        "amendOrder",
        "Amend the contract terms before both parties confirmed",
    ),
    (
        "POST",
        "/v1/orders/{id}/confirm",
        "confirmOrder",
        "Confirm the contract version you saw",
    ),
    (
        "POST",
        "/v1/orders/{id}/remind",
        "remindOrder",
        "Remind the other party to confirm (once a day)",
    ),
    (
        "POST",
        "/v1/orders/{id}/cancel",
        "cancelOrder",
        "Cancel an order before anything is paid",
    ),
    (
        "POST",
        "/v1/orders/{id}/shipment",
        "shipOrder",
        "Record the shipment (the supplier)",
    ),
    (
        "POST",
        "/v1/orders/{id}/delivery",
        "recordDelivery",
        "Record customs clearance or delivery (the buyer)",
    ),
    (
        "POST",
        "/v1/orders/{id}/receipt",
        "confirmReceipt",
        "Confirm receipt of the goods (the buyer)",
    ),
    (
        "POST",
        "/v1/orders/{id}/receipt/extension",
        "extendReceipt",
        "Extend the time to confirm receipt (the buyer)",
    ),
    (
        "POST",
        "/v1/orders/{id}/feedback",
        "leaveFeedback",
        "Leave feedback on the supplier (the buyer, once)",
    ),
    (
        "GET",
        "/v1/orders/{id}/payments",
        "listPayments",
        "List an order's payments",
    ),
    (
        "POST",
        "/v1/orders/{id}/payments",
        "initiatePayment",
        "Pay a stage of the order (the buyer)",
    ),
    (
        "POST",
        "/v1/orders/{id}/payments/{pid}/resolution",
        "resolvePayment",
        "Settle a flagged payment (an arbiter)",
    ),
    (
        "POST",
        "/v1/orders/{id}/refunds/{rid}/resolution",
        "resolveRefund",
        "Settle a flagged refund part (an arbiter)",
    ),
    (
        "POST",
        "/v1/orders/{id}/dispute",
        "openDispute",
        "Open a dispute (the buyer)",
    ),
    (
        "POST",
        "/v1/orders/{id}/dispute/responses",
        "respondToDispute",
        "Accept, offer, reject or comment in a dispute",
    ),
    (
        "POST",
        "/v1/orders/{id}/dispute/withdraw",
        "withdrawDispute",
        "Withdraw the dispute (the buyer)",
    ),
    (
        "POST",
        "/v1/orders/{id}/dispute/escalate",
        "escalateDispute",
        "Escalate the dispute to an arbiter (the buyer, once eligible)",
    ),
    (
        "POST",
        "/v1/orders/{id}/dispute/decision",
        "decideDispute",
        "Decide an escalated dispute (an arbiter)",
    ),
    (
        "GET",
        "/v1/disputes",
        "listDisputes",
        "List disputes by status, oldest first (arbiters)",
    ),
    (
        "PUT",
        "/v1/suppliers/{id}/assurance-limit",
        "setAssuranceLimit",
        "Set a supplier's assurance limit (an arbiter)",
    ),
    (
        "GET",
        "/v1/suppliers/{id}/assurance-limit",
        "getAssuranceLimit",
        "Get a supplier's assurance limit (the supplier, arbiters)",
    ),
    (
        "GET",
        "/v1/suppliers/{id}/feedback",
        "getSupplierFeedback",
        "Get a supplier's rating and feedback, newest first",
    ),
    (
        "POST",
        "/v1/credit-line",
        "applyForCreditLine",
        "Apply for a Pay Later credit line (a buyer)",
    ),
    (
        "GET",
        "/v1/credit-line",
        "getCreditLine",
        "Get your Pay Later credit line (a buyer)",
    ),
    (
        "GET",
        "/v1/flags",
        "listFlags",
        "List what needs an operator, oldest first (arbiters)",
    ),
    (
        "POST",
        "/v1/webhooks/{provider}",
        "receiveProviderEvent",
        "Receive a payment provider's signed event",
    ),
];

fn names(op: &Route) -> Option<(&'static str, &'static str)> {
    OPERATIONS
        .iter()
        .find(|(m, p, _, _)| *m == op.method && *p == op.path)
        .map(|(_, _, id, summary)| (*id, *summary))
}

/// The tag (resource) an operation is listed under.
fn tag(path: &str) -> &'static str {
    if path.starts_with("/v1/webhooks") {
        "webhooks"
    } else if path.starts_with("/v1/flags") {
        "flags"
    } else if path.starts_with("/v1/credit-line") {
        "credit"
    } else if path.starts_with("/v1/suppliers") {
        "suppliers"
    } else if path.starts_with("/v1/disputes") || path.starts_with("/v1/orders/{id}/dispute") {
        "disputes"
    } else if path.starts_with("/v1/orders/{id}/payments")
        || path.starts_with("/v1/orders/{id}/refunds")
    {
        "payments"
    } else {
        "orders"
    }
}

/// The request body a route decodes, if any.
fn request_schema(op: &Route) -> Option<&'static str> {
    match (op.method, op.path) {
        ("POST", "/v1/orders") => Some("NewOrder"),
        ("POST", "/v1/orders/{id}/amend") => Some("Terms"),
        ("POST", "/v1/orders/{id}/confirm") => Some("Confirm"),
        ("POST", "/v1/orders/{id}/shipment") => Some("NewShipment"),
        ("POST", "/v1/orders/{id}/delivery") => Some("Delivery"),
        ("POST", "/v1/orders/{id}/feedback") => Some("NewFeedback"),
        ("POST", "/v1/orders/{id}/payments") => Some("NewPayment"),
        ("POST", "/v1/orders/{id}/payments/{pid}/resolution") => Some("Resolution"),
        ("POST", "/v1/orders/{id}/refunds/{rid}/resolution") => Some("RefundResolution"),
        ("POST", "/v1/orders/{id}/dispute") => Some("OpenDispute"),
        ("POST", "/v1/orders/{id}/dispute/responses") => Some("DisputeResponse"),
        ("POST", "/v1/orders/{id}/dispute/decision") => Some("Decision"),
        ("POST", "/v1/webhooks/{provider}") => Some("ProviderEvent"),
        ("PUT", "/v1/suppliers/{id}/assurance-limit") => Some("SetAssuranceLimit"),
        ("POST", _) => Some("Empty"),
        _ => None,
    }
}

fn success_status(op: &Route) -> &'static str {
    match (op.method, op.path) {
        ("POST", "/v1/orders")
        | ("POST", "/v1/orders/{id}/feedback")
        | ("POST", "/v1/orders/{id}/payments")
        | ("POST", "/v1/orders/{id}/dispute")
        | ("POST", "/v1/credit-line") => "201",
        ("POST", "/v1/webhooks/{provider}") => "202",
        _ => "200",
    }
}

/// The body of a route's success answer (a schema of `response_schemas`).
fn success_body(op: &Route) -> &'static str {
    match (op.method, op.path) {
        ("GET", "/v1/orders") => "OrderList",
        ("GET", "/v1/orders/{id}/history") => "History",
        ("GET", "/v1/orders/{id}/payments") => "PaymentList",
        ("POST", "/v1/orders/{id}/payments")
        | ("POST", "/v1/orders/{id}/payments/{pid}/resolution") => "Payment",
        ("POST", "/v1/orders/{id}/refunds/{rid}/resolution") => "RefundPart",
        ("POST", "/v1/orders/{id}/feedback") => "FeedbackLeft",
        ("GET", "/v1/suppliers/{id}/feedback") => "SupplierRating",
        ("GET", "/v1/disputes") => "DisputeList",
        ("GET", "/v1/flags") => "FlagList",
        (_, "/v1/credit-line") => "CreditLine",
        (_, "/v1/suppliers/{id}/assurance-limit") => "AssuranceLimit",
        ("POST", "/v1/webhooks/{provider}") => "WebhookAccepted",
        (_, path) if path.starts_with("/v1/orders/{id}/dispute") => "DisputeAction",
        _ => "Order",
    }
}

/// The statuses besides success a route can answer, from what its handler
/// does (`orders.rs`, `payments.rs`, …, `api.rs`):
/// - every route: 400 (a query parameter it does not take, a malformed
///   body or `Idempotency-Key`), 401, 503 (a dependency down);
/// - 403 where the caller's role or side decides (not on reading an
///   order, which is 404 for anyone not entitled to see it, nor on a
///   supplier's feedback, which anyone signed in reads);
/// - 404 where the path names something (an order, a payment, a refund
///   part, a supplier, a provider) and for a credit line not applied for;
/// - 409 and 422 where a POST changes state (a wrong status or a
///   concurrent change, a request with the same `Idempotency-Key` still
///   running; a business rule, the same key with another body);
/// - 413 where a body is read; 429 on the reminder (once a day).
///
/// The webhook route: 400 (not an event), 401 (signature), 404 (unknown
/// provider), 413, 503 (queue down).
fn statuses(op: &Route) -> Vec<u16> {
    if op.public {
        return vec![400, 401, 404, 413, 503];
    }
    let mut out = vec![400, 401];
    let reads_order = op.method == "GET" && op.path.starts_with("/v1/orders/{id}");
    if !(reads_order || (op.method, op.path) == ("GET", "/v1/suppliers/{id}/feedback")) {
        out.push(403);
    }
    if op.path.contains('{') || (op.method, op.path) == ("GET", "/v1/credit-line") {
        out.push(404);
    }
    match op.method {
        "POST" => out.extend([409, 413, 422]),
        "PUT" => out.push(413),
        _ => {}
    }
    if (op.method, op.path) == ("POST", "/v1/orders/{id}/remind") {
        out.push(429);
    }
    out.push(503);
    out.sort_unstable();
    out
}

/// What a 404 means on this path.
fn not_found(path: &str) -> &'static str {
    if path.starts_with("/v1/webhooks") {
        "no such provider (`not-found`)"
    } else if path.contains("{pid}") {
        "no such order or payment, or not yours (`not-found`)"
    } else if path.contains("{rid}") {
        "no such order or refund part, or not yours (`not-found`)"
    } else if path.starts_with("/v1/orders/{id}") {
        "no such order, or not yours: the same answer either way (`not-found`)"
    } else if path.ends_with("/assurance-limit") {
        "no such supplier, or no limit set for them (`not-found`)"
    } else if path.starts_with("/v1/suppliers") {
        "no such supplier (`not-found`)"
    } else {
        "you have not applied for a credit line (`not-found`)"
    }
}

fn retry_after(what: &str) -> Value {
    json!({"Retry-After": {"required": true, "description": what,
        "schema": {"type": "string", "pattern": "^[0-9]+$"}}})
}

/// One refusal: its description and the one media type it is answered as.
fn refusal(op: &Route, status: u16) -> Value {
    let problem = |description: &str| {
        json!({"description": description,
            "content": {"application/problem+json": {"schema": reference("Problem")}}})
    };
    match status {
        400 => problem(
            "malformed: a query parameter the route does not take, a body that does not decode \
             or a malformed value (`errors` names each field), a bad `Idempotency-Key` (`bad-request`)",
        ),
        401 if op.public => problem(
            "a missing, stale or wrong signature (`invalid-signature`); why is logged, never answered",
        ),
        401 => json!({
            "description": "no valid token. API Gateway's JWT authorizer answers this itself, before any \
                function, as JSON `{\"message\": \"Unauthorized\"}` (an HTTP API cannot change it); no \
                function answers 401 on this route",
            "headers": {"WWW-Authenticate": {"required": false,
                "description": "`Bearer`, with `error=\"invalid_token\"` when a token was sent",
                "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": reference("GatewayMessage")}}}),
        403 => problem("not this caller's action (`forbidden`)"),
        404 => problem(not_found(op.path)),
        409 => problem(
            "the state does not allow it now (`wrong-status`, `version-mismatch`, …), the order \
             changed meanwhile (`concurrent-change`), or a request with this Idempotency-Key is \
             still running (`request-in-progress`)",
        ),
        413 => problem(
            "a body over 64 KiB (`payload-too-large`). A body over API Gateway's own 10 MB quota \
             never reaches a function: the gateway refuses it itself, as JSON `{\"message\": …}`",
        ),
        422 => problem(
            "a business rule said no (`type` names it), or this Idempotency-Key was used with \
             another body (`idempotency-key-reused`)",
        ),
        429 => {
            let mut r =
                problem("too soon: one reminder per party per 24 hours (`too-many-requests`)");
            r["headers"] = retry_after("seconds until a reminder is accepted again");
            r
        }
        503 => {
            let mut r = problem(
                "a dependency is throttling or down (`unavailable`): retry after Retry-After, \
                 with the same Idempotency-Key",
            );
            r["headers"] = retry_after("seconds to wait before retrying");
            r
        }
        other => problem(&format!("status {other}")),
    }
}

fn parameter_schema(op: &Route, name: &str) -> (Value, &'static str) {
    let page = |default: u32| json!({"type": "integer", "minimum": 1, "maximum": app::page::MAX_PAGE, "default": default});
    match (name, op.path) {
        ("limit", "/v1/orders/{id}/history") => {
            (page(app::page::DEFAULT_HISTORY_PAGE), "how many on a page")
        }
        ("limit", _) => (page(app::page::DEFAULT_PAGE), "how many on a page"),
        ("cursor", _) => (string(), "the `next_cursor` of the previous page (opaque)"),
        ("status", "/v1/orders") => (reference("OrderStatus"), "only orders in this status"),
        ("status", _) => (
            json!({"$ref": "#/components/schemas/DisputeStatus", "default": "escalated"}),
            "only disputes in this status (escalated if not given)",
        ),
        ("as", _) => (
            reference("Party"),
            "list the orders where you are this party (a user who is both buyer and supplier)",
        ),
        ("kind", _) => (reference("FlagKind"), "only flags of this kind"),
        _ => (string(), "a query parameter"),
    }
}

fn operation(op: &Route) -> Value {
    let mut responses = Map::new();
    let mut success = json!({"description": "success",
        "content": {"application/json": {"schema": reference(success_body(op))}}});
    let mut headers = Map::new();
    if (op.method, op.path) == ("POST", "/v1/orders") {
        headers.insert(
            "Location".into(),
            json!({"required": true,
            "description": "the new order, `/v1/orders/{id}` (a replay answers the same)",
            "schema": {"type": "string", "format": "uri-reference"}}),
        );
    }
    if op.method == "POST" && !op.public {
        headers.insert("Idempotent-Replayed".into(), json!({"required": false,
            "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
            "schema": {"type": "string", "const": "true"}}));
    }
    if !headers.is_empty() {
        success["headers"] = Value::Object(headers);
    }
    responses.insert(success_status(op).into(), success);
    for status in statuses(op) {
        responses.insert(status.to_string(), refusal(op, status));
    }
    let (id, summary) = names(op).unwrap_or(("", ""));
    let mut operation = json!({
        "operationId": id,
        "summary": summary,
        "tags": [tag(op.path)],
        "x-function": op.function,
        "responses": responses,
    });
    let mut params = Vec::new();
    for segment in op.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (schema, description) = match name {
                "provider" => (reference("Provider"), "the provider sending the event"),
                "pid" => (string(), "the payment's id"),
                "rid" => (string(), "the refund part's id"),
                _ if op.path.starts_with("/v1/suppliers") => (string(), "the supplier's user id"),
                _ => (string(), "the order's id"),
            };
            params.push(json!({"name": name, "in": "path", "required": true,
                "description": description, "schema": schema}));
        }
    }
    if op.public {
        for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            params.push(
                json!({"name": header, "in": "header", "required": true, "schema": string()}),
            );
        }
    } else if op.method == "POST" {
        params.push(json!({"name": "Idempotency-Key", "in": "header", "required": false,
            "description": "retry with the same key and body to get the first answer again, changing nothing",
            "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"}}));
    }
    // The query parameters the route takes (any other is a 400).
    for name in op.query {
        let (schema, description) = parameter_schema(op, name);
        params.push(json!({"name": name, "in": "query", "required": false,
            "description": description, "schema": schema}));
    }
    if !params.is_empty() {
        operation["parameters"] = Value::Array(params);
    }
    if let Some(schema) = request_schema(op) {
        operation["requestBody"] = json!({"required": schema != "Empty",
            "content": {"application/json": {"schema": reference(schema)}}});
    }
    if op.public {
        operation["security"] = json!([]);
    }
    operation
}

/// The document, every route of [`ROUTES`] in it.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES.iter() {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Trade Assurance order service", "version": "1.0.0",
            "description": "Orders protected by Trade Assurance: contract, coverage, payments, shipment, \
                receipt, feedback, disputes. Every refusal a function answers is \
                application/problem+json (`Problem`, its `type` one of `ProblemType`). API Gateway \
                answers a missing or invalid token itself, as JSON `{\"message\": \"Unauthorized\"}` \
                (`GatewayMessage`): that is each token route's 401."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": "orders", "description": "an order from contract to receipt"},
            {"name": "payments", "description": "paying an order, and arbiters settling flagged payments and refunds"},
            {"name": "disputes", "description": "disputes and their arbitration"},
            {"name": "suppliers", "description": "assurance limits and feedback"},
            {"name": "credit", "description": "Pay Later credit lines"},
            {"name": "flags", "description": "what needs an operator"},
            {"name": "webhooks", "description": "payment providers' events"},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                out.push((method.to_ascii_uppercase(), path.clone(), op));
            }
        }
        out
    }

    #[test]
    fn every_route_is_in_the_document_with_its_method() {
        let doc = document();
        for r in ROUTES.iter() {
            let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} missing", r.method, r.path);
            assert!(op["responses"]["401"].is_object());
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let in_path: Vec<&str> = r
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(declared, in_path, "{} {}", r.method, r.path);
            assert_eq!(op["security"] == json!([]), r.public, "{}", r.path);
            assert_eq!(op["x-function"], r.function, "{}", r.path);
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap_or_default();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "unresolved {name}"
            );
        }
    }

    #[test]
    fn operations_have_a_summary_and_a_unique_camel_case_id_named_after_the_step() {
        let doc = document();
        let mut seen = BTreeSet::new();
        for (method, path, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap_or_default();
            let mut chars = id.chars();
            assert!(
                chars.next().is_some_and(|c| c.is_ascii_lowercase())
                    && chars.all(|c| c.is_ascii_alphanumeric()),
                "{method} {path}: operationId {id:?} is not camelCase"
            );
            assert!(seen.insert(id.to_owned()), "{id} twice");
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(!summary.is_empty(), "{method} {path} has no summary");
        }
        for (method, path, id) in [
            ("POST", "/v1/orders", "createOrder"),
            ("GET", "/v1/orders", "listOrders"),
            ("GET", "/v1/orders/{id}", "getOrder"),
            ("GET", "/v1/orders/{id}/history", "getOrderHistory"),
            ("POST", "/v1/orders/{id}/confirm", "confirmOrder"),
            ("POST", "/v1/orders/{id}/remind", "remindOrder"),
            ("GET", "/v1/flags", "listFlags"),
        ] {
            assert_eq!(
                doc["paths"][path][method.to_ascii_lowercase()]["operationId"],
                id,
                "{method} {path}"
            );
        }
        // No operation of the table left without a route, nor the reverse.
        let documented: BTreeSet<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(m, p, _)| (m, p))
            .collect();
        let named: BTreeSet<(String, String)> = OPERATIONS
            .iter()
            .map(|(m, p, _, _)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, named);
    }

    /// An inline schema that generators would make a model (or an enum
    /// class) of, named after where it sits: an object with properties, or
    /// an enum of more than one value.
    fn would_be_a_model(schema: &Value) -> bool {
        schema["properties"]
            .as_object()
            .is_some_and(|p| !p.is_empty())
            || schema["enum"].as_array().is_some_and(|e| e.len() > 1)
    }

    /// Every schema below `value` that is not a component itself, with
    /// where it sits.
    fn inline_schemas<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
        match value {
            Value::Object(map) => {
                if would_be_a_model(value) {
                    out.push((at.clone(), value));
                }
                for (k, v) in map {
                    inline_schemas(v, format!("{at}/{k}"), out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    inline_schemas(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn objects_and_enums_are_named_components_never_repeated_inline() {
        let doc = document();
        let mut inline = Vec::new();
        inline_schemas(&doc["paths"], "#/paths".into(), &mut inline);
        for (name, schema) in doc["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            // The component itself is named; what it holds is not.
            if let Value::Object(map) = schema {
                for (k, v) in map {
                    inline_schemas(v, format!("#/components/schemas/{name}/{k}"), &mut inline);
                }
            }
        }
        // No inline object with properties anywhere: each is a component.
        let objects: Vec<&String> = inline
            .iter()
            .filter(|(_, s)| s["properties"].as_object().is_some_and(|p| !p.is_empty()))
            .map(|(at, _)| at)
            .collect();
        assert!(objects.is_empty(), "inline objects: {objects:#?}");
        // An inline enum appears once, and no two different ones sit under
        // the same property name (generators name them after it).
        let mut by_schema: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        let mut by_property: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (at, schema) in &inline {
            by_schema.entry(schema.to_string()).or_default().push(at);
            let property = at.rsplit('/').next().unwrap_or_default().to_owned();
            by_property
                .entry(property)
                .or_default()
                .insert(schema.to_string());
        }
        for (schema, places) in by_schema {
            assert_eq!(places.len(), 1, "{schema} inline at {places:#?}");
        }
        for (property, schemas) in by_property {
            assert_eq!(
                schemas.len(),
                1,
                "inline enums under {property}: {schemas:#?}"
            );
        }
    }

    #[test]
    fn every_error_has_one_media_type_the_problem_but_the_gateways_401() {
        let doc = document();
        for (method, path, op) in operations(&doc) {
            let public = op["security"] == json!([]);
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if status.starts_with('2') {
                    continue;
                }
                let content = response["content"].as_object().cloned().unwrap_or_default();
                assert_eq!(content.len(), 1, "{method} {path} {status}");
                let expected = if status == "401" && !public {
                    ("application/json", "#/components/schemas/GatewayMessage")
                } else {
                    ("application/problem+json", "#/components/schemas/Problem")
                };
                assert_eq!(
                    content[expected.0]["schema"]["$ref"], expected.1,
                    "{method} {path} {status}"
                );
            }
        }
    }

    #[test]
    fn each_route_lists_only_what_it_can_answer() {
        let doc = document();
        let listed = |method: &str, path: &str| -> Vec<String> {
            doc["paths"][path][method]["responses"]
                .as_object()
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(
            listed("get", "/v1/orders/{id}"),
            ["200", "400", "401", "404", "503"]
        );
        assert_eq!(
            listed("get", "/v1/orders"),
            ["200", "400", "401", "403", "503"]
        );
        assert_eq!(
            listed("post", "/v1/orders"),
            ["201", "400", "401", "403", "409", "413", "422", "503"]
        );
        assert_eq!(
            listed("post", "/v1/orders/{id}/remind"),
            [
                "200", "400", "401", "403", "404", "409", "413", "422", "429", "503"
            ]
        );
        assert_eq!(
            listed("put", "/v1/suppliers/{id}/assurance-limit"),
            ["200", "400", "401", "403", "404", "413", "503"]
        );
        assert_eq!(
            listed("post", "/v1/webhooks/{provider}"),
            ["202", "400", "401", "404", "413", "503"]
        );
        assert_eq!(
            listed("get", "/v1/flags"),
            ["200", "400", "401", "403", "503"]
        );
        for (method, path, op) in operations(&doc) {
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            if method == "GET" {
                for code in ["409", "413", "422", "429"] {
                    assert!(!responses.contains_key(code), "{code} on GET {path}");
                }
            }
            let success: Vec<&String> = responses.keys().filter(|k| k.starts_with('2')).collect();
            assert_eq!(success.len(), 1, "{method} {path}");
        }
    }

    #[test]
    fn location_and_retry_after_are_documented() {
        let doc = document();
        for (method, path, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                let header = |name: &str| &response["headers"][name];
                match status.as_str() {
                    "201" if path == "/v1/orders" => {
                        assert_eq!(header("Location")["required"], true, "{method} {path}")
                    }
                    "429" | "503" => {
                        assert_eq!(
                            header("Retry-After")["required"],
                            true,
                            "{method} {path} {status}"
                        )
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn flags_are_documented_for_arbiters() {
        let doc = document();
        let op = &doc["paths"]["/v1/flags"]["get"];
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/FlagList"
        );
        let query: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(
            query.iter().copied().collect::<BTreeSet<_>>(),
            BTreeSet::from(["kind", "limit", "cursor"])
        );
        let flag = &doc["components"]["schemas"]["Flag"];
        assert_eq!(flag["required"], json!(["kind", "reason", "detail", "at"]));
        assert_eq!(
            doc["components"]["schemas"]["FlagKind"]["enum"],
            json!([
                "flagged_payment",
                "overdue_payment",
                "failed_refund",
                "refused_event"
            ])
        );
    }

    /// The string literals that follow `marker` in `source`.
    fn literals_after<'a>(source: &'a str, marker: &str) -> Vec<&'a str> {
        source
            .split(marker)
            .skip(1)
            .filter_map(|rest| rest.trim_start().strip_prefix('"'))
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    /// The bodies of the `fn code` functions in `source`.
    fn code_functions(source: &str) -> Vec<&str> {
        source
            .split("fn code(&self) -> &'static str {")
            .skip(1)
            .map(|rest| rest.split("\n    }\n").next().unwrap_or_default())
            .collect()
    }

    #[test]
    fn every_problem_type_the_code_can_answer_is_enumerated() {
        let problem = include_str!("problem.rs");
        let mut found: BTreeSet<&str> = BTreeSet::new();
        // `problem.rs`: the fixed refusals and the codes it maps to.
        let to_response = problem
            .split("pub fn to_response")
            .nth(1)
            .and_then(|rest| rest.split("let problem = Problem {").next())
            .unwrap_or_default();
        found.extend(literals_after(to_response, "("));
        found.extend(literals_after(problem, "=>"));
        for source in [
            problem,
            include_str!("api.rs"),
            include_str!("orders.rs"),
            include_str!("payments.rs"),
            include_str!("disputes.rs"),
            include_str!("suppliers.rs"),
            include_str!("credit.rs"),
            include_str!("flags.rs"),
            include_str!("webhook.rs"),
        ] {
            found.extend(literals_after(source, "code:"));
        }
        // The domain's conflicts (409) and rules (422).
        for source in [
            include_str!("../../domain/src/error.rs"),
            include_str!("../../domain/src/payment.rs"),
        ] {
            for body in code_functions(source) {
                found.extend(literals_after(body, "=>"));
            }
        }
        let found: BTreeSet<&str> = found
            .into_iter()
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
            .collect();
        assert!(found.len() > 60, "the sources were not read: {found:?}");
        let enumerated: BTreeSet<&str> = PROBLEM_TYPES.iter().map(|(slug, _)| *slug).collect();
        assert_eq!(enumerated.len(), PROBLEM_TYPES.len(), "a code twice");
        let missing: Vec<&&str> = found.difference(&enumerated).collect();
        assert!(missing.is_empty(), "not enumerated: {missing:?}");
        let stale: Vec<&&str> = enumerated.difference(&found).collect();
        assert!(stale.is_empty(), "enumerated, answered nowhere: {stale:?}");
        let doc = document();
        let uris = &doc["components"]["schemas"]["ProblemType"]["enum"];
        assert_eq!(uris.as_array().map(Vec::len), Some(PROBLEM_TYPES.len()));
        assert!(
            uris.as_array()
                .into_iter()
                .flatten()
                .all(|u| u.as_str().is_some_and(|u| u.starts_with(&problem_type("")))),
        );
    }

    #[test]
    fn an_answered_problem_is_one_the_document_enumerates() {
        use crate::problem::ApiError;
        let doc = document();
        let uris = doc["components"]["schemas"]["ProblemType"]["enum"].clone();
        for e in [
            ApiError::Unauthenticated,
            ApiError::BadSignature,
            ApiError::PayloadTooLarge,
            ApiError::NotFound,
            ApiError::Unavailable,
            ApiError::bad_request(Vec::new()),
            domain::error::OrderError::from(domain::error::Conflict::AlreadyConfirmed).into(),
            domain::error::OrderError::from(domain::error::Rule::ShipByInPast).into(),
        ] {
            let body: Value = serde_json::from_str(&e.to_response().body).unwrap_or_default();
            assert!(
                uris.as_array().is_some_and(|u| u.contains(&body["type"])),
                "{body}"
            );
        }
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_like_the_handlers() {
        let doc = document();
        for name in [
            "BuyerCreatesOrder",
            "SupplierDraftsOrder",
            "Terms",
            "Confirm",
            "Empty",
            "NewShipment",
            "Delivery",
            "NewFeedback",
            "SetAssuranceLimit",
            "Resolution",
            "RefundResolution",
            "LineItem",
            "Inspection",
            "Document",
            "ReceivingAccount",
            "CardPayment",
            "ECheckPayment",
            "WireTransferPayment",
            "PayLaterPayment",
            "OpenDispute",
            "DisputeOffer",
            "DisputeReply",
            "SupplierAtFault",
            "ClaimRejected",
        ] {
            assert_eq!(
                doc["components"]["schemas"][name]["additionalProperties"], false,
                "{name}"
            );
        }
    }
}
