"""区级看板 (reports:district): a district's streets side by side; each row opens the street's own
dashboard (reports:dashboard with the street's campaign, counted for that street only)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from core.params import int_param
from households.models import District

from . import district as figures


@login_required
def district(request):
    user = request.user
    district = figures.reader_district(user, int_param(request, "district"))
    today = timezone.localdate()
    rows = figures.district_rows(user, district, today=today) if district is not None else []
    return render(
        request,
        "reports/district.html",
        {
            "district": district,
            "rows": rows,
            "totals": figures.totals(rows),
            "today": today,
            # Superusers choose among every district; a district's people read their own only.
            "districts": District.objects.order_by("name", "pk") if user.is_superuser else [],
        },
    )
