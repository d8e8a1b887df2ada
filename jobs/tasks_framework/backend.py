"""A backend for Django's Tasks framework: any app's `@task` runs on Dramatiq workers through the
ledger. `TASKS = {"default": {"BACKEND": "jobs.tasks_framework.backend.OffloadBackend"}}`.

Works with `django.tasks` (Django 6) and the django-tasks backport (Django 5.2). Each task is a
Dramatiq actor named by the task's module path, so the admin, the dashboard and /metrics show
tasks by name; `enqueue()` is the outbox's (the job commits with the caller's transaction and is
sent on commit), `run_after` a delayed job, and `get_result()` reads the job's row and events.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import traceback
import uuid
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any, cast

import dramatiq
from asgiref.sync import sync_to_async
from django.utils import timezone
from django.utils.module_loading import import_string
from dramatiq import Broker
from dramatiq.middleware import CurrentMessage

from jobs.brokers.on_demand import DeclaresActorsOnDemand
from jobs.brokers.priorities import orders_by_priority
from jobs.ledger.history import timeline
from jobs.ledger.redaction import SealError, open_arguments
from jobs.ledger.transitions import exception_type_of
from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue_call
from jobs.tasks_framework import (
    BaseTaskBackend,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    normalize_json,
    task_enqueued,
    task_finished,
    task_started,
)

#: The ledger's statuses as the Tasks framework names them (it has no "cancelled" or "skipped":
#: a job that will not run is FAILED there).
STATUSES = {
    JobStatus.PENDING: TaskResultStatus.READY,
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.SCHEDULED: TaskResultStatus.READY,
    JobStatus.RETRYING: TaskResultStatus.READY,
    JobStatus.RUNNING: TaskResultStatus.RUNNING,
    JobStatus.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.SKIPPED: TaskResultStatus.FAILED,
    JobStatus.CANCELLED: TaskResultStatus.FAILED,
}
#: What the `enqueued` event of a job enqueued through the framework says (then the task's path).
ENQUEUED_NOTE = "Enqueued through Django's Tasks framework: "


class OffloadBackend(BaseTaskBackend):
    """OPTIONS: MAX_RETRIES (0: a failed task is failed, as the framework's own backends do),
    TIME_LIMIT_SECONDS (600). Priorities: ordered on RabbitMQ, refused on Redis, which cannot
    (jobs/brokers/priorities.py)."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.max_retries = int(self.options.get("MAX_RETRIES", 0))
        self.time_limit_ms = int(float(self.options.get("TIME_LIMIT_SECONDS", 600)) * 1000)
        broker = dramatiq.get_broker()
        for queue in self.queues:  # a worker consumes every queue a task may be sent to
            broker.declare_queue(queue)
        # The framework's own flag, read by its validate_task(): true where the broker orders.
        self.supports_priority = orders_by_priority(broker)

    def validate_task(self, task: Task[Any, Any]) -> None:
        super().validate_task(task)
        self.actor_for(task)  # declared when the task is: a worker that imports it can run it

    def actor_for(self, task: Task[Any, Any]) -> dramatiq.Actor[..., Any]:
        """The task's Dramatiq actor, named by its module path; declared once per process."""
        broker = dramatiq.get_broker()
        # Not get_actor(): on the project's brokers it would ask ImportTasks, which calls this.
        if (known := broker.actors.get(task.module_path)) is not None:
            return known
        declare = dramatiq.actor(
            actor_name=task.module_path,
            queue_name=task.queue_name,
            max_retries=self.max_retries,
            time_limit=self.time_limit_ms,
            broker=broker,
        )
        return declare(_runner(task))

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any]:
        # Validated again, as the framework's own backends do: a task made under other
        # settings (QUEUES) would otherwise wait in a queue no worker reads.
        self.validate_task(task)
        real_args = cast("list[Any]", normalize_json(list(args)))
        real_kwargs = cast("dict[str, Any]", normalize_json(dict(kwargs)))
        job = enqueue_call(
            self.actor_for(task),
            real_args,
            real_kwargs,
            run_after=task.run_after,
            queue_name=task.queue_name,
            note=ENQUEUED_NOTE + task.module_path,
            priority=task.priority,
        )
        # A new job: nothing has happened yet; the caller gets its arguments as given.
        result = self._result(task, job, events=[], arguments=(real_args, real_kwargs))
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult[Any]:
        try:
            job = Job.objects.get(pk=uuid.UUID(str(result_id)))
        except (ValueError, Job.DoesNotExist):
            raise TaskResultDoesNotExist(result_id) from None
        task = _task_named(job.actor_name)
        if task is None:
            raise TaskResultDoesNotExist(f"Job {result_id} is not a task ({job.actor_name}).")
        return self._result(task_as_enqueued(task, job), job)

    def _result(
        self,
        task: Task[Any, Any],
        job: Job,
        events: list[tuple[str, str, str, str]] | None = None,
        arguments: tuple[list[Any], dict[str, Any]] | None = None,
    ) -> TaskResult[Any]:
        if events is None:
            events = [
                (event.kind, event.worker, event.exception_type, event.traceback)
                for event in timeline(job)
                if event.kind in (EventKind.STARTED, EventKind.ATTEMPT_FAILED, EventKind.FAILED)
            ]
        if arguments is None:
            try:  # the ledger keeps secret arguments sealed; code with the key gets them back
                arguments = open_arguments(job.args, job.kwargs, job.sealed_arguments)
            except SealError:
                arguments = (job.args, job.kwargs)
        result: TaskResult[Any] = TaskResult(
            task=task,
            id=str(job.pk),
            status=STATUSES[JobStatus(job.status)],
            enqueued_at=job.enqueued_at,
            started_at=job.first_started_at,
            finished_at=job.finished_at,
            last_attempted_at=job.started_at,
            args=arguments[0],
            kwargs=arguments[1],
            backend=self.alias,
            errors=[
                TaskError(exception_class_path=exception_class_path(kind_of_error), traceback=tb)
                for kind, _worker, kind_of_error, tb in events
                if kind != EventKind.STARTED and (tb or kind_of_error)
            ],
            worker_ids=[worker for kind, worker, _, _ in events if kind == EventKind.STARTED],
        )
        # The framework's own way: `_return_value` is not an init field of its frozen result.
        object.__setattr__(result, "_return_value", job.result)
        return result


def exception_class_path(recorded: str) -> str:
    """The import path of an attempt's exception as the ledger recorded it from the exception
    object (jobs/ledger/transitions.py `exception_type_of`: builtins by bare name)."""
    if not recorded:
        return "builtins.Exception"
    return recorded if "." in recorded else f"builtins.{recorded}"


def task_as_enqueued(task: Task[Any, Any], job: Job) -> Task[Any, Any]:
    """The task as `using()` made it for this job: its queue, priority and run_after (the time
    the job was due, kept on its `enqueued` event), so `get_result(id).task == result.task`."""
    changes: dict[str, Any] = {}
    if job.queue_name != task.queue_name:
        changes["queue_name"] = job.queue_name
    if job.priority != task.priority:
        changes["priority"] = job.priority
    enqueued = job.events.filter(kind=EventKind.ENQUEUED).values_list("eta", flat=True).first()
    if enqueued is not None and enqueued != task.run_after:
        changes["run_after"] = enqueued
    return task.using(**changes) if changes else task


def _task_named(module_path: str) -> Task[Any, Any] | None:
    """The task at this module path, or None."""
    try:
        found = import_string(module_path)
    except ImportError:
        return None
    return found if isinstance(found, Task) else None


class Attempt:
    """One run of a task in a worker: its result as the ledger has it when the attempt starts
    (RUNNING, this worker and attempt), and the framework's signals around it."""

    def __init__(self, task: Task[Any, Any]) -> None:
        message = CurrentMessage.get_current_message()
        # Only OffloadBackend declares a task's actor (actor_for): this is one.
        self.backend = cast("OffloadBackend", task.get_backend())
        self.result = self.backend.get_result(message.message_id if message else "")
        retries = message.options.get("retries", 0) if message else 0
        self.last = retries >= self.backend.max_retries

    def started(self) -> None:
        task_started.send(type(self.backend), task_result=self.result)

    def succeeded(self, value: Any) -> None:
        finished = dataclasses.replace(
            self.result, status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now()
        )
        object.__setattr__(finished, "_return_value", value)
        task_finished.send(type(self.backend), task_result=finished)

    def failed(self, error: BaseException) -> None:
        """Sent for the attempt after which nothing more will run (a retried task is READY)."""
        if not self.last:
            return
        failure = TaskError(
            exception_class_path=exception_class_path(exception_type_of(error)),
            traceback="".join(traceback.format_exception(error)),
        )
        finished = dataclasses.replace(
            self.result,
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            errors=[*self.result.errors, failure],
        )
        task_finished.send(type(self.backend), task_result=finished)


def _runner(task: Task[Any, Any]) -> Callable[..., Any]:
    """What the actor runs: the task's function, given a TaskContext when it takes one, between
    the framework's `task_started` and `task_finished` signals (its own log lines). Its return
    value is made JSON as the framework does: one that cannot be fails the attempt (TypeError)."""
    func = task.func

    if iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            attempt = await sync_to_async(Attempt)(task)
            await sync_to_async(attempt.started)()
            if task.takes_context:
                args = (TaskContext(task_result=attempt.result), *args)
            try:
                value = normalize_json(await func(*args, **kwargs))
            except BaseException as error:
                await sync_to_async(attempt.failed)(error)
                raise
            await sync_to_async(attempt.succeeded)(value)
            return value

        return run_async

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        attempt = Attempt(task)
        attempt.started()
        if task.takes_context:
            args = (TaskContext(task_result=attempt.result), *args)
        try:
            value = normalize_json(func(*args, **kwargs))
        except BaseException as error:
            attempt.failed(error)
            raise
        attempt.succeeded(value)
        return value

    return run


class TaskNotImportableError(Exception):
    """A task's module path names nothing this worker can import as a task."""


class ImportTasks(DeclaresActorsOnDemand):
    """Workers run any task, wherever it is defined: an actor name this process does not know
    that is a dotted path (as the backend names tasks' actors) is imported and the task's actor
    declared, as the framework's own worker backends import a task by its module path. A path
    that does not import as a task gets an actor that fails with the reason, so its job fails
    visibly instead of being dead-lettered unrun."""

    def __init__(self) -> None:
        self._declaring = threading.Lock()  # consumer threads may meet the same name at once

    def declare_actor_named(self, broker: Broker, actor_name: str) -> bool:
        if "." not in actor_name:
            return False  # a plain actor gone (the tracker records it dead-lettered)
        with self._declaring:
            if actor_name in broker.actors:
                return True
            try:
                found = import_string(actor_name)
            except ImportError as error:
                reason = f"Task {actor_name} cannot be imported in this worker: {error}"
            else:
                backend = found.get_backend() if isinstance(found, Task) else None
                if isinstance(backend, OffloadBackend):
                    backend.actor_for(found)
                    return True
                reason = f"{actor_name} is not a task run by {OffloadBackend.__name__}."

            def unrunnable(*args: Any, **kwargs: Any) -> None:
                raise TaskNotImportableError(reason)

            dramatiq.actor(actor_name=actor_name, max_retries=0, broker=broker)(unrunnable)
            return True
