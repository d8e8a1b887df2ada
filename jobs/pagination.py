"""A paginator that never counts a whole large table: counts stop at COUNT_CAP.

Django's admin counts every row the list matches to number its pages: a full scan at millions of
jobs. Past the cap the admin says "more than 10,000" and numbers the first pages only; filters
narrow the list down from there.
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator

#: Lists longer than this are not counted exactly.
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        # COUNT(*) over a LIMITed subquery: reads at most COUNT_CAP + 1 index entries.
        # Unordered: the planner may count through any index instead of following the sort.
        return int(self.object_list.order_by()[: self.cap + 1].count())  # type: ignore[attr-defined]

    @property
    def capped(self) -> bool:
        return self.count > self.cap
