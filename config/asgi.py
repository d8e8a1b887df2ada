"""ASGI entry point: the production web server (`make serve`, config/gunicorn.conf.py)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Under ASGI each request's code runs in a thread of its own: a connection kept per thread would
# outlive it (Django's docs advise CONN_MAX_AGE=0 here). Workers keep theirs (config/settings.py).
os.environ.setdefault("CONN_MAX_AGE", "0")
application = get_asgi_application()
