"""The project's taskq app, configured from Django's settings.

Workers import the tasks module: ``taskq worker shop.tasks:app`` from this directory. Django is
set up here first, so the tasks can use the ORM in a worker process as in a request.
"""

from __future__ import annotations

import os

import django
from django.conf import settings

from taskq_core import Taskq

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
django.setup()

app = Taskq.from_config(settings)
