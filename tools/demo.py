"""Walk orders through every step the running local stack offers, as the
buyer, the supplier, an arbiter and the scheduler would, printing each
request and the part of the answer that matters (the order's status after
every step). The payment providers are the stack's sandbox provider
(`PROVIDER_SANDBOX=auto`, the default of `make run`): the service asks it
for every payment and refund through the provider adapter, and it confirms
by signed webhook as business time passes, so the demo only ever moves the
clock (`POST /_local/clock/advance`) — it posts no webhook itself. One
order from contract to feedback, then
one whose quality dispute the supplier leaves unanswered until the sweep
escalates it, an arbiter decides it and the split refund settles, one
settled with a small compensation that goes on to completion, and orders
nobody finishes — a draft nobody confirms, a payment its provider never
confirms, a balance never paid, a receipt never confirmed — that the sweep
takes to their end as business time runs on. Any unexpected answer — an
HTTP status, an order or dispute status, an amount — stops the walk with a
non-zero exit.

    make run            # in one terminal
    make demo           # in another (URL from $TA_URL, default http://127.0.0.1:3000)

Business time moves a day at a time until each provider has confirmed
(payments on the first day of their arrival window, refunds a working day
on), past the supplier's response deadline in the dispute, and by about
100 days at the end, so the demo can run again against the same stack.

Standard library only. Tokens are HS256-signed with LOCAL_JWT_SECRET
(default `local-dev-secret`), like the stack's emulated JWT authorizer.
"""

import base64
import datetime
import decimal
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

URL = os.environ.get("TA_URL", "http://127.0.0.1:3000").rstrip("/")
SECRET = os.environ.get("LOCAL_JWT_SECRET", "local-dev-secret").encode()
RUN = uuid.uuid4().hex[:6]
BUYER, SUPPLIER, ARBITER = f"buyer-{RUN}", f"sup-{RUN}", f"arbiter-{RUN}"
# The disputed order's supplier: one with no other live order, so its
# reserved limit shows the refund releasing the reservation.
SUPPLIER2 = f"sup-{RUN}-b"
# The supplier of the orders nobody finishes, and of the compensation.
SUPPLIER3 = f"sup-{RUN}-c"


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
    who_name = label or (who[1] if who else "anyone")
    deadline = time.monotonic() + 60
    while True:
        request = urllib.request.Request(URL + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        except urllib.error.URLError as e:
            sys.exit(f"cannot reach the local stack at {URL} ({e.reason}); start it with `make run`")
        print(f"  {who_name:>8} {method:<4} {path} -> {status}")
        # A well-behaved client: 429/503 (a store or queue unavailable, e.g.
        # under FAULT_RATE_PERCENT) and a key still in progress are retried
        # with the same Idempotency-Key.
        retryable = status in (429, 503) or (status == 409 and "/request-in-progress" in text)
        if not retryable or status in expect or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if status not in expect:
        sys.exit(f"unexpected {status}: {text}")
    return json.loads(text) if text else None


def money(m) -> str:
    return f"US ${m['amount']}" if m else "-"


def dec(m) -> decimal.Decimal:
    """A money object's amount, exactly."""
    return decimal.Decimal(m["amount"])


def instant(text: str) -> datetime.datetime:
    """An RFC 3339 UTC instant as the API writes it (`…Z`, up to 9
    fractional digits: Python keeps 6)."""
    head, _, frac = text.rstrip("Z").partition(".")
    stamp = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc)
    return stamp + datetime.timedelta(microseconds=int((frac + "000000")[:6]))


def expect(condition: bool, what: str, answer) -> None:
    if not condition:
        sys.exit(f"unexpected: {what}: {json.dumps(answer)}")


def expect_status(order, want: str):
    """The order (or anything with a status) must be in `want`."""
    if order["status"] != want:
        sys.exit(f"unexpected order status {order['status']!r} (expected {want!r}): {json.dumps(order)}")
    return order


def sandbox_on() -> None:
    """The sandbox provider must be on: it is what confirms payments."""
    listed = call("GET", "/_local/providers/requests?provider=none", label="sandbox")
    if listed.get("mode") != "auto":
        sys.exit("the stack's sandbox provider is off (PROVIDER_SANDBOX=manual): "
                 "restart it with PROVIDER_SANDBOX=auto (the default of `make run`)")


def asked(some_id: str):
    """What the sandbox provider was asked about an order, payment or
    refund part (the listing waits for the provider-action step)."""
    return call("GET", f"/_local/providers/requests?id={some_id}", label="sandbox")["items"]


def show_asked(request) -> None:
    answer = request.get("answer") or {}
    body = answer.get("body") or {}
    nxt = body.get("next_action")
    step = ""
    if nxt:
        step = f", next: {nxt['type']} " + (nxt.get("url") or nxt.get("instructions", {}).get("reference", ""))
    due = ", ".join(f"{c['type']} due {c['due'][:10]}" for c in request["confirmations"]) or "nothing to confirm"
    print(f"     {request['provider']} was asked {request['kind']} {request['idempotency_key']}"
          f" ({request['request']['amount'] if 'amount' in request['request'] else '-'}):"
          f" {answer.get('status')} {body.get('reference')}{step}; {due}")


def advance(seconds: int = 86400):
    """Business time moves on (a day by default); print what the sandbox
    provider delivered as it did."""
    answer = call("POST", "/_local/clock/advance", body={"seconds": seconds}, label="clock")
    for e in answer.get("provider_events", []):
        data = e["data"]
        what = data.get("payment_id") or data.get("refund_id") or data.get("application_id")
        if e.get("consumer") != "acknowledged":
            sys.exit(f"the payment consumer did not apply the sandbox's delivery: {json.dumps(e)}")
        print(f"     {answer['now'][:10]} {e['provider']} {e['type']} for {what}"
              f" ({e['webhook_id'][:20]}…): the consumer {e['consumer']} it")
    return answer


def until(who, oid: str, done, what: str, days: int = 10):
    """Advance a day at a time until the order satisfies `done`."""
    for _ in range(days):
        advance()
        order = call("GET", f"/v1/orders/{oid}", who)
        if done(order):
            return order
    sys.exit(f"{oid} is not {what} after {days} days: {json.dumps(order)}")


def until_status(who, oid: str, want: str, days: int = 10):
    return until(who, oid, lambda o: o["status"] == want, want, days)


def show(order) -> None:
    print(f"     order {order['status']}, version {order['version']}")


def show_dispute(d) -> None:
    print(f"     dispute {d['status']}, order {d['order_status']}, version {d['order_version']}")


def timeline(who, oid: str) -> None:
    history = call("GET", f"/v1/orders/{oid}/history", who)
    for entry in history["items"]:
        print(f"     {entry['at'][:19]}  {entry['actor']['kind']:>9}  {entry['summary']}")


def run_schedules():
    """`POST /_local/schedules/run`: the deadline sweep, now, at business time."""
    answer = call("POST", "/_local/schedules/run", body={}, label="schedule")
    runs = answer.get("runs") or []
    expect(len(runs) == 1 and runs[0].get("schedule") == "escalate-stale-disputes"
           and not runs[0].get("error") and runs[0].get("report"), "one complete run", answer)
    report = runs[0]["report"]
    counts = ", ".join(f"{k} {report[k]}" for k in (
        "due", "changed", "escalated", "overdue_flagged", "expired", "cancelled", "closed",
        "receipts_confirmed", "not_shipped_refunds", "released", "failed", "published") if report[k])
    print(f"     {runs[0]['schedule']} at {report['now'][:19]}: {counts or 'nothing due'}")
    return report


def main() -> None:
    buyer, supplier, arbiter = (BUYER, "buyer"), (SUPPLIER, "supplier"), (ARBITER, "arbiter")
    print(f"Trade Assurance demo against {URL}\n")

    print("1. The stack is up, its sandbox provider on")
    call("GET", "/health")
    sandbox_on()

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
    again = call("POST", f"/v1/orders/{oid}/remind", buyer, {}, expect=(429,))
    print(f"     a second reminder the same day: {again['detail']}")

    print("\n5. The supplier confirms the version it saw; coverage is reserved against its limit")
    stale = call("POST", f"/v1/orders/{oid}/confirm", supplier, {"version": order["version"] + 1}, expect=(409,))
    print(f"     a version it never saw: {stale['detail']}")
    order = call("POST", f"/v1/orders/{oid}/confirm", supplier, {"version": order["version"]})
    print(f"     {order['status']}; post-delivery covers {money(order['coverage']['covered_amount'])}"
          " (the full order, up to the supplier's $2000)")
    limit = call("GET", f"/v1/suppliers/{SUPPLIER}/assurance-limit", supplier)
    print(f"     supplier limit: reserved {money(limit['reserved'])}, available {money(limit['available'])}")

    print("\n6. The timeline and the buyer's orders")
    timeline(buyer, oid)
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
    print("     the service asks the card provider (the sandbox) for it:")
    requests = asked(payment["id"])
    expect(len(requests) == 1, "one request for the payment", requests)
    show_asked(requests[0])
    taken = payment_in(call("GET", f"/v1/orders/{oid}", buyer), payment)
    print(f"     the payment's next step: {taken['next_action']['type']} at {taken['next_action']['url']}")

    print("\n9. Business time passes; the card provider confirms on the first day of the window")
    show(until_status(buyer, oid, "awaiting_shipment"))
    history = call("GET", f"/v1/orders/{oid}/history", buyer)
    succeeded = [e for e in history["items"] if e["event"] == "PaymentSucceeded"]
    expect(len(succeeded) == 1, "one PaymentSucceeded", history)
    print("     one PaymentSucceeded in the history, settled in business time")

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

    print("\n12. Business time passes; the card provider confirms the balance")
    show(until_status(buyer, oid, "awaiting_receipt_confirmation"))

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
    timeline(buyer, oid)

    refunded = dispute(buyer, arbiter)
    compensated = compensation(buyer, arbiter)
    ended = every_order_ends(buyer, arbiter)
    print(f"\nDone: {oid} is {order['status']}; {refunded} is refunded; {compensated} went on"
          f" after its compensation; {ended}.")


def dispute(buyer, arbiter) -> str:
    """A post-delivery order, paid by card and e-check, whose quality
    dispute the supplier leaves unanswered: escalated by the sweep, decided
    by an arbiter, refunded newest payment first. Its id."""
    supplier = (SUPPLIER2, "supplier")

    print(f"\n16. A dispute: {SUPPLIER2} gets a limit; the buyer orders with post-delivery coverage")
    call("PUT", f"/v1/suppliers/{SUPPLIER2}/assurance-limit", arbiter, {"limit": "5000.00"})
    order = call("POST", "/v1/orders", buyer, {
        "supplier_id": SUPPLIER2,
        "items": [{"description": "LED panel", "quantity": 100, "unit_price": "30.00"}],
        "shipping_fee": "0.00", "currency": "USD", "initial_payment": "1500.00",
        "ship_by": "2030-06-28", "quality_terms": "IP65, 3 year warranty",
        "destination_country": "US", "coverage": "post_delivery",
        "inspection": {"agency": "SGS", "location": "china"}}, expect=(201,))
    oid = order["id"]
    order = call("POST", f"/v1/orders/{oid}/confirm", supplier, {"version": order["version"]})
    expect_status(order, "awaiting_initial_payment")
    covered = order["coverage"]["covered_amount"]
    expect(dec(covered) == decimal.Decimal("3000.00"), "post-delivery covers the whole order", order)
    print(f"     {oid}: {order['status']}, covers {money(covered)}")

    print("\n17. The initial payment by card, confirmed by the card provider; the supplier ships")
    initial = call("POST", f"/v1/orders/{oid}/payments", buyer,
                   {"stage": "initial", "method": "credit_card", "card_brand": "visa"}, expect=(201,))
    print(f"     {initial['id']}: {money(initial['amount'])} by card")
    show(until_status(buyer, oid, "awaiting_shipment"))
    order = call("POST", f"/v1/orders/{oid}/shipment", supplier,
                 {"carrier": "DHL", "tracking_number": f"JD{RUN.upper()}0043"})
    show(expect_status(order, "shipped"))

    print("\n18. The balance by e-Checking (US checking account), confirmed by the e-check provider")
    balance = call("POST", f"/v1/orders/{oid}/payments", buyer,
                   {"stage": "balance", "method": "e_checking", "bank_country": "US",
                    "account_type": "checking"}, expect=(201,))
    expect_status(balance, "processing")
    print(f"     {balance['id']}: {money(balance['amount'])} by e-check, fee {money(balance['fee'])}")
    show_asked(asked(balance["id"])[0])
    show(until_status(buyer, oid, "awaiting_receipt_confirmation"))

    print("\n19. 40 of 100 panels flicker: the buyer opens a quality dispute with evidence")
    opened = call("POST", f"/v1/orders/{oid}/dispute", buyer, {
        "reason": "quality", "requested_refund": "3000.00",
        "description": "40 of 100 panels flicker",
        "evidence": [{"name": "video.mp4", "url": "https://evidence.example/video.mp4",
                      "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]},
        expect=(201,))
    expect(opened["status"] == "open", "an open dispute", opened)
    show_dispute(opened)
    print(f"     requested {money(opened['requested_refund'])}; the supplier must answer by"
          f" {opened['supplier_response_due'][:19]}")

    print("\n20. While it is unresolved the buyer cannot confirm receipt, nor escalate yet")
    refused = call("POST", f"/v1/orders/{oid}/receipt", buyer, {}, expect=(409,))
    expect(refused.get("type", "").endswith("/dispute-unresolved"), "dispute-unresolved", refused)
    print(f"     {refused['detail']}")
    early = call("POST", f"/v1/orders/{oid}/dispute/escalate", buyer, {}, expect=(422,))
    expect(early.get("type", "").endswith("/not-yet-escalatable"), "not-yet-escalatable", early)
    print(f"     {early['detail']}")

    print("\n21. The supplier stays silent; business time moves past its response deadline")
    due = instant(opened["supplier_response_due"])
    now = instant(call("GET", "/_local/clock", label="clock")["now"])
    ahead = max(1, int((due - now).total_seconds()) + 60)
    clock = call("POST", "/_local/clock/advance", body={"seconds": ahead}, label="clock")
    expect(instant(clock["now"]) > due, "business time past the deadline", clock)
    print(f"     business time is now {clock['now'][:19]} ({ahead} s on)")

    print("\n22. The sweep (escalate-stale-disputes, every 5 minutes in AWS) runs now")
    report = run_schedules()
    d = call("GET", f"/v1/orders/{oid}", buyer)["dispute"]
    expect(d and d["status"] == "escalated" and d["escalation_ground"] == "supplier_no_response",
           "escalated because the supplier did not respond", d)
    last = d["entries"][-1]
    expect(last["by"]["role"] == "scheduler", "escalated by the scheduler", d)
    if report["escalated"] < 1:
        print("     (the stack's ticker escalated it first)")
    print(f"     dispute {d['status']} ({d['escalation_ground']}) by the {last['by']['role']}"
          f" at {last['at'][:19]}")

    print("\n23. The arbiter's queue holds it; the supplier was at fault")
    path, found = "/v1/disputes?status=escalated&limit=50", None
    while found is None:
        queue = call("GET", path, arbiter)
        found = next((q for q in queue["items"] if q["order_id"] == oid), None)
        if found is None:
            expect("next_cursor" in queue, f"{oid} in the escalated disputes", queue)
            cursor = urllib.parse.quote(queue["next_cursor"], safe="")
            path = f"/v1/disputes?status=escalated&limit=50&cursor={cursor}"
    print(f"     {oid}: {found['reason']}, requested {money(found['requested_refund'])},"
          f" covered {money(found['covered_amount'])}, paid {money(found['amount_paid'])}")
    print("     the arbiter refunds everything paid: the order closes")
    decided = call("POST", f"/v1/orders/{oid}/dispute/decision", arbiter,
                   {"outcome": "supplier_at_fault", "refund_amount": found["amount_paid"]["amount"]})
    expect(decided["status"] == "resolved" and decided["outcome"] == "supplier_at_fault"
           and decided["order_status"] == "refund_pending", "resolved, refund pending", decided)
    fee = decided["inspection_fee_refund"]
    print(f"     {decided['outcome']}: refund {money(decided['refund_amount'])}"
          f" + the inspection fee {money(fee)}; order {decided['order_status']}")

    print("\n24. The refund is split newest first, each part asked of the provider that took the payment")
    order = call("GET", f"/v1/orders/{oid}", buyer)
    parts = order["refunds"]
    expect([(r["payment_id"], r["provider"]) for r in parts]
           == [(balance["id"], "echeck"), (initial["id"], "card")], "the e-check part, then the card's",
           parts)
    expect(sum(dec(r["amount"]) for r in parts) == dec(decided["refund_amount"]) + dec(fee),
           "the parts add up to the refund and the fee", parts)
    for r in parts:
        print(f"     {r['id']}: {money(r['amount'])} back through {r['provider']} ({r['payment_id']}), {r['status']}")
    for r in parts:
        requests = asked(r["id"])
        expect(len(requests) == 1, "each part asked of its provider once", requests)
        show_asked(requests[0])

    print("\n25. Business time passes; each provider confirms its part a working day on")
    show(until_status(buyer, oid, "refunded"))
    order = call("GET", f"/v1/orders/{oid}", buyer)
    expect(all(r["status"] == "succeeded" for r in order["refunds"]), "every part settled", order)
    expect(dec(order["coverage"]["reserved"]) == 0, "the reservation released", order)
    limit = call("GET", f"/v1/suppliers/{SUPPLIER2}/assurance-limit", arbiter)
    expect(dec(limit["reserved"]) == 0, "nothing reserved", limit)
    back = ", ".join(f"{p['method']} {money(p['refunded'])} ({p['status']})" for p in order["payments"])
    print(f"     refunded {money(order['amount_refunded'])} in all: {back}")
    print(f"     supplier limit: reserved {money(limit['reserved'])}, available {money(limit['available'])}")

    print("\n26. The disputed order's timeline")
    timeline(buyer, oid)
    return oid


def new_order(buyer, supplier_id: str, coverage="pre_shipment", ship_by="2030-06-28",
              initial="400.00"):
    order = call("POST", "/v1/orders", buyer, {
        "supplier_id": supplier_id,
        "items": [{"description": "Driver", "quantity": 100, "unit_price": "10.00"}],
        "currency": "USD", "initial_payment": initial, "ship_by": ship_by,
        "quality_terms": "CE marked", "destination_country": "DE", "coverage": coverage},
        expect=(201,))
    return order


def confirmed_order(buyer, supplier, **kw) -> str:
    order = new_order(buyer, supplier[0], **kw)
    confirmed = call("POST", f"/v1/orders/{order['id']}/confirm", supplier, {"version": order["version"]})
    expect_status(confirmed, "awaiting_initial_payment")
    return order["id"]


def paid_by_card(buyer, oid: str, stage: str, confirm=True) -> dict:
    """A card payment; with `confirm`, business time passes until the card
    provider has confirmed it."""
    payment = call("POST", f"/v1/orders/{oid}/payments", buyer,
                   {"stage": stage, "method": "credit_card", "card_brand": "visa"}, expect=(201,))
    if confirm:
        until(buyer, oid, lambda o: payment_in(o, payment)["status"] == "succeeded",
              f"paid ({payment['id']})")
    return payment


def ship(supplier, oid: str):
    return call("POST", f"/v1/orders/{oid}/shipment", supplier,
                {"carrier": "DHL", "tracking_number": f"JD{uuid.uuid4().hex[:8].upper()}"})


def compensation(buyer, arbiter) -> str:
    """A small refund agreed in a dispute is a compensation: the order goes
    on where it was (shipment, balance, receipt), the refund settles in the
    background, the reservation shrinks. Its id."""
    supplier = (SUPPLIER3, "supplier")
    print(f"\n27. A compensation: {SUPPLIER3} gets a limit; a pre-shipment order is paid")
    call("PUT", f"/v1/suppliers/{SUPPLIER3}/assurance-limit", arbiter, {"limit": "10000.00"})
    oid = confirmed_order(buyer, supplier)
    paid_by_card(buyer, oid, "initial")
    order = expect_status(call("GET", f"/v1/orders/{oid}", buyer), "awaiting_shipment")
    print(f"     {oid}: covers {money(order['coverage']['covered_amount'])}, paid {money(order['amount_paid'])}")

    print("\n28. The samples show scratches: the buyer asks 50.00, the supplier agrees")
    call("POST", f"/v1/orders/{oid}/dispute", buyer, {
        "reason": "quality", "requested_refund": "50.00", "description": "scratched samples"},
        expect=(201,))
    agreed = call("POST", f"/v1/orders/{oid}/dispute/responses", supplier, {"action": "accept"})
    expect(agreed["outcome"] == "agreed" and agreed["order_status"] == "awaiting_shipment",
           "a compensation leaves the order where it was", agreed)
    order = call("GET", f"/v1/orders/{oid}", buyer)
    expect(dec(order["coverage"]["reserved"]) == decimal.Decimal("350.00"),
           "the reservation shrinks by the refund", order)
    part = order["refunds"][0]
    print(f"     dispute {agreed['outcome']}; order still {order['status']};"
          f" reserved {money(order['coverage']['reserved'])}; refund {part['id']} {part['status']}")
    until(buyer, oid, lambda o: o["refunds"][0]["status"] == "succeeded", "compensated")
    print(f"     refund {part['id']} settled in the background; order still"
          f" {call('GET', f'/v1/orders/{oid}', buyer)['status']}")

    print("\n29. The order goes on: shipped, balance paid, receipt confirmed")
    expect_status(ship(supplier, oid), "shipped")
    paid_by_card(buyer, oid, "balance")
    order = expect_status(call("POST", f"/v1/orders/{oid}/receipt", buyer, {}), "completed")
    print(f"     {order['status']}; refunded {money(order['amount_refunded'])} of"
          f" {money(order['total'])}")
    return oid


def every_order_ends(buyer, arbiter) -> str:
    """Orders nobody finishes: the sweep takes each to its end as business
    time runs on. A summary."""
    supplier = (SUPPLIER3, "supplier")
    print("\n30. Orders nobody finishes: a draft, a card payment never confirmed"
          " (the sandbox never answers an amount ending in .03), a balance never paid,"
          " a receipt never confirmed")
    draft = new_order(buyer, SUPPLIER3)["id"]
    silent = confirmed_order(buyer, supplier, initial="400.03")
    never = paid_by_card(buyer, silent, "initial", confirm=False)
    show_asked(asked(never["id"])[0])
    unpaid = confirmed_order(buyer, supplier)
    paid_by_card(buyer, unpaid, "initial")
    expect_status(ship(supplier, unpaid), "shipped")
    unreceived = confirmed_order(buyer, supplier)
    paid_by_card(buyer, unreceived, "initial")
    ship(supplier, unreceived)
    paid_by_card(buyer, unreceived, "balance")
    order = expect_status(call("GET", f"/v1/orders/{unreceived}", buyer), "awaiting_receipt_confirmation")
    extended = call("POST", f"/v1/orders/{unreceived}/receipt/extension", buyer, {})
    print(f"     {unreceived}: the buyer takes 15 more days; receipt confirmed automatically at"
          f" {extended['receipt']['auto_confirm_at'][:19]} unless they act")
    for oid in (draft, silent, unpaid, unreceived):
        o = call("GET", f"/v1/orders/{oid}", buyer)
        clocks = ", ".join(f"{d['kind']} {d['due'][:10]}" for d in o["deadlines"] if d["kind"] != "ship_by")
        print(f"     {oid}: {o['status']}; {clocks}")
    limit = call("GET", f"/v1/suppliers/{SUPPLIER3}/assurance-limit", arbiter)
    print(f"     {SUPPLIER3}: reserved {money(limit['reserved'])}")

    print("\n31. Business time runs on for 100 days, the sweep running every 10 days")
    for _ in range(10):
        advance(10 * 86400)
        run_schedules()
    ended = {oid: call("GET", f"/v1/orders/{oid}", buyer) for oid in (draft, silent, unpaid, unreceived)}
    expect_status(ended[draft], "cancelled")
    expect(ended[draft]["status_reason"] == "not_confirmed", "the draft cancelled, not confirmed", ended[draft])
    expect_status(ended[silent], "cancelled")
    expect(payment_in(ended[silent], never)["status"] == "failed"
           and payment_in(ended[silent], never)["failure_reason"] == "expired",
           "the payment never confirmed expired", ended[silent])
    expect_status(ended[unpaid], "closed")
    expect(ended[unpaid]["status_reason"] == "balance_unpaid", "closed, balance unpaid", ended[unpaid])
    expect_status(ended[unreceived], "completed")
    for oid, o in ended.items():
        print(f"     {oid}: {o['status']}" + (f" ({o['status_reason']})" if o["status_reason"] else ""))
    limit = call("GET", f"/v1/suppliers/{SUPPLIER3}/assurance-limit", arbiter)
    expect(dec(limit["reserved"]) == 0, "every reservation released", limit)
    print(f"     {SUPPLIER3}: reserved {money(limit['reserved'])}: every reservation released")
    timeline(buyer, silent)
    return "4 orders nobody finished have ended"


def payment_in(order, payment) -> dict:
    return next(p for p in order["payments"] if p["id"] == payment["id"])


if __name__ == "__main__":
    main()
