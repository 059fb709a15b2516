"""The shop's tasks; ``app`` is the project's taskq app (``shopsite/taskq.py``)."""

from __future__ import annotations

from shopsite.taskq import app

from shop.models import Order

__all__ = ["app", "confirm_order"]


@app.task
def confirm_order(order_id: int) -> int:
    """Mark the order confirmed (a real shop would charge and mail here); returns its id."""
    updated = Order.objects.filter(id=order_id).update(confirmed=True)
    if not updated:
        raise Order.DoesNotExist(f"order {order_id} does not exist")
    return order_id
