"""The shop's tests, run by Django's test runner: ``python manage.py test``.

Tasks run on the test's own thread with ``app.run_until_idle()``: no worker to start, and the
task sees the test's database.
"""

from __future__ import annotations

from django.test import TestCase

from shop.models import Order
from shop.tasks import app


class PlaceOrderTests(TestCase):
    def setUp(self) -> None:
        app.broker.purge(app.default_queue)

    def test_an_order_is_confirmed_by_a_task_after_commit(self):
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            response = self.client.post("/orders", {"item": "tea", "quantity": 2})

        self.assertEqual(response.status_code, 201)
        self.assertEqual(len(callbacks), 1)
        order_id = response.json()["order"]
        self.assertEqual(app.broker.counts("shop").ready, 1)  # the settings' default queue

        self.assertEqual(app.run_until_idle(), {"acked": 1})

        self.assertTrue(Order.objects.get(id=order_id).confirmed)
        detail = self.client.get(f"/orders/{order_id}").json()
        self.assertEqual(detail, {"order": order_id, "item": "tea", "confirmed": True})

    def test_a_rolled_back_order_sends_no_task(self):
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            response = self.client.post("/orders", {"item": "tea", "quantity": 99})

        self.assertEqual(response.status_code, 409)
        self.assertEqual(callbacks, [])
        self.assertFalse(Order.objects.exists())
        self.assertEqual(app.broker.counts("shop").ready, 0)
        self.assertEqual(app.run_until_idle(), {})

    def test_the_app_is_configured_from_django_settings(self):
        self.assertEqual(app.default_queue, "shop")
        self.assertEqual(app.routes, {"shop.tasks.rebuild_*": "slow"})
