"""Pages for cadres and grid workers: the households they may see, one household, an export."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import render

from .exporting import register_export_response
from .masking import can_view_full_pii, mask_phone, masked_family
from .models import FocusGroup, Household, Node, NodeKind
from .scoping import get_household_for_user
from .search import search_households

PAGE_SIZE = 30


def _filtered_households(request):
    qs = Household.objects.visible_to(request.user)
    qs = search_households(qs, request.GET.get("q", ""))
    grid = request.GET.get("grid", "")
    if grid.isdigit():
        qs = qs.filter(grid_id=int(grid))
    tag = request.GET.get("tag", "")
    if tag.isdigit():
        qs = qs.filter(tags__id=int(tag))
    return qs


@login_required
def household_list(request):
    qs = (
        _filtered_households(request)
        .select_related("community", "grid", "building")
        .prefetch_related(Prefetch("tags", queryset=FocusGroup.objects.only("id", "name")))
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    full = can_view_full_pii(request.user)
    for h in page.object_list:
        h.phone_shown = h.phone if full else mask_phone(h.phone)
    grids = Node.objects.visible_to(request.user).filter(kind=NodeKind.GRID).select_related("parent")
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "households/list.html",
        {
            "page": page,
            "grids": grids,
            "tags": FocusGroup.objects.all(),
            "q": request.GET.get("q", ""),
            "grid": request.GET.get("grid", ""),
            "tag": request.GET.get("tag", ""),
            "querystring": params.urlencode(),
        },
    )


@login_required
def household_detail(request, pk):
    household = get_household_for_user(request.user, pk)
    assignments = household.assignments.select_related("cadre", "campaign").order_by("-campaign__year", "tier")
    return render(
        request,
        "households/detail.html",
        {"h": household, "assignments": assignments, **masked_family(request.user, household)},
    )


@login_required
def household_export(request):
    return register_export_response(request, _filtered_households(request), what="居民底册（页面导出）")
