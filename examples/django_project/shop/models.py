"""An order that a task confirms once it is committed."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    """An order; ``confirmed`` is set by the ``confirm_order`` task."""

    item = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField()
    confirmed = models.BooleanField(default=False)
