"""The ledger's models, by topic; imported from here (`from jobs.models import Job`)."""

from jobs.models.counts import HourCounts as HourCounts
from jobs.models.counts import JobsPerHour as JobsPerHour
from jobs.models.counts import RemovedJobCounts as RemovedJobCounts
from jobs.models.fleet import Duty as Duty
from jobs.models.fleet import WorkerProcess as WorkerProcess
from jobs.models.job import Job as Job
from jobs.models.job import JobEvent as JobEvent
from jobs.models.job import JobManager as JobManager
from jobs.models.job import JobQuerySet as JobQuerySet
from jobs.models.job import UniqueJobLock as UniqueJobLock
from jobs.models.schedules import AlertDelivery as AlertDelivery
from jobs.models.schedules import AlertIncident as AlertIncident
from jobs.models.schedules import AlertRule as AlertRule
from jobs.models.schedules import Schedule as Schedule
from jobs.models.states import ERROR_SUMMARY_LENGTH as ERROR_SUMMARY_LENGTH
from jobs.models.states import MAX_LOST_DELIVERIES as MAX_LOST_DELIVERIES
from jobs.models.states import UNDECODABLE_ACTOR as UNDECODABLE_ACTOR
from jobs.models.states import UNDECODABLE_ERROR as UNDECODABLE_ERROR
from jobs.models.states import WORKER_LOST_ERROR as WORKER_LOST_ERROR
from jobs.models.states import EventKind as EventKind
from jobs.models.states import JobStatus as JobStatus
