"""Walk an order through every step the running local stack offers, as the
buyer, the supplier and an arbiter would, printing each request and the
part of the answer that matters.

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


def call(method: str, path: str, who=None, body=None, expect=(200,)):
    headers = {"content-type": "application/json"}
    if who:
        headers["authorization"] = "Bearer " + token(*who)
    if method == "POST":
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
    who_name = who[1] if who else "anyone"
    print(f"  {who_name:>8} {method:<4} {path} -> {status}")
    if status not in expect:
        sys.exit(f"unexpected {status}: {text}")
    return json.loads(text) if text else None


def money(m) -> str:
    return f"US ${m['amount']}" if m else "-"


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

    print("\nDone: payments, shipment with a balance, disputes and refunds join this walk as they land.")


if __name__ == "__main__":
    main()
