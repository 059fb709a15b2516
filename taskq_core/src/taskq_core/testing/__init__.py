"""taskq's shipped test kit (needs ``taskq-core[testing]``): the broker conformance suite.

Assertion rewriting is registered before the suite is imported, so a failing conformance test
shows pytest's detailed assert message in a third party's run too (pytest rewrites test modules
and plugins, not the helper modules they import).

Use it from a backend's tests (the fixtures come from ``taskq_core.testing.plugin``, which
pytest loads by itself)::

    # test_my_broker.py
    from taskq_core.testing import BrokerConformance

    class TestMyBroker(BrokerConformance):
        @pytest.fixture
        def make_broker(self):
            return lambda clock: MyBroker(namespace=f"t-{uuid4().hex}", clock=clock)
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("taskq_core.testing.conformance")

from taskq_core.testing import conformance  # noqa: E402 - must follow the rewrite registration
from taskq_core.testing.conformance import *  # noqa: E402, F403 - the whole suite, re-exported
from taskq_core.testing.plugin import MessageFactory  # noqa: E402

#: Everything the suite exports, plus the plugin's message factory type; kept in one place
#: (``conformance.__all__``) so a new themed class cannot be forgotten here.
__all__ = [*conformance.__all__, "MessageFactory"]
