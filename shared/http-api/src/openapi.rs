//! The OpenAPI 3.1 document of the API, generated from the route table (so
//! no route can be missing) with the request schemas the handlers decode
//! (strict: no additional properties) and the problem+json error shape.

use serde_json::{Value, json};

use crate::routes::{ROUTES, Route};

/// `{"amount": "12.50", "currency": "USD"}`, as every amount is answered.
fn money() -> Value {
    json!({"type": "object", "required": ["amount", "currency"], "additionalProperties": false,
        "properties": {"amount": {"$ref": "#/components/schemas/Amount"}, "currency": {"const": "USD"}}})
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

fn nullable(schema: Value) -> Value {
    json!({"oneOf": [schema, {"type": "null"}]})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn date() -> Value {
    json!({"type": "string", "format": "date"})
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
    let mut list = json!({"type": "object", "additionalProperties": false, "required": ["items"],
        "properties": {"items": {"type": "array", "items": reference(item)}}});
    if paginated {
        list["properties"]["next_cursor"] = json!({"type": "string"});
    }
    list
}

/// The contract terms: `create` names exactly one counterparty (a buyer
/// creating names the supplier, a supplier drafting names the buyer), an
/// amendment names none.
fn terms(create: bool) -> Value {
    let mut properties = json!({
        "items": {"type": "array", "minItems": 1, "maxItems": 100, "items": reference("LineItem")},
        "shipping_fee": reference("Amount"),
        "currency": {"const": "USD"},
        "initial_payment": reference("Amount"),
        "ship_by": date(),
        "quality_terms": text(2000),
        "destination_country": reference("Country"),
        "coverage": {"enum": ["pre_shipment", "post_delivery"]},
        "inspection": {"type": "object", "additionalProperties": false, "required": ["agency", "location"],
            "properties": {"agency": {"enum": ["SGS", "BV", "TUV"]}, "location": {"enum": ["china", "overseas"]}}},
        "contract_document": reference("Document"),
    });
    let mut schema = json!({"type": "object", "additionalProperties": false,
        "required": ["items", "currency", "initial_payment", "ship_by", "quality_terms", "destination_country", "coverage"]});
    if create {
        properties["supplier_id"] = json!({"allOf": [reference("UserId")], "description": "a buyer creating names the supplier"});
        properties["buyer_id"] = json!({"allOf": [reference("UserId")], "description": "a supplier drafting names the buyer"});
        schema["oneOf"] = json!([
            {"required": ["supplier_id"], "not": {"required": ["buyer_id"]}},
            {"required": ["buyer_id"], "not": {"required": ["supplier_id"]}},
        ]);
    }
    schema["properties"] = properties;
    schema
}

/// Request bodies: what the handlers decode (`dto.rs`), as strictly as
/// they parse it, so that what the document calls valid is.
fn request_schemas() -> Value {
    json!({
        "Amount": {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,2})?$",
            "description": "US dollars as a decimal string, at most 2 decimal places"},
        "UserId": {"type": "string", "pattern": "^[A-Za-z0-9._@:-]{1,128}$"},
        "Country": {"enum": domain::text::ISO_3166_ALPHA2,
            "description": "an assigned ISO 3166-1 alpha-2 code"},
        "HttpsUrl": {"type": "string", "maxLength": 2048,
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]://([!-?A-~]*@)?[A-Za-z0-9._~%!$&'()*+,;=-]+(:[0-9]*)?([/?#][!-~]*)?$",
            "description": "an https URL with a host, printable ASCII only (percent-encode anything else)"},
        "Sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        "Document": {"type": "object", "additionalProperties": false, "required": ["name", "url", "sha256"],
            "properties": {"name": text(200), "url": reference("HttpsUrl"), "sha256": reference("Sha256")}},
        "LineItem": {"type": "object", "additionalProperties": false,
            "required": ["description", "quantity", "unit_price"],
            "properties": {"description": text(200),
                "quantity": whole(1, u64::from(u32::MAX)),
                "unit_price": reference("Amount")}},
        "NewOrder": terms(true),
        "Terms": terms(false),
        "Confirm": {"type": "object", "additionalProperties": false, "required": ["version"],
            "properties": {"version": whole(0, u64::MAX)}},
        "Empty": {"type": "object", "additionalProperties": false},
        "Payment": {"type": "object", "additionalProperties": false, "required": ["stage", "method"],
            "properties": {"stage": {"enum": ["initial", "balance"]},
                "method": {"enum": ["e_checking", "credit_card", "telegraphic_transfer", "pay_later"]},
                "card_brand": {"type": "string", "description": "visa or mastercard are accepted"},
                "bank_country": reference("Country"),
                "account_type": {"enum": ["checking", "savings"]},
                "term_months": whole(0, u64::from(u32::MAX))},
            "description": "each method with the details it needs",
            "oneOf": [
                {"properties": {"method": {"const": "credit_card"}}, "required": ["card_brand"]},
                {"properties": {"method": {"const": "e_checking"}}, "required": ["bank_country", "account_type"]},
                {"properties": {"method": {"const": "telegraphic_transfer"}}},
                {"properties": {"method": {"const": "pay_later"}}, "required": ["term_months"]}]},
        "Resolution": {"type": "object", "additionalProperties": false, "required": ["resolution"],
            "properties": {"resolution": {"enum": ["accept", "refund"],
                "description": "accept a flagged payment as paid, or return its money"}}},
        "RefundResolution": {"type": "object", "additionalProperties": false, "required": ["resolution"],
            "properties": {"resolution": {"enum": ["retry", "settled_outside"],
                "description": "ask the provider again, or record that the money was returned outside the platform"}}},
        "ProviderEvent": {"type": "object", "required": ["type", "data"],
            "description": "a payment provider's event, signed with the Standard Webhooks scheme (webhook-id, webhook-timestamp, webhook-signature)",
            "properties": {"type": {"enum": crate::webhook::EVENT_TYPES},
                "data": {"type": "object", "properties": {
                    "payment_id": {"type": "string"}, "order_id": {"type": "string"},
                    "refund_id": {"type": "string"}, "amount": reference("Amount"),
                    "currency": {"type": "string"}, "provider_reference": {"type": "string"},
                    "buyer_id": {"type": "string"}, "application_id": {"type": "string"},
                    "limit": reference("Amount")}}}},
        "Shipment": {"type": "object", "additionalProperties": false, "required": ["carrier", "tracking_number"],
            "properties": {"carrier": text(200), "tracking_number": text(200), "shipped_at": time()}},
        "Delivery": {"type": "object", "additionalProperties": false, "minProperties": 1,
            "description": "customs_cleared_at, delivered_at or both",
            "properties": {"customs_cleared_at": time(), "delivered_at": time()}},
        "Feedback": {"type": "object", "additionalProperties": false, "required": ["rating", "comment"],
            "properties": {"rating": whole(1, 5), "comment": text(2000)}},
        "AssuranceLimit": {"type": "object", "additionalProperties": false, "required": ["limit"],
            "properties": {"limit": reference("Amount"), "receiving_account": reference("ReceivingAccount")}},
        "ReceivingAccount": {"type": "object", "additionalProperties": false,
            "required": ["bank_name", "account_name", "account_number", "swift"],
            "properties": {"bank_name": text(200), "account_name": text(200),
                "account_number": text(200), "swift": text(200)}},
        "OpenDispute": {"type": "object", "additionalProperties": false,
            "required": ["reason", "requested_refund", "description"],
            "properties": {"reason": {"enum": ["late_shipment", "quality"]},
                "requested_refund": reference("Amount"),
                "description": text(2000),
                "evidence": {"type": "array", "maxItems": 10, "items": reference("Document")}}},
        "DisputeResponse": {"type": "object", "additionalProperties": false, "required": ["action"],
            "description": "refund_amount goes with an offer (supplier) and only with it",
            "properties": {"action": {"enum": ["accept", "offer", "reject", "comment"]},
                "refund_amount": reference("Amount"),
                "message": text(2000),
                "evidence": {"type": "array", "maxItems": 10, "items": reference("Document")}},
            "oneOf": [
                {"properties": {"action": {"const": "offer"}}, "required": ["refund_amount"]},
                {"properties": {"action": {"enum": ["accept", "reject", "comment"]}},
                    "not": {"required": ["refund_amount"]}}]},
        "Decision": {"type": "object", "additionalProperties": false, "required": ["outcome"],
            "description": "refund_amount goes with supplier_at_fault and only with it",
            "properties": {"outcome": {"enum": ["supplier_at_fault", "claim_rejected"]},
                "refund_amount": reference("Amount")},
            "oneOf": [
                {"properties": {"outcome": {"const": "supplier_at_fault"}}, "required": ["refund_amount"]},
                {"properties": {"outcome": {"const": "claim_rejected"}}, "not": {"required": ["refund_amount"]}}]},
    })
}

/// Response bodies: what `view.rs` renders, every field.
fn response_schemas() -> Value {
    let order_statuses = json!([
        "awaiting_confirmation",
        "awaiting_initial_payment",
        "initial_payment_processing",
        "awaiting_shipment",
        "shipped",
        "balance_payment_processing",
        "awaiting_receipt_confirmation",
        "completed",
        "refund_pending",
        "refunded",
        "cancelled",
        "closed"
    ]);
    let actor = json!({"type": "object", "required": ["role"], "additionalProperties": false,
        "properties": {"role": {"enum": ["buyer", "supplier", "arbiter", "provider", "scheduler"]},
            "id": {"type": "string"}}});
    let deadline = json!({"type": "object", "required": ["kind", "due"], "additionalProperties": false,
        "properties": {"kind": {"enum": ["confirmation_due", "ship_by", "unpaid_cancellation",
                "agreement_due", "payment_expected_by", "payment_expires", "not_shipped_refund",
                "balance_due", "receipt_auto_confirmation", "supplier_response_due",
                "escalation_due", "refund_expected_by", "quality_window_end", "feedback_window_end"]},
            "due": time(), "payment_id": {"type": "string"}, "refund_id": {"type": "string"}}});
    let refund_part = record(json!({
        "id": {"type": "string"}, "payment_id": {"type": "string"},
        "provider": {"enum": ["echeck", "card", "bank", "paylater"]},
        "amount": reference("Money"), "status": {"enum": ["requested", "succeeded"]},
        "attempts": {"type": "integer", "minimum": 1}, "flagged": {"type": "boolean"},
        "flag_reason": {"enum": ["refund_failed", "overdue", "mismatch", null]},
        "requested_at": time(), "attempted_at": time(), "provider_key": {"type": "string"},
        "settled_at": nullable(time()), "settled_outside": {"type": "boolean"}}));
    let dispute = json!({
        "reason": {"enum": ["late_shipment", "quality"]},
        "status": {"enum": ["open", "negotiating", "escalated", "resolved"]},
        "outcome": {"enum": ["agreed", "supplier_at_fault", "claim_rejected", "withdrawn", null]},
        "requested_refund": reference("Money"),
        "description": {"type": "string"},
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
        "entries": {"type": "array", "items": record(json!({
            "at": time(), "by": actor.clone(), "action": {"type": "string"},
            "amount": nullable(reference("Money")), "message": {"type": ["string", "null"]},
            "evidence": {"type": "array", "items": {"type": "object"}}}))},
        "deadlines": {"type": "array", "items": deadline.clone()},
    });
    let mut dispute_action = dispute.clone();
    dispute_action["order_id"] = json!({"type": "string"});
    dispute_action["order_status"] = json!({"enum": order_statuses.clone()});
    dispute_action["order_version"] = json!({"type": "integer", "minimum": 0});
    let mut dispute_summary = dispute_action.clone();
    dispute_summary["buyer_id"] = json!({"type": "string"});
    dispute_summary["supplier_id"] = json!({"type": "string"});
    dispute_summary["covered_amount"] = nullable(reference("Money"));
    dispute_summary["amount_paid"] = reference("Money");
    json!({
        "Money": money(),
        "GatewayMessage": {"type": "object", "required": ["message"], "additionalProperties": false,
            "description": "what API Gateway answers by itself (no route, no valid token, body too large)",
            "properties": {"message": {"type": "string"}}},
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "additionalProperties": false,
            "properties": {
                "type": {"type": "string", "format": "uri"}, "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599}, "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                    "additionalProperties": false,
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}},
        "Dispute": record(dispute.clone()),
        "DisputeAction": record(dispute_action),
        "DisputeSummary": record(dispute_summary),
        "DisputeList": listing("DisputeSummary", true),
        "PaymentView": record(json!({
            "id": {"type": "string"}, "stage": {"enum": ["initial", "balance"]},
            "method": {"enum": ["e_checking", "credit_card", "telegraphic_transfer", "pay_later"]},
            "amount": reference("Money"), "inspection_fee": reference("Money"), "fee": reference("Money"),
            "status": {"enum": ["awaiting_agreement", "processing", "succeeded", "failed", "refunded"]},
            "failure_reason": {"enum": ["declined", "expired", null]},
            "flagged": {"type": "boolean"},
            "flag": nullable(json!({"type": "object", "required": ["reason", "at"]})),
            "expected_arrival": nullable(record(json!({"earliest": date(), "latest": date()}))),
            "agreement_due": nullable(time()),
            "expires_at": nullable(time()),
            "instructions": nullable(record(json!({"bank_name": {"type": "string"},
                "account_name": {"type": "string"}, "account_number": {"type": "string"},
                "swift": {"type": "string"}, "reference": {"type": "string"}, "amount": reference("Money")}))),
            "refunded": reference("Money"), "initiated_at": time(), "settled_at": nullable(time()),
        })),
        "PaymentList": listing("PaymentView", false),
        "RefundPart": refund_part,
        "Order": order(&order_statuses, deadline),
        "OrderList": listing("Order", true),
        "History": {"type": "object", "additionalProperties": false, "required": ["items"],
            "properties": {"items": {"type": "array", "items": record(json!({
                "at": time(), "actor": {"type": "object"}, "event": {"type": "string"},
                "status": {"enum": order_statuses}, "summary": {"type": "string"}}))},
                "next_cursor": {"type": "string"}}},
        "FeedbackLeft": record(json!({"order_id": {"type": "string"}, "supplier_id": {"type": "string"},
            "feedback": {"type": "object", "required": ["rating", "comment", "at"]}})),
        "SupplierRating": {"type": "object", "additionalProperties": false,
            "required": ["supplier_id", "count", "average_rating", "items"],
            "description": "count and average over all the supplier's feedback; items newest first, a page at a time, naming neither orders nor buyers",
            "properties": {"supplier_id": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "average_rating": {"type": ["string", "null"]},
                "items": {"type": "array", "items": record(json!({
                    "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                    "comment": {"type": "string"}, "at": time()}))},
                "next_cursor": {"type": "string"}}},
        "CreditLine": record(json!({"buyer_id": {"type": "string"}, "application_id": {"type": "string"},
            "status": {"type": "string"}, "limit": reference("Money"), "reserved": reference("Money"),
            "available": reference("Money"), "applied_at": time(), "decided_at": nullable(time())})),
        "AssuranceLimitView": record(json!({"supplier_id": {"type": "string"},
            "limit": reference("Money"), "reserved": reference("Money"), "available": reference("Money"),
            "receiving_account": nullable(json!({"type": "object",
                "required": ["bank_name", "account_name", "account_number", "swift"]}))})),
        "WebhookAccepted": record(json!({"status": {"const": "accepted"}, "webhook_id": {"type": "string"}})),
    })
}

/// The order as `view::order` renders it.
fn order(statuses: &Value, deadline: Value) -> Value {
    let item = record(json!({"description": {"type": "string"},
        "quantity": {"type": "integer", "minimum": 1}, "unit_price": reference("Money")}));
    let inspection = nullable(record(json!({"agency": {"enum": ["SGS", "BV", "TUV"]},
        "location": {"enum": ["china", "overseas"]}, "fee": reference("Money")})));
    let coverage = record(json!({"type": {"enum": ["pre_shipment", "post_delivery"]},
        "covered_amount": nullable(reference("Money")), "reserved": reference("Money"),
        "refunded": reference("Money"), "ends_at": nullable(time())}));
    let confirmations = record(json!({"buyer": nullable(time()), "supplier": nullable(time())}));
    let mut properties = json!({
        "id": {"type": "string"}, "status": {"enum": statuses},
        "status_reason": {"enum": ["by_party", "not_confirmed", "unpaid", "balance_unpaid",
            "not_shipped", "dispute", null]},
        "buyer_id": {"type": "string"}, "supplier_id": {"type": "string"},
        "created_by": {"enum": ["buyer", "supplier"]},
        "items": {"type": "array", "minItems": 1, "items": item},
        "shipping_fee": reference("Money"), "total": reference("Money"),
        "initial_payment": reference("Money"), "balance": reference("Money"),
        "ship_by": date(), "quality_terms": {"type": "string"},
        "destination_country": {"type": "string"},
        "inspection": inspection,
        "contract_document": nullable(json!({"type": "object", "required": ["name", "url", "sha256"]})),
        "coverage": coverage,
        "confirmations": confirmations,
    });
    let more = json!({
        "payments": {"type": "array", "items": reference("PaymentView")},
        "amount_paid": reference("Money"),
        "shipment": nullable(json!({"type": "object", "required": ["carrier", "tracking_number", "shipped_at"]})),
        "completed_at": nullable(time()),
        "receipt": nullable(record(json!({"auto_confirm_at": nullable(time()),
            "extensions_used": {"type": "integer", "minimum": 0},
            "extensions_left": {"type": "integer", "minimum": 0}}))),
        "feedback": nullable(json!({"type": "object", "required": ["rating", "comment", "at"]})),
        "dispute": nullable(reference("Dispute")),
        "past_disputes": {"type": "array", "items": reference("Dispute")},
        "refunds": {"type": "array", "items": reference("RefundPart")},
        "amount_refunded": reference("Money"),
        "deadlines": {"type": "array", "items": deadline},
        "version": {"type": "integer", "minimum": 0},
        "created_at": time(), "updated_at": time(),
    });
    if let (Some(p), Value::Object(more)) = (properties.as_object_mut(), more) {
        p.extend(more);
    }
    record(properties)
}

fn schemas() -> Value {
    let mut all = request_schemas();
    if let (Some(all), Value::Object(responses)) = (all.as_object_mut(), response_schemas()) {
        all.extend(responses);
    }
    all
}

/// The request body a route decodes, if any.
fn request_schema(route: &Route) -> Option<&'static str> {
    match (route.method, route.path) {
        ("POST", "/v1/orders") => Some("NewOrder"),
        ("POST", "/v1/orders/{id}/amend") => Some("Terms"),
        ("POST", "/v1/orders/{id}/confirm") => Some("Confirm"),
        ("POST", "/v1/orders/{id}/shipment") => Some("Shipment"),
        ("POST", "/v1/orders/{id}/delivery") => Some("Delivery"),
        ("POST", "/v1/orders/{id}/feedback") => Some("Feedback"),
        ("POST", "/v1/orders/{id}/payments") => Some("Payment"),
        ("POST", "/v1/orders/{id}/payments/{pid}/resolution") => Some("Resolution"),
        ("POST", "/v1/orders/{id}/refunds/{rid}/resolution") => Some("RefundResolution"),
        ("POST", "/v1/orders/{id}/dispute") => Some("OpenDispute"),
        ("POST", "/v1/orders/{id}/dispute/responses") => Some("DisputeResponse"),
        ("POST", "/v1/orders/{id}/dispute/decision") => Some("Decision"),
        ("POST", "/v1/webhooks/{provider}") => Some("ProviderEvent"),
        ("PUT", "/v1/suppliers/{id}/assurance-limit") => Some("AssuranceLimit"),
        ("POST", _) => Some("Empty"),
        _ => None,
    }
}

fn success_status(route: &Route) -> &'static str {
    match (route.method, route.path) {
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
fn success_body(route: &Route) -> &'static str {
    match (route.method, route.path) {
        ("GET", "/v1/orders") => "OrderList",
        ("GET", "/v1/orders/{id}/history") => "History",
        ("GET", "/v1/orders/{id}/payments") => "PaymentList",
        ("POST", "/v1/orders/{id}/payments")
        | ("POST", "/v1/orders/{id}/payments/{pid}/resolution") => "PaymentView",
        ("POST", "/v1/orders/{id}/refunds/{rid}/resolution") => "RefundPart",
        ("POST", "/v1/orders/{id}/feedback") => "FeedbackLeft",
        ("GET", "/v1/suppliers/{id}/feedback") => "SupplierRating",
        ("GET", "/v1/disputes") => "DisputeList",
        (_, "/v1/credit-line") => "CreditLine",
        (_, "/v1/suppliers/{id}/assurance-limit") => "AssuranceLimitView",
        ("POST", "/v1/webhooks/{provider}") => "WebhookAccepted",
        (_, path) if path.starts_with("/v1/orders/{id}/dispute") => "DisputeAction",
        _ => "Order",
    }
}

/// The refusals a route may answer: each status, what it means, and
/// whether API Gateway itself may answer it (`{"message": …}` as JSON)
/// besides the function (problem+json).
fn refusals(route: &Route) -> &'static [(&'static str, &'static str, bool)] {
    if route.public {
        &[
            ("400", "verified, but not a well-formed event", false),
            ("401", "missing, stale or wrong signature", false),
            ("404", "unknown provider, or no such route", true),
            ("413", "body over 64 KiB", true),
            ("503", "retry later", false),
        ]
    } else {
        &[
            ("400", "malformed request", false),
            ("401", "no valid token", true),
            ("403", "not your action", false),
            ("404", "unknown, or not yours", true),
            ("409", "wrong status or a concurrent change", false),
            ("413", "body over 64 KiB", true),
            ("422", "a business rule said no", false),
            (
                "429",
                "too soon (a reminder within 24 hours): see Retry-After",
                false,
            ),
            ("503", "retry later", false),
        ]
    }
}

fn operation(route: &Route) -> Value {
    let mut responses = serde_json::Map::new();
    let mut success = json!({"description": "success",
        "content": {"application/json": {"schema": reference(success_body(route))}}});
    if route.method == "POST" && !route.public {
        success["headers"] = json!({"idempotent-replayed": {"required": false,
            "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
            "schema": {"const": "true"}}});
    }
    responses.insert(success_status(route).into(), success);
    for &(code, what, gateway) in refusals(route) {
        let mut content = json!({"application/problem+json": {"schema": reference("Problem")}});
        if gateway {
            content["application/json"] = json!({"schema": reference("GatewayMessage")});
        }
        responses.insert(
            code.into(),
            json!({"description": what, "content": content}),
        );
    }
    let mut op = json!({
        "operationId": format!("{}-{}", route.function, route.method.to_ascii_lowercase())
            + &route.path.replace(['/', '{', '}'], "-").replace("--", "-"),
        "tags": [route.function],
        "responses": responses,
    });
    let mut params = Vec::new();
    for segment in route.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let schema = if name == "provider" {
                json!({"enum": ["echeck", "card", "bank", "paylater"]})
            } else {
                json!({"type": "string"})
            };
            params.push(json!({"name": name, "in": "path", "required": true, "schema": schema}));
        }
    }
    if route.public {
        for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            params.push(json!({"name": header, "in": "header", "required": true, "schema": {"type": "string"}}));
        }
    } else if route.method == "POST" {
        params.push(
            json!({"name": "Idempotency-Key", "in": "header", "required": false,
            "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"}}),
        );
    }
    // The query parameters the route takes (any other is a 400).
    for name in route.query {
        let schema = match (*name, route.path) {
            ("limit", "/v1/orders/{id}/history") => {
                json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 100})
            }
            ("limit", _) => json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
            ("status", "/v1/orders") => response_schemas()["Order"]["properties"]["status"].clone(),
            ("status", _) => json!({"enum": ["open", "negotiating", "escalated", "resolved"],
                "default": "escalated"}),
            ("as", _) => json!({"enum": ["buyer", "supplier"]}),
            _ => json!({"type": "string", "description": "the next_cursor of the previous page"}),
        };
        params.push(json!({"name": name, "in": "query", "schema": schema}));
    }
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    if let Some(schema) = request_schema(route) {
        op["requestBody"] = json!({"required": schema != "Empty",
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    }
    if route.public {
        op["security"] = json!([]);
    }
    op
}

/// The document, every route of [`ROUTES`] in it.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for route in ROUTES.iter() {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Trade Assurance order service", "version": "1.0.0",
            "description": "Orders protected by Trade Assurance: contract, coverage, payments, shipment, receipt, feedback, disputes."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_gateways_own_401_404_413_are_documented_beside_problem_json() {
        let doc = document();
        for r in ROUTES.iter() {
            let responses = &doc["paths"][r.path][r.method.to_ascii_lowercase()]["responses"];
            let gateway: &[&str] = if r.public {
                &["404", "413"]
            } else {
                &["401", "404", "413"]
            };
            for code in gateway {
                let content = &responses[*code]["content"];
                assert_eq!(
                    content["application/json"]["schema"]["$ref"],
                    "#/components/schemas/GatewayMessage",
                    "{code} of {} {}",
                    r.method,
                    r.path
                );
                assert!(content["application/problem+json"].is_object());
            }
            for code in ["400", "503"] {
                assert!(responses[code]["content"]["application/json"].is_null());
                assert!(responses[code]["content"]["application/problem+json"].is_object());
            }
            let success = responses
                .as_object()
                .and_then(|m| m.keys().find(|k| k.starts_with('2')).cloned())
                .unwrap_or_default();
            assert_eq!(success, success_status(r), "{}", r.path);
        }
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_like_the_handlers() {
        let doc = document();
        for name in [
            "NewOrder",
            "Terms",
            "Confirm",
            "Empty",
            "Shipment",
            "Delivery",
            "Feedback",
            "AssuranceLimit",
            "Resolution",
            "RefundResolution",
            "LineItem",
            "Document",
            "ReceivingAccount",
            "Payment",
            "OpenDispute",
            "DisputeResponse",
            "Decision",
        ] {
            assert_eq!(
                doc["components"]["schemas"][name]["additionalProperties"], false,
                "{name}"
            );
        }
    }
}
