"""Machinery shared by every test folder; the root ``tests/conftest.py`` turns it into fixtures.

- :mod:`.waiting`: ``wait_until`` and ``wait_for``, the only way tests wait (never a sleep).
- :mod:`.redis_server`: the real ``redis-server`` of a test session, and servers a test starts,
  kills and restarts on its own.
- :mod:`.recording`: a plugin recording the lifecycle hooks a test's workers call.
- :mod:`.workers`: in-process workers started for a test and stopped after it.
- :mod:`.processes`: a worker subprocess and its log file; ``in_rootdir`` for children that
  import test modules.
- :mod:`.memory`: ``broker`` and ``app`` on a memory broker whose time the test moves.
- :mod:`.kit`: the test kit's ``taskq_broker_url`` on memory and on the real server.
"""
