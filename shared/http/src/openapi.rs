//! The OpenAPI 3.1 document of the API, generated from the route table (so
//! no route can be missing) with the request schemas the handlers decode
//! (strict: no additional properties) and the problem+json error shape.

use serde_json::{Value, json};

use crate::routes::{ROUTES, Route};

fn money() -> Value {
    json!({"type": "object", "required": ["amount", "currency"], "additionalProperties": false,
        "properties": {"amount": {"$ref": "#/components/schemas/Amount"}, "currency": {"const": "USD"}}})
}

fn schemas() -> Value {
    json!({
        "Amount": {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,2})?$",
            "description": "US dollars as a decimal string, at most 2 decimal places"},
        "Money": money(),
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri"}, "title": {"type": "string"},
                "status": {"type": "integer"}, "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}},
        "LineItem": {"type": "object", "additionalProperties": false,
            "required": ["description", "quantity", "unit_price"],
            "properties": {"description": {"type": "string", "minLength": 1, "maxLength": 200},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 4294967295u64},
                "unit_price": {"$ref": "#/components/schemas/Amount"}}},
        "Terms": {"type": "object", "additionalProperties": false,
            "required": ["items", "currency", "initial_payment", "ship_by", "quality_terms", "destination_country", "coverage"],
            "properties": {
                "supplier_id": {"type": "string", "description": "a buyer creating names the supplier"},
                "buyer_id": {"type": "string", "description": "a supplier drafting names the buyer"},
                "items": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"$ref": "#/components/schemas/LineItem"}},
                "shipping_fee": {"$ref": "#/components/schemas/Amount"},
                "currency": {"const": "USD"},
                "initial_payment": {"$ref": "#/components/schemas/Amount"},
                "ship_by": {"type": "string", "format": "date"},
                "quality_terms": {"type": "string", "minLength": 1, "maxLength": 4000},
                "destination_country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                "coverage": {"enum": ["pre_shipment", "post_delivery"]},
                "inspection": {"type": "object", "additionalProperties": false, "required": ["agency", "location"],
                    "properties": {"agency": {"enum": ["SGS", "BV", "TUV"]}, "location": {"enum": ["china", "overseas"]}}},
                "contract_document": {"type": "object", "additionalProperties": false, "required": ["name", "url", "sha256"],
                    "properties": {"name": {"type": "string"}, "url": {"type": "string"},
                        "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}}}},
        "Confirm": {"type": "object", "additionalProperties": false, "required": ["version"],
            "properties": {"version": {"type": "integer", "minimum": 0}}},
        "Empty": {"type": "object", "additionalProperties": false},
        "Payment": {"type": "object", "additionalProperties": false, "required": ["stage", "method"],
            "properties": {"stage": {"enum": ["initial", "balance"]},
                "method": {"enum": ["e_checking", "credit_card", "telegraphic_transfer", "pay_later"]},
                "card_brand": {"type": "string", "description": "visa or mastercard are accepted"},
                "bank_country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                "account_type": {"enum": ["checking", "savings"]},
                "term_months": {"type": "integer", "minimum": 0, "maximum": 4294967295u64}}},
        "Resolution": {"type": "object", "additionalProperties": false, "required": ["resolution"],
            "properties": {"resolution": {"enum": ["accept", "refund"],
                "description": "accept a flagged payment as paid, or return its money"}}},
        "ProviderEvent": {"type": "object", "required": ["type", "data"],
            "description": "a payment provider's event, signed with the Standard Webhooks scheme (webhook-id, webhook-timestamp, webhook-signature)",
            "properties": {"type": {"enum": crate::webhook::EVENT_TYPES},
                "data": {"type": "object", "properties": {
                    "payment_id": {"type": "string"}, "order_id": {"type": "string"},
                    "refund_id": {"type": "string"}, "amount": {"$ref": "#/components/schemas/Amount"},
                    "currency": {"type": "string"}, "provider_reference": {"type": "string"},
                    "buyer_id": {"type": "string"}, "application_id": {"type": "string"},
                    "limit": {"$ref": "#/components/schemas/Amount"}}}}},
        "Shipment": {"type": "object", "additionalProperties": false, "required": ["carrier", "tracking_number"],
            "properties": {"carrier": {"type": "string"}, "tracking_number": {"type": "string"},
                "shipped_at": {"type": "string", "format": "date-time"}}},
        "Delivery": {"type": "object", "additionalProperties": false,
            "properties": {"customs_cleared_at": {"type": "string", "format": "date-time"},
                "delivered_at": {"type": "string", "format": "date-time"}}},
        "Feedback": {"type": "object", "additionalProperties": false, "required": ["rating", "comment"],
            "properties": {"rating": {"type": "integer", "minimum": 1, "maximum": 5},
                "comment": {"type": "string", "minLength": 1, "maxLength": 4000}}},
        "AssuranceLimit": {"type": "object", "additionalProperties": false, "required": ["limit"],
            "properties": {"limit": {"$ref": "#/components/schemas/Amount"},
                "receiving_account": {"type": "object", "additionalProperties": false,
                    "required": ["bank_name", "account_name", "account_number", "swift"],
                    "properties": {"bank_name": {"type": "string"}, "account_name": {"type": "string"},
                        "account_number": {"type": "string"}, "swift": {"type": "string"}}}}},
        "Evidence": {"type": "object", "additionalProperties": false, "required": ["name", "url", "sha256"],
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200},
                "url": {"type": "string", "minLength": 1, "maxLength": 2048},
                "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}},
        "OpenDispute": {"type": "object", "additionalProperties": false,
            "required": ["reason", "requested_refund", "description"],
            "properties": {"reason": {"enum": ["late_shipment", "quality"]},
                "requested_refund": {"$ref": "#/components/schemas/Amount"},
                "description": {"type": "string", "minLength": 1, "maxLength": 4000},
                "evidence": {"type": "array", "maxItems": 20, "items": {"$ref": "#/components/schemas/Evidence"}}}},
        "DisputeResponse": {"type": "object", "additionalProperties": false, "required": ["action"],
            "description": "refund_amount goes with an offer (supplier) and only with it",
            "properties": {"action": {"enum": ["accept", "offer", "reject", "comment"]},
                "refund_amount": {"$ref": "#/components/schemas/Amount"},
                "message": {"type": "string", "minLength": 1, "maxLength": 4000},
                "evidence": {"type": "array", "maxItems": 20, "items": {"$ref": "#/components/schemas/Evidence"}}}},
        "Decision": {"type": "object", "additionalProperties": false, "required": ["outcome"],
            "description": "refund_amount goes with supplier_at_fault and only with it",
            "properties": {"outcome": {"enum": ["supplier_at_fault", "claim_rejected"]},
                "refund_amount": {"$ref": "#/components/schemas/Amount"}}},
        "Dispute": {"type": "object", "required": ["order_id", "order_status", "reason", "status",
            "requested_refund", "opened_at", "supplier_response_due", "resolution_due", "entries", "deadlines"],
            "properties": {"order_id": {"type": "string"}, "order_status": {"type": "string"},
                "reason": {"enum": ["late_shipment", "quality"]},
                "status": {"enum": ["open", "negotiating", "escalated", "resolved"]},
                "outcome": {"enum": ["agreed", "supplier_at_fault", "claim_rejected", "withdrawn", null]},
                "requested_refund": {"$ref": "#/components/schemas/Money"},
                "refund_amount": {"oneOf": [{"$ref": "#/components/schemas/Money"}, {"type": "null"}]},
                "entries": {"type": "array", "items": {"type": "object", "required": ["at", "by", "action"]}},
                "deadlines": {"type": "array", "items": {"type": "object", "required": ["kind", "due"]}}}},
        "Order": {"type": "object", "required": ["id", "status", "buyer_id", "supplier_id", "items", "total",
            "initial_payment", "balance", "coverage", "confirmations", "payments", "deadlines", "version",
            "created_at", "updated_at"],
            "properties": {"id": {"type": "string"}, "status": {"type": "string"},
                "total": {"$ref": "#/components/schemas/Money"}, "initial_payment": {"$ref": "#/components/schemas/Money"},
                "balance": {"$ref": "#/components/schemas/Money"}, "version": {"type": "integer"}}},
    })
}

/// The request body a route decodes, if any.
fn request_schema(route: &Route) -> Option<&'static str> {
    match (route.method, route.path) {
        ("POST", "/v1/orders") | ("POST", "/v1/orders/{id}/amend") => Some("Terms"),
        ("POST", "/v1/orders/{id}/confirm") => Some("Confirm"),
        ("POST", "/v1/orders/{id}/shipment") => Some("Shipment"),
        ("POST", "/v1/orders/{id}/delivery") => Some("Delivery"),
        ("POST", "/v1/orders/{id}/feedback") => Some("Feedback"),
        ("POST", "/v1/orders/{id}/payments") => Some("Payment"),
        ("POST", "/v1/orders/{id}/payments/{pid}/resolution") => Some("Resolution"),
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

fn operation(route: &Route) -> Value {
    let problem =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let mut responses = serde_json::Map::new();
    let body = if route.path.starts_with("/v1/orders/{id}/dispute") {
        json!({"$ref": "#/components/schemas/Dispute"})
    } else if route.path.starts_with("/v1/orders")
        && !matches!(
            route.path,
            "/v1/orders"
                | "/v1/orders/{id}/history"
                | "/v1/orders/{id}/payments"
                | "/v1/orders/{id}/payments/{pid}/resolution"
                | "/v1/orders/{id}/feedback"
        )
    {
        json!({"$ref": "#/components/schemas/Order"})
    } else {
        json!({"type": "object"})
    };
    responses.insert(
        success_status(route).into(),
        json!({"description": "success", "content": {"application/json": {"schema": body}}}),
    );
    let refusals: &[(&str, &str)] = if route.public {
        &[
            ("400", "verified, but not a well-formed event"),
            ("401", "missing, stale or wrong signature"),
            ("404", "unknown provider"),
            ("413", "body over 64 KiB"),
            ("503", "retry later"),
        ]
    } else {
        &[
            ("400", "malformed request"),
            ("401", "no valid token"),
            ("403", "not your action"),
            ("404", "unknown, or not yours"),
            ("409", "wrong status or a concurrent change"),
            ("413", "body over 64 KiB"),
            ("422", "a business rule said no"),
            ("503", "retry later"),
        ]
    };
    for &(code, what) in refusals {
        responses.insert(
            code.into(),
            json!({"description": what, "content": problem.clone()}),
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
            "schema": {"type": "string", "minLength": 1, "maxLength": 255}}),
        );
    }
    if (route.method, route.path) == ("GET", "/v1/orders") {
        params.push(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}));
        params.push(json!({"name": "cursor", "in": "query", "schema": {"type": "string"}}));
        params.push(json!({"name": "status", "in": "query", "schema": {"type": "string"}}));
        params
            .push(json!({"name": "as", "in": "query", "schema": {"enum": ["buyer", "supplier"]}}));
    }
    if (route.method, route.path) == ("GET", "/v1/disputes") {
        params.push(json!({"name": "status", "in": "query",
            "schema": {"enum": ["open", "negotiating", "escalated", "resolved"], "default": "escalated"}}));
        params.push(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}));
        params.push(json!({"name": "cursor", "in": "query", "schema": {"type": "string"}}));
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
    for route in ROUTES {
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
        for r in ROUTES {
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
    fn request_bodies_refuse_unknown_fields_like_the_handlers() {
        let doc = document();
        for name in [
            "Terms",
            "Confirm",
            "Empty",
            "Shipment",
            "Delivery",
            "Feedback",
            "AssuranceLimit",
            "Resolution",
            "LineItem",
            "Evidence",
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
