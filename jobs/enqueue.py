"""enqueue(): record a job in the caller's transaction and hand it to the broker on commit."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import dramatiq
from django.db import models, transaction
from dramatiq import Actor, Message
from redis.exceptions import RedisError

from .models import Job
from .tracking import max_retries_of

logger = logging.getLogger(__name__)


def enqueue(
    actor: Actor[..., Any],
    *args: Any,
    about: models.Model | None = None,
    caused_by: Any = None,
    delay: dt.timedelta | None = None,
    **kwargs: Any,
) -> Job:
    """Record a `pending` job now and send its message when the current transaction commits.

    Rolled back: no row and no message. Broker unreachable at commit: the job stays `pending`
    (visible in the admin) instead of the request failing. `about` is the object the job is
    for (shown and linked in the admin); `caused_by` is the user whose action caused it.
    """
    message = actor.message_with_options(args=args, kwargs=kwargs)
    job = Job.objects.create_pending(
        job_id=uuid.UUID(message.message_id),
        actor_name=actor.actor_name,
        queue_name=actor.queue_name,
        args=list(args),
        kwargs=kwargs,
        max_retries=max_retries_of(actor.broker, message),
        about=about,
        caused_by=caused_by,
    )
    delay_ms = int(delay.total_seconds() * 1000) if delay else None
    transaction.on_commit(lambda: send(message, delay_ms), robust=True)
    return job


def send(message: Message[Any], delay_ms: int | None = None) -> bool:
    """Hand a recorded job's message to the broker. False if the broker is unreachable."""
    try:
        dramatiq.get_broker().enqueue(message, delay=delay_ms)
    except (RedisError, OSError):
        logger.warning(
            "Broker unreachable: job %s stays pending until it can be sent.",
            message.message_id,
            exc_info=True,
        )
        return False
    return True
