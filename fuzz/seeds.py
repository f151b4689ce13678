#!/usr/bin/env python3
"""Hand-written seeds for the fuzz corpus, in the input layouts that
shared/test-kit/src/fuzzing.rs documents. Run once from fuzz/ (python3 seeds.py),
then grow and minimise with `make fuzz`; the seeds are committed as corpus
files named seed-*."""
import hashlib
import hmac
import base64
import json
import os

SECRET = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
NOW = 1_800_000_000


def write(target, name, data):
    d = os.path.join("seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def sign(msg_id, ts, body):
    tag = hmac.new(SECRET, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(tag).decode()


def j(v):
    return json.dumps(v, separators=(",", ":")).encode()


# ---- money ---------------------------------------------------------------
for i, s in enumerate([
    "0.00", "0", "1500.00", "1500", "1500.5", "0.01", "1e3", "-1", "-0.00", "0.001",
    "999999999999.99", "1000000000000.00", "99999999999999999999999999999999",
    "0000000000000000000000000000001.00", "1.", ".5", "1,000.00", " 1", "+1",
    "1.0e2", "NaN", "", "١٢٣", "1500.00|30.00", "999999999999.99|0.01",
    "30.00|1500.00", "30.00*100", "999999999999.99*2", "0.01*4294967295",
    "12.34|56.78*3",
]):
    write("money", f"{i:02}", s.encode())

# ---- webhook ---------------------------------------------------------------
events = {
    "payment.processing": {"payment_id": "pay_1", "order_id": "ord_1", "provider_reference": "ch_1"},
    "payment.succeeded": {"payment_id": "pay_1", "order_id": "ord_1", "amount": "1500.00",
                          "currency": "USD", "provider_reference": "ch_1"},
    "payment.failed": {"payment_id": "pay_1", "order_id": "ord_1", "provider_reference": None},
    "loan.agreement_completed": {"payment_id": "pay_1", "order_id": "ord_1"},
    "refund.succeeded": {"refund_id": "ref_1_1", "order_id": "ord_1", "amount": "100.00"},
    "refund.failed": {"refund_id": "ref_1_1", "order_id": "ord_1"},
    "credit_line.approved": {"buyer_id": "buyer-1", "application_id": "app_1", "limit": "50000.00"},
    "credit_line.declined": {"buyer_id": "buyer-1", "application_id": "app_1"},
}
for kind, data in events.items():
    body = j({"type": kind, "data": data, "timestamp": "2027-01-04T09:00:00Z"})
    # Signed by the harness (flags bit 0; card = provider 1 → bits 1–2).
    write("webhook", f"signed-{kind}", bytes([0b011, 128]) + body)
    # The same, with the headers as sent: a valid signature.
    raw = f"msg_1\n{NOW}\n{sign('msg_1', NOW, body)}\n".encode() + body
    write("webhook", f"raw-{kind}", bytes([0b010, 128]) + raw)
write("webhook", "signed-stale", bytes([0b1011, 0]) + j({"type": "payment.failed"}))
write("webhook", "signed-not-json", bytes([0b001, 128]) + b"{not json")
write("webhook", "raw-tampered", bytes([0, 128]) + f"msg_1\n{NOW}\nv1,AAAA v2,xyz\n".encode() + b"{}")
write("webhook", "raw-leading-zero", bytes([0, 128]) + f"msg_1\n0{NOW}\n{sign('msg_1', NOW, b'{}')}\n".encode() + b"{}")
write("webhook", "unknown-provider", bytes([0b10001, 128]) + j({"type": "payment.failed"}))

# ---- request bodies ----------------------------------------------------------
ROUTES = ["orders", "amend", "confirm", "remind", "cancel", "payments", "resolution",
          "shipment", "delivery", "receipt", "feedback", "dispute", "responses",
          "withdraw", "escalate", "decision", "credit-line", "webhook", "limit"]
R = {name: i for i, name in enumerate(ROUTES)}
terms = {"items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
         "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
         "ship_by": "2027-01-31", "quality_terms": "IP65, 3 year warranty",
         "destination_country": "US", "coverage": "pre_shipment",
         "inspection": {"agency": "SGS", "location": "china"},
         "contract_document": {"name": "contract.pdf", "url": "https://docs.example.com/contract.pdf",
                               "sha256": "a" * 64}}
doc = {"name": "photos.zip", "url": "https://evidence.example.com/photos.zip", "sha256": "b" * 64}
at = "2027-01-04T08:00:00Z"
# (name, route, stage, flags, body)
seeds = [
    ("create", "orders", 0, 0, {"supplier_id": "sup-1", **terms}),
    ("create-idem-twice", "orders", 0, 3, {"supplier_id": "sup-1", **terms}),
    ("create-by-supplier", "orders", 5 * 7, 0, {"buyer_id": "buyer-1", **terms}),
    ("amend", "amend", 0, 0, terms),
    ("confirm", "confirm", 0, 0, {"version": 1}),
    ("confirm-idem-twice", "confirm", 0, 3, {"version": 1}),
    ("remind", "remind", 0, 0, {}),
    ("cancel", "cancel", 1, 0, {}),
    ("pay-card", "payments", 1, 0, {"stage": "initial", "method": "credit_card", "card_brand": "visa"}),
    ("pay-echeck", "payments", 1, 3, {"stage": "initial", "method": "e_checking",
                                      "bank_country": "US", "account_type": "checking"}),
    ("pay-wire", "payments", 1, 0, {"stage": "initial", "method": "telegraphic_transfer"}),
    ("pay-later", "payments", 6, 0, {"stage": "initial", "method": "pay_later", "term_months": 3}),
    ("pay-balance", "payments", 3, 0, {"stage": "balance", "method": "credit_card", "card_brand": "amex"}),
    ("resolve", "resolution", 2, 0, {"resolution": "refund"}),
    ("ship", "shipment", 2, 0, {"carrier": "DHL", "tracking_number": "1Z999", "shipped_at": at}),
    ("delivery", "delivery", 3, 0, {"customs_cleared_at": at, "delivered_at": at}),
    ("receipt", "receipt", 3, 0, {}),
    ("feedback", "feedback", 3, 0, {"rating": 5, "comment": "as agreed"}),
    ("dispute", "dispute", 2, 0, {"reason": "quality", "requested_refund": "100.00",
                                  "description": "Panels flicker", "evidence": [doc]}),
    ("respond-offer", "responses", 4, 0, {"action": "offer", "refund_amount": "50.00",
                                          "message": "half", "evidence": [doc]}),
    ("respond-accept-buyer", "responses", 4 + 4 * 7, 0, {"action": "accept"}),
    ("respond-reject", "responses", 4, 0, {"action": "reject", "message": "no"}),
    ("withdraw", "withdraw", 4, 0, {}),
    ("escalate", "escalate", 4, 0, {}),
    ("decide-fault", "decision", 5, 0, {"outcome": "supplier_at_fault", "refund_amount": "100.00"}),
    ("decide-rejected", "decision", 5, 0, {"outcome": "claim_rejected"}),
    ("credit-line", "credit-line", 0, 3, {}),
    ("limit", "limit", 0, 0, {"limit": "50000.00", "receiving_account": {
        "bank_name": "Bank", "account_name": "Sup", "account_number": "123", "swift": "ABCDUS33"}}),
    ("stranger", "confirm", 7 * 7, 0, {"version": 1}),
    ("nobody", "confirm", 162, 0, {"version": 1}),
    ("unknown-order", "cancel", 1, 4, {}),
]
for name, route, stage, flags, body in seeds:
    write("request_body", name, bytes([R[route], stage, flags]) + j(body))
write("request_body", "empty", bytes([R["cancel"], 1, 0]))
write("request_body", "not-json", bytes([R["shipment"], 2, 0]) + b"{\"carrier\": ")

hooks = [
    ("wh-processing", 2, 0x10, {"type": "payment.processing", "data": {"payment_id": "$PAYMENT", "order_id": "$ORDER"}}),
    ("wh-succeeded", 1, 0x10, {"type": "payment.succeeded", "data": {"payment_id": "$PAYMENT", "order_id": "$ORDER",
                                                                       "amount": "1500.00", "currency": "USD"}}),
    ("wh-mismatch", 2, 0x10, {"type": "payment.succeeded", "data": {"payment_id": "$PAYMENT", "order_id": "$ORDER",
                                                                      "amount": "1.00", "currency": "EUR"}}),
    ("wh-failed", 2, 0x10, {"type": "payment.failed", "data": {"payment_id": "$PAYMENT", "order_id": "$ORDER"}}),
    ("wh-loan", 2, 0x30, {"type": "loan.agreement_completed", "data": {"payment_id": "$PAYMENT", "order_id": "$ORDER"}}),
    ("wh-refund", 5, 0x10, {"type": "refund.succeeded", "data": {"refund_id": "$REFUND", "order_id": "$ORDER", "amount": "100.00"}}),
    ("wh-refund-failed", 5, 0x10, {"type": "refund.failed", "data": {"refund_id": "$REFUND", "order_id": "$ORDER"}}),
    ("wh-credit-approved", 6, 0x30, {"type": "credit_line.approved", "data": {"buyer_id": "buyer-1",
                                                                               "application_id": "$APPLICATION", "limit": "20000.00"}}),
    ("wh-credit-declined", 6, 0x30, {"type": "credit_line.declined", "data": {"buyer_id": "buyer-1",
                                                                               "application_id": "$APPLICATION"}}),
    ("wh-credit-wrong-provider", 6, 0x10, {"type": "credit_line.approved", "data": {"buyer_id": "buyer-1",
                                                                                     "application_id": "$APPLICATION", "limit": "1.00"}}),
    ("wh-unsigned", 2, 0x18, {"type": "payment.failed", "data": {"payment_id": "$PAYMENT", "order_id": "$ORDER"}}),
]
for name, stage, flags, body in hooks:
    write("request_body", name, bytes([R["webhook"], stage, flags]) + j(body))

# ---- regressions: inputs that once failed, kept for good ------------------
# An unknown field named "" answered 400 naming the field "" (now "body").
write("request_body", "regress-unknown-field-named-empty", bytes([R["orders"], 0, 0]) + b'{"supplier_id":"sup-1","":1}')
