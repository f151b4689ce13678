"""Drive a Python client generated from the API's OpenAPI document
(openapi-python-client, package `ta_client` on PYTHONPATH) against the
local stack, as infra/local/tests/generated_client.rs runs it.

Environment: TA_BASE_URL (the stack on loopback), TA_BUYER_TOKEN,
TA_SUPPLIER_TOKEN, TA_ARBITER_TOKEN (buyer-1, sup-1, arb-1). Every answer
is parsed by the generated code into the model the document names for its
status; an undocumented status raises (raise_on_unexpected_status). Each
check prints `ok <what>`; the first that fails raises, and the exit status
is not 0.
"""

import datetime
import os
import uuid

from ta_client import AuthenticatedClient, Client
from ta_client.api.orders import confirm_order, create_order, get_order, list_orders
from ta_client.api.payments import initiate_payment
from ta_client.api.suppliers import set_assurance_limit
from ta_client.models import (
    AssuranceLimit,
    BuyerCreatesOrder,
    CardPayment,
    Confirm,
    GatewayMessage,
    Order,
    OrderList,
    OrderStatus,
    Problem,
    ProblemType,
    SetAssuranceLimit,
)

BASE_URL = os.environ["TA_BASE_URL"]
SUPPLIER = "sup-1"


def client(token_variable):
    return AuthenticatedClient(
        base_url=BASE_URL,
        token=os.environ[token_variable],
        raise_on_unexpected_status=True,
        timeout=30.0,
    )


def expect(response, status, model):
    """The parsed body of `response`, once its status is `status` and the
    generated code parsed it as `model`."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.content!r}"
    )
    assert isinstance(response.parsed, model), (
        f"{status} parsed as {type(response.parsed).__name__}, not {model.__name__}: "
        f"{response.content!r}"
    )
    return response.parsed


def ok(what):
    print(f"ok {what}", flush=True)


def main():
    buyer = client("TA_BUYER_TOKEN")
    supplier = client("TA_SUPPLIER_TOKEN")
    arbiter = client("TA_ARBITER_TOKEN")

    # The supplier needs an assurance limit for the order's coverage.
    limit = expect(
        set_assurance_limit.sync_detailed(
            id=SUPPLIER,
            client=arbiter,
            body=SetAssuranceLimit.from_dict({"limit": "1000000.00"}),
        ),
        200,
        AssuranceLimit,
    )
    assert limit.supplier_id == SUPPLIER, limit
    ok(f"setAssuranceLimit: {limit.limit.amount} {limit.limit.currency}")

    # A buyer creates an order: 201, the Order model, its Location.
    ship_by = datetime.date.today() + datetime.timedelta(days=60)
    body = BuyerCreatesOrder.from_dict(
        {
            "supplier_id": SUPPLIER,
            "items": [{"description": "CNC spindle", "quantity": 100, "unit_price": "300.00"}],
            "shipping_fee": "0.00",
            "currency": "USD",
            "initial_payment": "25000.00",
            "ship_by": ship_by.isoformat(),
            "quality_terms": "ISO 9001, 1 year warranty",
            "destination_country": "US",
            "coverage": "pre_shipment",
            "inspection": {"agency": "SGS", "location": "china"},
        }
    )
    created = create_order.sync_detailed(
        client=buyer, body=body, idempotency_key=f"generated-client-{uuid.uuid4()}"
    )
    order = expect(created, 201, Order)
    assert order.status == OrderStatus.AWAITING_CONFIRMATION, order.status
    assert order.total.amount == "30000.00", order.total
    location = created.headers.get("location")
    assert location == f"/v1/orders/{order.id}", f"Location: {location!r}"
    ok(f"createOrder: 201 {order.id}, Location {location}")

    # Read it back.
    read = expect(get_order.sync_detailed(id=order.id, client=buyer), 200, Order)
    assert read.id == order.id and read.version == order.version, read
    ok(f"getOrder: 200 {read.id} at version {read.version}")

    listed = expect(list_orders.sync_detailed(client=buyer, limit=5), 200, OrderList)
    assert order.id in [o.id for o in listed.items], listed
    ok(f"listOrders: 200 with {len(listed.items)} order(s)")

    # An unknown order: 404, the Problem model.
    missing = expect(
        get_order.sync_detailed(id="ord_doesnotexist", client=buyer), 404, Problem
    )
    assert missing.status == 404, missing
    assert missing.type_ == ProblemType.NOT_FOUND, missing.type_
    ok(f"getOrder unknown: 404 {missing.type_.value}")

    # The supplier confirms; a card payment of US$25,000 is over the
    # US$20,000 a card may pay: 422, the Problem model.
    confirmed = expect(
        confirm_order.sync_detailed(
            id=order.id, client=supplier, body=Confirm(version=order.version)
        ),
        200,
        Order,
    )
    assert confirmed.status == OrderStatus.AWAITING_INITIAL_PAYMENT, confirmed.status
    ok(f"confirmOrder: 200 {confirmed.status.value}")
    refused = expect(
        initiate_payment.sync_detailed(
            id=order.id,
            client=buyer,
            body=CardPayment.from_dict(
                {"stage": "initial", "method": "credit_card", "card_brand": "visa"}
            ),
        ),
        422,
        Problem,
    )
    assert refused.status == 422, refused
    assert refused.type_ == ProblemType.CARD_LIMIT_EXCEEDED, refused.type_
    ok(f"initiatePayment by card over US$20,000: 422 {refused.type_.value}: {refused.detail}")

    # No token: API Gateway's own 401, the GatewayMessage model.
    anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=True, timeout=30.0)
    unauthorized = expect(
        get_order.sync_detailed(id=order.id, client=anonymous), 401, GatewayMessage
    )
    assert unauthorized.message == "Unauthorized", unauthorized
    ok("getOrder without a token: 401 GatewayMessage")


if __name__ == "__main__":
    main()
