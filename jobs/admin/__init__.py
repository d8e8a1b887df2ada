"""The staff side: the job admin with its actions and bulk operations, the dashboard, the
schedules and alert rules, the ledger's duties."""

from jobs.admin import duties as duty_admin  # noqa: F401 (DutyAdmin)
from jobs.admin import jobs as job_admin  # noqa: F401 (registers JobAdmin on import)
from jobs.admin import schedules as schedule_admin  # noqa: F401 (ScheduleAdmin, AlertRuleAdmin)
