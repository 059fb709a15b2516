"""Placing an order enqueues its confirmation only once the order is committed.

``transaction.on_commit`` runs the ``delay()`` after the transaction commits: a worker never
sees the id of an order that is not in the database yet, and a rolled-back order sends nothing.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from shop.models import Order
from shop.tasks import confirm_order


class OutOfStock(Exception):
    """More was ordered than the shop has."""


#: Most of one item an order may take.
STOCK = 10


def place_order(request: HttpRequest) -> JsonResponse:
    """``POST /orders`` (item, quantity): 201 with the order's id, or 409 when out of stock."""
    try:
        with transaction.atomic():
            order = Order.objects.create(
                item=request.POST["item"], quantity=int(request.POST["quantity"])
            )
            transaction.on_commit(lambda: confirm_order.delay(order.id))
            if order.quantity > STOCK:
                raise OutOfStock(order.item)  # rolls back the order and drops the on_commit
    except OutOfStock:
        return JsonResponse({"error": "out of stock"}, status=409)
    return JsonResponse({"order": order.id}, status=201)


def order_detail(request: HttpRequest, order_id: int) -> JsonResponse:
    """``GET /orders/<id>``: the order and whether it is confirmed."""
    order = Order.objects.get(id=order_id)
    return JsonResponse({"order": order.id, "item": order.item, "confirmed": order.confirmed})
