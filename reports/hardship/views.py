"""The 一户一策 pages: the list of the households in special hardship the user may see, and the plan
of one household.

The plan page reads the household through ``get_household_for_user`` (404 for outsiders), lets users
who may change households edit the plan (POST-redirect-GET) and shows it read-only to the others.
Views parse and call: the rules are households.hardship's.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from django.utils import timezone

from core.params import int_param
from core.versioning import StaleEditError, stale_message
from households import hardship
from households.masking import mask_id_number, mask_phone, may_see_address
from households.models import FocusGroup, HardshipPlan, Node, NodeKind
from households.scoping import get_household_for_user
from issues.exporting import household_address

from ..ledgers import hardship_households
from .forms import HardshipPlanForm, MeasureFormSet

PAGE_SIZE = 30
EDIT_PERMISSION = "households.change_household"


@login_required
def hardship_list(request):
    """The special-hardship households the user may see, each with the state of its plan."""
    communities = list(
        Node.objects.visible_to(request.user, ancestors=False).filter(kind=NodeKind.COMMUNITY).order_by("path")
    )
    households = hardship_households(request.user)
    wanted = int_param(request, "community")
    community = next((c for c in communities if c.pk == wanted), None)
    if community is not None:
        households = households.filter(community=community)
    households = (
        hardship.with_plan_status(households)
        .select_related("community", "grid", "building")
        .prefetch_related(Prefetch("tags", queryset=FocusGroup.objects.only("name", "order")))
        .order_by("path", "unit", "room", "pk")
    )
    page = Paginator(households, PAGE_SIZE).get_page(request.GET.get("page"))
    for h in page.object_list:
        # Reached through Household.objects.visible_to: the door number in full (masking.may_see_address).
        h.address_shown = household_address(h, full=True)
        h.plan_status = hardship.plan_status(h.plan_id, h.measure_count, h.done_count)
    return render(
        request,
        "reports/hardship_list.html",
        {
            "page": page,
            "communities": communities,
            "community": community,
            "querystring": f"community={community.pk}" if community else "",
            "groups": "、".join(hardship.HARDSHIP_GROUPS),
        },
    )


@login_required
def hardship_plan(request, pk):
    """The 一户一策 plan of one household: an editable form for users who may change households,
    read-only for the others (leaders, department handlers). A page opened before someone else saved
    the plan is refused whole, with the message (households/hardship.py)."""
    household = get_household_for_user(request.user, pk)
    plan = HardshipPlan.objects.filter(household=household).select_related("updated_by__cadre").first()
    can_edit = request.user.has_perm(EDIT_PERMISSION)
    form = formset = stale = None
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("您没有修改帮扶方案的权限")
        form = HardshipPlanForm(request.POST, instance=plan or HardshipPlan(household=household))
        formset = MeasureFormSet(request.POST, instance=form.instance, prefix="measures")
        if form.is_valid() and formset.is_valid():
            measures, removed = formset.edits()
            try:
                hardship.hardship_plan_save(
                    household=household,
                    plan=form.save(commit=False),
                    measures=measures,
                    removed=removed,
                    by=request.user,
                )
            except hardship.PlanTakenError as exc:
                messages.error(request, str(exc))
            except StaleEditError as exc:  # lost the race after the version check: nothing was written
                messages.error(request, exc.message)
            else:
                messages.success(request, "帮扶方案已保存")
            return redirect("reports:hardship_plan", pk=household.pk)
        # A stale page: one message on top, in place of "correct the errors below".
        stale = stale_message(form) or next(filter(None, map(stale_message, formset.forms)), None)
    elif can_edit:
        form = HardshipPlanForm(instance=plan or HardshipPlan(household=household))
        formset = MeasureFormSet(instance=form.instance, prefix="measures")
    today = timezone.localdate()
    measures = list(plan.measures.all()) if plan else []
    for m in measures:
        m.status = hardship.measure_status(m.due_on, m.done_on, today=today)
    return render(
        request,
        "reports/hardship_plan.html",
        {
            "h": household,
            "address": household_address(household, full=may_see_address(request.user, household)),
            # Masked for every role: the plan needs no full number (查看完整信息 is on the household page).
            "id_shown": mask_id_number(household.id_number),
            "phone_shown": mask_phone(household.phone),
            "tags": list(household.tags.all()),
            "plan": plan,
            "measures": measures,
            "can_edit": can_edit,
            "form": form,
            "formset": formset,
            "stale": stale,
        },
    )
