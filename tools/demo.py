"""Walk an order through every step the running local stack offers, as the
buyer, the supplier, an arbiter and the payment providers would, printing
each request and the part of the answer that matters (the order's status
after every step). Any unexpected answer — an HTTP status or an order
status — stops the walk with a non-zero exit.

    make run            # in one terminal
    make demo           # in another (URL from $TA_URL, default http://127.0.0.1:3000)

Standard library only. Tokens are HS256-signed with LOCAL_JWT_SECRET
(default `local-dev-secret`), like the stack's emulated JWT authorizer.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

URL = os.environ.get("TA_URL", "http://127.0.0.1:3000").rstrip("/")
SECRET = os.environ.get("LOCAL_JWT_SECRET", "local-dev-secret").encode()
RUN = uuid.uuid4().hex[:6]
BUYER, SUPPLIER, ARBITER = f"buyer-{RUN}", f"sup-{RUN}", f"arbiter-{RUN}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(sub: str, role: str) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": sub, "cognito:groups": [role], "exp": int(time.time()) + 3600}
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = b64url(hmac.new(SECRET, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def call(method: str, path: str, who=None, body=None, expect=(200,), headers=None, label=None):
    headers = {"content-type": "application/json", **(headers or {})}
    if who:
        headers["authorization"] = "Bearer " + token(*who)
    if method == "POST" and who:
        headers["idempotency-key"] = uuid.uuid4().hex
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    except urllib.error.URLError as e:
        sys.exit(f"cannot reach the local stack at {URL} ({e.reason}); start it with `make run`")
    who_name = label or (who[1] if who else "anyone")
    print(f"  {who_name:>8} {method:<4} {path} -> {status}")
    if status not in expect:
        sys.exit(f"unexpected {status}: {text}")
    return json.loads(text) if text else None


def money(m) -> str:
    return f"US ${m['amount']}" if m else "-"


def expect_status(order, want: str):
    """The order (or anything with a status) must be in `want`."""
    if order["status"] != want:
        sys.exit(f"unexpected order status {order['status']!r} (expected {want!r}): {json.dumps(order)}")
    return order


def provider_event(provider: str, kind: str, data: dict, webhook_id=None):
    """The provider simulator signs the body with the provider's secret and
    delivers it to POST /v1/webhooks/{provider}; it answers once the
    payment consumer has handled the delivery."""
    headers = {"webhook-id": webhook_id} if webhook_id else None
    answer = call("POST", f"/_local/providers/{provider}/events", body={"type": kind, "data": data},
                  expect=(202,), headers=headers, label=provider)
    if answer.get("consumer") != "acknowledged":
        sys.exit(f"the payment consumer did not apply the delivery: {json.dumps(answer)}")
    print(f"     {kind} delivered as {answer['webhook_id']}: the consumer {answer['consumer']} it")
    return answer


def confirm_payment(provider: str, oid: str, payment: dict, webhook_id=None):
    return provider_event(provider, "payment.succeeded", {
        "payment_id": payment["id"], "order_id": oid,
        "amount": payment["amount"]["amount"], "currency": payment["amount"]["currency"],
        "provider_reference": f"ch_{uuid.uuid4().hex[:10]}"}, webhook_id)


def show(order) -> None:
    print(f"     order {order['status']}, version {order['version']}")


def main() -> None:
    buyer, supplier, arbiter = (BUYER, "buyer"), (SUPPLIER, "supplier"), (ARBITER, "arbiter")
    print(f"Trade Assurance demo against {URL}\n")

    print("1. The stack is up")
    call("GET", "/health")

    print("\n2. An arbiter makes the supplier a Trade Assurance supplier")
    limit = call("PUT", f"/v1/suppliers/{SUPPLIER}/assurance-limit", arbiter, {
        "limit": "2000.00",
        "receiving_account": {"bank_name": "Citibank", "account_name": "Shenzhen LED Co",
                              "account_number": "123456789", "swift": "CITIUS33"}})
    print(f"     limit {money(limit['limit'])}, available {money(limit['available'])}")

    print("\n3. The buyer fills the contract online (the help page's example: total $3000, initial $1500)")
    order = call("POST", "/v1/orders", buyer, {
        "supplier_id": SUPPLIER,
        "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
        "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
        "ship_by": "2030-06-28", "quality_terms": "IP65, 3 year warranty",
        "destination_country": "US", "coverage": "post_delivery",
        "inspection": {"agency": "SGS", "location": "china"}}, expect=(201,))
    oid = order["id"]
    print(f"     {oid}: {order['status']}, total {money(order['total'])}, version {order['version']}")

    print("\n4. Someone else cannot see it; the buyer reminds the supplier")
    call("GET", f"/v1/orders/{oid}", (f"buyer-other-{RUN}", "buyer"), expect=(404,))
    call("POST", f"/v1/orders/{oid}/remind", buyer, {})

    print("\n5. The supplier confirms the version it saw; coverage is reserved against its limit")
    stale = call("POST", f"/v1/orders/{oid}/confirm", supplier, {"version": order["version"] + 1}, expect=(409,))
    print(f"     a version it never saw: {stale['detail']}")
    order = call("POST", f"/v1/orders/{oid}/confirm", supplier, {"version": order["version"]})
    print(f"     {order['status']}; post-delivery covers {money(order['coverage']['covered_amount'])}"
          " (the full order, up to the supplier's $2000)")
    limit = call("GET", f"/v1/suppliers/{SUPPLIER}/assurance-limit", supplier)
    print(f"     supplier limit: reserved {money(limit['reserved'])}, available {money(limit['available'])}")

    print("\n6. The timeline and the buyer's orders")
    history = call("GET", f"/v1/orders/{oid}/history", buyer)
    for entry in history["items"]:
        print(f"     {entry['at'][:19]}  {entry['actor']['kind']:>8}  {entry['summary']}")
    listing = call("GET", "/v1/orders?limit=5", buyer)
    print(f"     the buyer has {len(listing['items'])} order(s)")

    print("\n7. A second order finds the limit used up; the arbiter raises it; the order is then cancelled")
    other = call("POST", "/v1/orders", buyer, {
        "supplier_id": SUPPLIER,
        "items": [{"description": "Driver", "quantity": 10, "unit_price": "5.00"}],
        "currency": "USD", "initial_payment": "50.00", "ship_by": "2030-06-28",
        "quality_terms": "CE", "destination_country": "DE", "coverage": "pre_shipment"}, expect=(201,))
    full = call("POST", f"/v1/orders/{other['id']}/confirm", supplier, {"version": other["version"]}, expect=(422,))
    print(f"     {full['detail']}")
    call("PUT", f"/v1/suppliers/{SUPPLIER}/assurance-limit", arbiter, {"limit": "5000.00"})
    confirmed = call("POST", f"/v1/orders/{other['id']}/confirm", supplier, {"version": other["version"]})
    print(f"     {confirmed['status']}, pre-shipment covers {money(confirmed['coverage']['covered_amount'])}")
    cancelled = call("POST", f"/v1/orders/{other['id']}/cancel", buyer, {})
    limit = call("GET", f"/v1/suppliers/{SUPPLIER}/assurance-limit", arbiter)
    print(f"     {cancelled['status']}; reserved back to {money(limit['reserved'])}")

    print("\n8. The buyer pays the initial payment by card (the inspection fee rides on it)")
    payment = call("POST", f"/v1/orders/{oid}/payments", buyer,
                   {"stage": "initial", "method": "credit_card", "card_brand": "visa"}, expect=(201,))
    expect_status(payment, "processing")
    arrival = payment["expected_arrival"]
    print(f"     {payment['id']}: {money(payment['amount'])} by card, {payment['status']},"
          f" expected {arrival['earliest']} to {arrival['latest']}")
    show(expect_status(call("GET", f"/v1/orders/{oid}", buyer), "initial_payment_processing"))

    print("\n9. The card provider confirms by signed webhook; a retried delivery changes nothing")
    first = confirm_payment("card", oid, payment)
    show(expect_status(call("GET", f"/v1/orders/{oid}", buyer), "awaiting_shipment"))
    confirm_payment("card", oid, payment, webhook_id=first["webhook_id"])
    history = call("GET", f"/v1/orders/{oid}/history", buyer)
    succeeded = [e for e in history["items"] if e["event"] == "PaymentSucceeded"]
    if len(succeeded) != 1:
        sys.exit(f"expected one PaymentSucceeded after a duplicate delivery, got {len(succeeded)}")
    print("     still one PaymentSucceeded in the history")

    print("\n10. The supplier ships; the balance is now due")
    order = call("POST", f"/v1/orders/{oid}/shipment", supplier,
                 {"carrier": "DHL", "tracking_number": f"JD{RUN.upper()}0042"})
    show(expect_status(order, "shipped"))

    print("\n11. The buyer pays the balance by card")
    balance = call("POST", f"/v1/orders/{oid}/payments", buyer,
                   {"stage": "balance", "method": "credit_card", "card_brand": "mastercard"}, expect=(201,))
    expect_status(balance, "processing")
    print(f"     {balance['id']}: {money(balance['amount'])} by card, {balance['status']}")
    show(expect_status(call("GET", f"/v1/orders/{oid}", buyer), "balance_payment_processing"))

    print("\n12. The card provider confirms the balance")
    confirm_payment("card", oid, balance)
    show(expect_status(call("GET", f"/v1/orders/{oid}", buyer), "awaiting_receipt_confirmation"))

    print("\n13. The buyer confirms receipt")
    show(expect_status(call("POST", f"/v1/orders/{oid}/receipt", buyer, {}), "completed"))

    print("\n14. The buyer leaves feedback; other buyers see the supplier's rating")
    call("POST", f"/v1/orders/{oid}/feedback", buyer, {"rating": 5, "comment": "Bright panels, on time."},
         expect=(201,))
    rating = call("GET", f"/v1/suppliers/{SUPPLIER}/feedback", (f"buyer-other-{RUN}", "buyer"))
    print(f"     {SUPPLIER}: {rating['count']} rating(s), average {rating['average_rating']}")
    order = expect_status(call("GET", f"/v1/orders/{oid}", buyer), "completed")
    limit = call("GET", f"/v1/suppliers/{SUPPLIER}/assurance-limit", arbiter)
    print(f"     supplier limit: reserved {money(limit['reserved'])} while the coverage runs")

    print("\n15. The whole timeline")
    history = call("GET", f"/v1/orders/{oid}/history", buyer)
    for entry in history["items"]:
        print(f"     {entry['at'][:19]}  {entry['actor']['kind']:>8}  {entry['summary']}")

    print(f"\nDone: {oid} is {order['status']}. Disputes and refunds join this walk as they land.")


if __name__ == "__main__":
    main()
