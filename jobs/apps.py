"""App config of the job ledger: installs the project's broker once the models are loaded."""

from __future__ import annotations

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here, not at the top: the broker's modules import the models (Django's way for code
        # that needs the app registry).
        from jobs.brokers.setup import install_broker

        install_broker()
