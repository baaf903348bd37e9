"""Pages for cadres and grid workers: the households they may see, one household, an export;
显示完整信息 (a POST, logged) for the roles that may see ID numbers and phones in full; and 拨打
(a POST, logged) for those who may call the household (households.masking.may_call)."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.params import int_param, text_param

from .exporting import register_export_response
from .masking import mask_phone, masked_family, reveal_family, reveal_phone
from .models import FocusGroup, Household, Node, NodeKind
from .scoping import get_household_for_user
from .search import search_households

PAGE_SIZE = 30


def _filtered_households(request):
    qs = Household.objects.visible_to(request.user)
    qs = search_households(qs, text_param(request, "q"), request)
    grid = int_param(request, "grid")  # a junk filter is ignored
    if grid is not None:
        qs = qs.filter(grid_id=grid)
    tag = int_param(request, "tag")
    if tag is not None:
        qs = qs.filter(tags__id=tag)
    return qs


@login_required
def household_list(request):
    qs = (
        _filtered_households(request)
        .select_related("community", "grid", "building")
        .prefetch_related(Prefetch("tags", queryset=FocusGroup.objects.only("id", "name")))
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for h in page.object_list:
        # Masked for every role: the full values are one household at a time, 显示完整信息, logged.
        h.phone_shown = mask_phone(h.phone)
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
            "q": text_param(request, "q"),
            "grid": str(int_param(request, "grid") or ""),
            "tag": str(int_param(request, "tag") or ""),
            "querystring": params.urlencode(),
        },
    )


def _detail(request, household, family):
    assignments = household.assignments.select_related("cadre", "campaign").order_by("-campaign__year", "tier")
    return render(request, "households/household.html", {"h": household, "assignments": assignments, **family})


@login_required
def household_detail(request, pk):
    """One household, ID numbers and phone masked for every role (the button reveals them)."""
    household = get_household_for_user(request.user, pk)
    return _detail(request, household, masked_family(request.user, household))


@never_cache
@require_POST
@login_required
def household_reveal(request, pk):
    """显示完整信息: the household's and its members' ID numbers and phone in full, one access-log row.

    403 without 查看完整信息, 404 for a household the user may not see. Answers JSON when asked
    (``Accept: application/json``), the household page with the values shown otherwise.
    """
    household = get_household_for_user(request.user, pk)
    family = reveal_family(request, household)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {
                "household": household.pk,
                "id_number": household.id_number,
                "phone": household.phone,
                "members": [
                    {"name": m.name, "relation": m.relation, "id_number": m.id_number} for m in family["members"]
                ],
            }
        )
    return _detail(request, household, family)


@login_required
def household_export(request):
    return register_export_response(request, _filtered_households(request), what="居民底册（页面导出）")


@never_cache
@require_POST
@login_required
def household_call(request, pk):
    """拨打: the household's phone number, for its own cadre, the street admin or secretary of its
    node (households.masking.may_call); one access-log row. 403 for the others, 404 for a
    household the user may not see.

    The page's button (households/_call.html, static/js/call.js) asks for JSON and then opens
    ``tel:<number>``; without JavaScript the answer is a page with the number as a ``tel:`` link.
    """
    household = get_household_for_user(request.user, pk)
    phone = reveal_phone(request, household)
    if "application/json" in request.headers.get("Accept", ""):
        if not phone:
            return JsonResponse({"error": "该户没有登记联系电话"}, status=404)
        return JsonResponse({"household": household.pk, "phone": phone, "tel": "tel:" + _dialable(phone)})
    return render(request, "households/call.html", {"h": household, "phone": phone, "tel": "tel:" + _dialable(phone)})


def _dialable(phone: str) -> str:
    """What a ``tel:`` link dials: the digits (and a leading +), without the dashes and spaces of the register."""
    return "".join(c for c in phone if c.isdigit() or c == "+")
