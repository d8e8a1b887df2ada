"""WSGI entry point (gunicorn config.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# The alerts watch (jobs/maintenance/watch.py): runserver and WSGI servers load this module in
# the serving process. gunicorn (ASGI, preloaded) starts it per worker in its post_worker_init.
from jobs.maintenance.watch import start_watch  # noqa: E402  # needs the apps loaded

start_watch()
