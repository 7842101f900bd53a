"""The stock Celery integration for Django: config from settings under the CELERY_ prefix."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animender.settings")

app = Celery("animender")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
