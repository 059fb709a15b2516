"""Settings of the shop example. taskq reads every ``TASKQ_*`` setting (``Taskq.from_config``)."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "shop"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "shopsite.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# taskq: the environment still wins ($TASKQ_BROKER_URL overrides this value).
TASKQ_BROKER_URL = os.environ.get("SHOP_BROKER_URL", "memory://")
TASKQ_DEFAULT_QUEUE = "shop"
TASKQ_ROUTES = {"shop.tasks.rebuild_*": "slow"}
