"""The staff side: the job admin with its actions and bulk operations, and the dashboard."""

from jobs.admin import jobs as job_admin  # noqa: F401 (registers JobAdmin on import)
from jobs.admin import schedules as schedule_admin  # noqa: F401 (ScheduleAdmin, AlertRuleAdmin)
