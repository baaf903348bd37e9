"""A changelist paginator that does not count a whole table on every page view."""

from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """On PostgreSQL an unfiltered list uses the planner's row estimate instead of COUNT(*)."""

    @cached_property
    def count(self):
        qs = self.object_list
        if connection.vendor == "postgresql" and hasattr(qs, "query") and not qs.query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [qs.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] and row[0] > 10_000:
                return int(row[0])
        return super().count
