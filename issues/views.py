"""Pages of the issue ledger (问题整改台账): the street's ledger and review queue, a department's
"my issues", one issue with its timeline and action forms, the register form, the merge tool, the export.

Views stay thin: every queryset starts from ``Issue.objects.visible_to`` / ``get_issue_for_user``;
transitions, permissions and the version check are the services' (``issues.services``), deadlines
and working days are ``issues.deadlines`` / ``issues.workdays``'. A view parses the input, calls one
service, shows its message and redirects (POST-redirect-GET).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, IntegerField, Q, Value, When
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.params import choice_param, parse_int, parse_text, text_param
from core.versioning import STALE_EDIT_MESSAGE
from households.levels import for_user as levels_for_user
from households.masking import call_url, may_see_address
from households.models import Household, Node, NodeKind
from households.scoping import get_household_for_user, user_cadre
from households.search import search_households
from visitplan.models import Department

from . import deadlines, services, workdays
from .exporting import household_address, ledger_export_response, with_overdue_flag
from .forms import (
    ACTION_FORMS,
    IssueRegisterForm,
    LedgerFilterForm,
    MergeForm,
    due_this_week_q,
    person_name,
    reopened_q,
)
from .models import OPEN_STATUSES, EventKind, Issue, IssueEvent, Status, overdue_q
from .scoping import get_issue_for_user
from .services import ACTION_LABELS, IssueActionError, StaleIssueError
from .todo import days_text

PAGE_SIZE = 20
STALE_MESSAGE = STALE_EDIT_MESSAGE
GONE_MESSAGE = "该诉求已不在您的办理范围内（可能已退办或改派），请刷新后查看"
MERGE_CANDIDATES = 30
NEXT_MAX_LENGTH = 2000  # a back link with its query string


# ------------------------------------------------------------------------------------------------ helpers


def ledger_queryset(queryset, *, today):
    """Everything a ledger row shows, in one query."""
    return with_overdue_flag(
        queryset.select_related(
            "community",
            "household",
            "household__grid",
            "household__building",
            "department",
        ),
        today=today,
    )


def _decorate(issues, *, today):
    """Days left and the due-soon mark for a page of issues, from the calendar snapshot (no query per row),
    and each issue's rulebook (its class label, who reviews it: its street's campaigns read once).

    ``overdue_now`` comes annotated from the database (IssueQuerySet.overdue); the rest is
    deadlines.working_days_left / plan_working_days_left on the in-memory working-day calendar.
    """
    calendar = workdays.current_calendar()
    deadlines.attach_rules(issues)
    for issue in issues:
        issue.days_left = deadlines.working_days_left(issue, on=today, calendar=calendar)
        issue.plan_days_left = deadlines.plan_working_days_left(issue, on=today, calendar=calendar)
        running = [d for d in (issue.days_left, issue.plan_days_left) if d is not None]
        issue.due_soon = not issue.overdue_now and any(0 <= d <= deadlines.DUE_SOON_WORKING_DAYS for d in running)
        issue.days_text = days_text(issue.days_left)
        issue.plan_days_text = days_text(issue.plan_days_left)
    return issues


def _paginate(request, queryset, *, today, count=None, related=()):
    """A page of ``queryset`` (already scoped, filtered and ordered), read in two steps.

    The database sorts and slices the bare ids first (one lean query on the issue table), then
    only that page's rows are read with everything a row shows joined (one query). Joining first
    would make the database join every matching issue before it sorts. ``count``, when the caller
    already knows it, saves the COUNT query.
    """
    paginator = Paginator(queryset.values_list("pk", flat=True), PAGE_SIZE)
    if count is not None:
        paginator.count = count  # a cached_property: setting it skips the COUNT
    page = paginator.get_page(request.GET.get("page"))
    ids = list(page.object_list)
    rows = ledger_queryset(Issue.objects.filter(pk__in=ids), today=today)
    if related:  # select_related() without names would replace the list with "every non-null FK"
        rows = rows.select_related(*related)
    rows = {issue.pk: issue for issue in rows}
    page.object_list = [rows[pk] for pk in ids if pk in rows]
    _decorate(page.object_list, today=today)
    return page


def _querystring(request, drop=("page",)):
    params = request.GET.copy()
    for key in drop:
        params.pop(key, None)
    return params.urlencode()


def _ledger_filter(request):
    user = request.user
    communities = Node.objects.visible_to(user, ancestors=False).filter(kind=NodeKind.COMMUNITY).order_by("path")
    return LedgerFilterForm(
        request.GET or None,
        communities=list(communities),
        departments=list(Department.objects.all()),
        levels=levels_for_user(user),
    )


def _filtered_ledger(request, *, today):
    form = _ledger_filter(request)
    return form, form.apply(Issue.objects.visible_to(request.user), today=today)


def _safe_next(request, default):
    """The page to go back to: a path of this site (redirect() would take a bare word for a view name)."""
    target = parse_text(request.POST.get("next") or request.GET.get("next"), max_length=NEXT_MAX_LENGTH)
    allowed = {request.get_host()}
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts=allowed, require_https=request.is_secure()
    ):
        return target
    return default


def _can_register(user):
    return user.has_perm("issues.add_issue")


def _render(request, template, context, **kwargs):
    """render() plus the flags of the issue pages' tab bar (which tabs this user gets)."""
    user = request.user
    context["nav"] = {
        "review": services.has_role(user, "accept"),
        "register": _can_register(user),
    }
    return render(request, template, context, **kwargs)


# ------------------------------------------------------------------------------------------------ ledger


@login_required
def ledger(request):
    """The street office's ledger: filters, a page of issues, the counts that matter today."""
    today = timezone.localdate()
    form, filtered = _filtered_ledger(request, today=today)
    # One pass over the user's issues for the counters, the total (the unfiltered count) and, when a
    # filter is set, the filtered count the pages need (no COUNT query of its own).
    active = form.active
    stats = Issue.objects.visible_to(request.user).aggregate(
        total=Count("pk"),
        open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
        overdue=Count("pk", filter=overdue_q(today)),
        week=Count("pk", filter=Q(status__in=OPEN_STATUSES) & due_this_week_q(today)),
        review=Count("pk", filter=Q(status=Status.REGISTERED)),
        reopened=Count("pk", filter=reopened_q()),
        **({"filtered": Count("pk", filter=Q(pk__in=filtered.values("pk")))} if active else {}),
    )
    page = _paginate(request, filtered, today=today, count=stats["filtered"] if active else stats["total"])
    return _render(
        request,
        "issues/ledger.html",
        {
            "form": form,
            "page": page,
            "stats": stats,
            "querystring": _querystring(request),
            "can_register": _can_register(request.user),
        },
    )


@login_required
def ledger_export(request):
    """The current filtered ledger as xlsx (问题整改台账 layout), logged."""
    today = timezone.localdate()
    _form, filtered = _filtered_ledger(request, today=today)
    return ledger_export_response(request, filtered)


@login_required
def review_queue(request):
    """待审核, oldest first, each with accept / return / merge."""
    today = timezone.localdate()
    qs = Issue.objects.visible_to(request.user).filter(status=Status.REGISTERED).order_by("registered_on", "id")
    review = services.review_q(request.user)
    if review is not None:
        # Only what he may review (a secretary under a campaign whose review is the street's sees none).
        qs = qs.filter(review)
    page = _paginate(request, qs, today=today, related=("raised_by__cadre",))
    for issue in page.object_list:
        allowed = services.allowed_actions(request.user, issue)
        issue.can = set(allowed)
        issue.accept_form = ACTION_FORMS["accept"](issue=issue, user=request.user) if "accept" in allowed else None
        issue.return_form = ACTION_FORMS["return"](issue=issue, user=request.user) if "return" in allowed else None
        issue.raised_by_name = person_name(issue.raised_by)
    return _render(request, "issues/review.html", {"page": page, "querystring": _querystring(request)})


@login_required
def my_issues(request):
    """My issues: routed to my department, assigned / escalated to me, and those I registered that were
    returned to me to complete (退回登记人, first: they wait for me); then overdue first."""
    user = request.user
    today = timezone.localdate()
    cadre = user_cadre(user)
    returned = Q(raised_by=user, status=Status.RETURNED)
    mine = Q(assignee=user) | Q(level_person=user) | returned
    if cadre is not None and cadre.department_id:
        mine |= Q(department_id=cadre.department_id)
    qs = Issue.objects.visible_to(user).filter(mine)
    show = choice_param(request, "show", ("all",))
    if show != "all":
        qs = qs.filter(Q(status__in=(*OPEN_STATUSES, Status.RESOLVED)) | returned)
    qs = with_overdue_flag(qs, today=today).annotate(
        waits_for_me=Case(When(returned, then=Value(1)), default=Value(0), output_field=IntegerField())
    )
    qs = qs.order_by(F("waits_for_me").desc(), F("overdue_now").desc(), F("due_on").asc(nulls_last=True), "id")
    page = _paginate(request, qs, today=today)
    for issue in page.object_list:
        allowed = sorted(services.allowed_actions(user, issue), key=lambda a: not ACTION_FORMS[a].primary)
        issue.actions = [(a, ACTION_LABELS[a]) for a in allowed]
    return _render(
        request,
        "issues/mine.html",
        {
            "page": page,
            "show": show,
            "department": cadre.department if cadre is not None and cadre.department_id else None,
            "querystring": _querystring(request),
        },
    )


# ------------------------------------------------------------------------------------------------ one issue


def _detail_issue(request, pk):
    return get_issue_for_user(
        request.user,
        pk,
        queryset=with_overdue_flag(
            Issue.objects.select_related(
                "community",
                "household",
                "household__grid",
                "household__building",
                "department",
                "assignee__cadre",
                "level_person__cadre",
                "raised_by__cadre",
                "merged_into",
            ),
            today=timezone.localdate(),
        ),
    )


def _render_detail(request, issue, *, bound=None):
    user = request.user
    today = timezone.localdate()
    _decorate([issue], today=today)
    allowed = services.allowed_actions(user, issue)
    forms = []
    # Main-path steps first (上报方案 before 退办), otherwise in the services' workflow order.
    for action in sorted(allowed, key=lambda a: not ACTION_FORMS[a].primary):
        if action == "merge":
            continue  # its own page: it needs the list of candidates
        form_class = ACTION_FORMS[action]
        form = bound if bound is not None and bound.action == action else form_class(issue=issue, user=user)
        forms.append(form)
    # The first form of the main path is open; the others fold away (a phone shows one at a time).
    open_action = bound.action if bound is not None else next((f.action for f in forms if f.primary), None)
    events = list(services.issue_timeline(issue).select_related("actor__cadre"))
    pending = services.pending_extension(issue)
    if pending is not None:
        pending.requested_by_name = person_name(pending.requested_by)
    for event in events:
        event.actor_name = person_name(event.actor) if event.actor_id else "系统"
    returned_reason = None
    if issue.status == Status.RETURNED:
        returned_reason = next((e.text for e in reversed(events) if e.kind == EventKind.RETURNED), "")
    return _render(
        request,
        "issues/detail.html",
        {
            "issue": issue,
            # The door number as the household page shows it to this user (households.masking).
            "address": household_address(issue.household, full=may_see_address(user, issue.household)),
            "call_url": call_url(user, issue.household),
            "events": events,
            "forms": forms,
            "form_actions": [f.action for f in forms],
            "returned_reason": returned_reason,
            "open_action": open_action,
            "can_merge": "merge" in allowed,
            "pending": pending,
            "plan_days": deadlines.issue_rules(issue).plan_days,
            "assignee_name": person_name(issue.assignee),
            "level_person_name": person_name(issue.level_person),
            "raised_by_name": person_name(issue.raised_by),
        },
    )


@login_required
def issue_detail(request, pk):
    return _render_detail(request, _detail_issue(request, pk))


def _call_service(action, *, issue, user, form):
    """Run the service of ``action`` with the form's values. Raises IssueActionError / StaleIssueError."""
    kwargs = form.service_kwargs()
    if action == "decide_extension":
        pending = services.pending_extension(issue)
        if pending is None:
            raise StaleIssueError("该延期申请已被他人处理，请刷新后重试")
        return services.issue_decide_extension(request=pending, by=user, **kwargs)
    if form.versioned:
        kwargs["version"] = form.cleaned_data["version"]
    service = getattr(services, f"issue_{action}")
    return service(issue=issue, by=user, **kwargs)


@login_required
@require_POST
def issue_act(request, pk, action):
    """One workflow step from a form on the issue page (or the review queue)."""
    try:
        issue = _detail_issue(request, pk)  # 404 for outsiders, before anything else is read
    except Http404:
        if parse_int(pk) is not None and IssueEvent.objects.filter(issue_id=pk, actor=request.user).exists():
            # Someone who worked on the issue and lost sight of it (a double-submitted 退办, a reassignment):
            # a message rather than an error page. Tells them nothing they did not know.
            messages.error(request, GONE_MESSAGE)
            return redirect("issues:mine")
        raise
    form_class = ACTION_FORMS.get(action)
    if form_class is None or action == "merge":
        raise Http404("没有该操作")
    detail = reverse("issues:detail", args=[issue.pk])
    form = form_class(request.POST, issue=issue, user=request.user)
    if "version" in form.errors:
        # A form without a usable version is an old page: refuse it rather than guess.
        messages.error(request, STALE_MESSAGE)
        return redirect(_safe_next(request, detail))
    if not form.is_valid():
        if action not in services.allowed_actions(request.user, issue):
            # The issue moved on since the page was drawn (or the user never could): say so, not the field errors.
            stale = form.cleaned_data.get("version") != issue.version
            messages.error(request, STALE_MESSAGE if stale else f"当前不能执行“{ACTION_LABELS[action]}”")
            return redirect(_safe_next(request, detail))
        return _render_detail(request, issue, bound=form)
    try:
        _call_service(action, issue=issue, user=request.user, form=form)
    except IssueActionError as exc:  # StaleIssueError included: its message is the friendly one
        messages.error(request, str(exc) or STALE_MESSAGE)
    else:
        messages.success(request, f"已{ACTION_LABELS[action]}")
        if not Issue.objects.visible_to(request.user).filter(pk=issue.pk).exists():
            return redirect("issues:mine")  # e.g. 退办: the issue left the department
    return redirect(_safe_next(request, detail))


@login_required
def issue_merge(request, pk):
    """The merge tool: likely duplicates of this issue (same household, or same community and category)."""
    issue = _detail_issue(request, pk)
    today = timezone.localdate()
    candidates = list(
        ledger_queryset(
            Issue.objects.visible_to(request.user)
            .open()
            .exclude(pk=issue.pk)
            .filter(Q(household_id=issue.household_id) | Q(community_id=issue.community_id, category=issue.category)),
            today=today,
        )
        .annotate(
            same_household=Case(
                When(household_id=issue.household_id, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by("same_household", "-registered_on", "-id")[:MERGE_CANDIDATES]
    )
    _decorate(candidates, today=today)
    if request.method == "POST":
        form = MergeForm(request.POST, issue=issue, user=request.user, candidates=candidates)
        if "version" in form.errors:
            messages.error(request, STALE_MESSAGE)
            return redirect("issues:merge", issue.pk)
        if form.is_valid():
            try:
                target = get_issue_for_user(request.user, form.cleaned_data["into"])
                version = form.cleaned_data["version"]
                services.issue_merge(
                    issue=issue, into=target, by=request.user, version=version, **form.service_kwargs()
                )
            except IssueActionError as exc:
                messages.error(request, str(exc) or STALE_MESSAGE)
                return redirect("issues:merge", issue.pk)
            messages.success(request, f"已将 #{issue.pk} 合并到 #{target.pk}")
            return redirect(_safe_next(request, reverse("issues:review")))
    else:
        form = MergeForm(issue=issue, user=request.user, candidates=candidates)
    return _render(
        request,
        "issues/merge.html",
        {
            "issue": issue,
            "candidates": candidates,
            "form": form,
            "can_merge": "merge" in services.allowed_actions(request.user, issue),
        },
    )


# ------------------------------------------------------------------------------------------------ register


@login_required
def issue_new(request):
    """登记诉求 for a household the user can see; without ?household= a search to pick one."""
    if not _can_register(request.user):
        raise PermissionDenied("您没有权限登记诉求")
    household_id = request.GET.get("household") or request.POST.get("household")
    if not household_id:
        term = text_param(request, "q")
        households = search_households(Household.objects.visible_to(request.user), term, request).select_related(
            "community", "grid", "building"
        )
        page = Paginator(households, PAGE_SIZE).get_page(request.GET.get("page"))
        for h in page.object_list:
            # Reached through Household.objects.visible_to: the door number in full (masking.may_see_address).
            h.address_shown = household_address(h, full=True)
        return _render(
            request, "issues/pick_household.html", {"page": page, "q": term, "querystring": _querystring(request)}
        )
    household = get_household_for_user(request.user, parse_int(household_id))  # a junk id: 404, as a missing one
    household = Household.objects.select_related("community", "grid", "building").get(pk=household.pk)
    # The rulebook the issue will follow: the community's street's campaign of today.
    rules = deadlines.rules_at(household.path, timezone.localdate())
    if request.method == "POST":
        form = IssueRegisterForm(request.POST, rules=rules)
        if form.is_valid():
            try:
                issue = services.issue_register(household=household, raised_by=request.user, **form.cleaned_data)
            except IssueActionError as exc:
                form.add_error(None, str(exc))
            else:
                if issue.status == Status.CLOSED:
                    messages.success(request, f"已登记诉求 #{issue.pk}，现场答复后直接销号")
                else:
                    messages.success(request, f"已登记诉求 #{issue.pk}，等待街道审核")
                return redirect("issues:detail", issue.pk)
    else:
        form = IssueRegisterForm(rules=rules)
    return _render(
        request,
        "issues/new.html",
        {
            "form": form,
            "household": household,
            "address": household_address(household, full=may_see_address(request.user, household)),
            "plan_days": rules.plan_days,
        },
    )
