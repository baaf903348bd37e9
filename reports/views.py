"""The leaders' pages: the dashboard and the rows behind its figures, supervision (findings and the
phone checks), the campaign summary.

Views stay thin: the figures are ``reports.dashboard``'s, the score ``reports.scoring``'s, writing
findings and checks ``reports.supervision``'s. Every queryset starts from a ``visible_to``.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from core.params import choice_param, date_param, int_param
from households.levels import for_user as levels_for_user
from households.masking import can_view_full_pii, log_reveal, mask_phone
from households.models import FocusGroup, Household, Node
from households.scoping import is_node_wide
from issues.models import Category, Status
from visitplan.models import Assignment, Cadre, Campaign
from visitplan.rulebook import rules_for
from visitplan.scope import street_scope
from visits import targets as visit_targets
from visits.models import FollowUp, FollowUpStatus, Satisfaction, Visit, VisitMethod

from . import dashboard as figures
from . import evaluation, scoring, supervision
from .bulletin import may_read as may_read_bulletin
from .forms import FindingForm, PhoneCheckDrawForm, PhoneCheckForm
from .ledgers import excel as ledger_excel
from .ledgers import jobs as ledger_jobs
from .ledgers.views import start_export
from .models import Finding, PhoneCheck

PAGE_SIZE = 50


def _require_reader(user):
    if not is_node_wide(user):
        raise PermissionDenied("统计看板供街道、社区领导和管理人员查看")


def _selection(request):
    """(campaign, start, end, community id) from the query string, within the user's scope."""
    campaigns = Campaign.objects.visible_to(request.user)
    wanted = int_param(request, "campaign")  # junk or another street's: the current campaign
    campaign = campaigns.filter(pk=wanted).prefetch_related("stages").first() if wanted is not None else None
    campaign = campaign or campaigns.current(timezone.localdate())
    if campaign is None:
        raise Http404("还没有走访活动")
    community_id = int_param(request, "community")
    return campaign, date_param(request, "from"), date_param(request, "to"), community_id


def _reader(request, campaign):
    """Who the figures of ``campaign`` are counted for: the user, narrowed to the campaign's street
    when he sees more than it (a district's reader: visitplan.scope.street_scope)."""
    return street_scope(request.user, campaign.street_id)


def _scope(request):
    """What every rows page starts with: the reader check, the campaign and period of the query
    string, and the ids of the communities in scope (a literal list: see reports/dashboard.build)."""
    _require_reader(request.user)
    campaign, start, end, community_id = _selection(request)
    period = figures.Period.of(campaign, start=start, end=end, today=timezone.localdate())
    reader = _reader(request, campaign)
    ids = list(figures.scope_communities(reader, community_id).values_list("pk", flat=True))
    return campaign, period, community_id, ids


def _query(request, **extra):
    params = request.GET.copy()
    params.pop("page", None)
    for key, value in extra.items():
        if value is None:  # dropped
            params.pop(key, None)
        else:
            params[key] = value
    return params.urlencode()


@login_required
def dashboard(request):
    """The dashboard: every figure of the campaign, each linked to the rows it counts."""
    _require_reader(request.user)
    today = timezone.localdate()
    campaign, start, end, community_id = _selection(request)
    user = _reader(request, campaign)  # a district's reader: the campaign's street only
    district_reader = user is not request.user
    campaigns = Campaign.objects.visible_to(request.user)
    board = figures.build(user, campaign, today=today, start=start, end=end, community_id=community_id)
    rules_text = scoring.rules_text(campaign)
    charts = {
        "coverage": [
            {"id": c["id"], "name": c["name"], "visited": c["visited"], "unvisited": c["unvisited"], "pct": c["pct"]}
            for c in board.coverage["communities"]
        ],
        "days": board.visits["days"],
        "methods": board.visits["series"],
        "status": board.issues["by_status"],
        "category": board.issues["by_category"],
        "satisfaction": board.followups["satisfaction"],
        "scores": [
            {
                "id": s.community_id,
                "name": s.name,
                "score": s.score,
                "deducted": s.deducted,
                "findings": s.findings,
                "interview": s.interview,
                "url": _findings_url(campaign, s.community_id),
            }
            for s in board.scores
        ],  # fmt: skip
        "full_score": rules_text["full_score"],
    }
    return render(
        request,
        "reports/dashboard.html",
        {
            "board": board,
            "charts": charts,
            "campaign": campaign,
            # A district's reader chooses among his streets' campaigns: each named with its street.
            "campaigns": campaigns.select_related("street") if district_reader else campaigns,
            "district_reader": district_reader,
            "all_communities": figures.scope_communities(user),
            "community_id": community_id,
            "today": today,
            "query": _query(request, campaign=campaign.pk),
            "scoring": rules_text,
            "can_supervise": supervision.may_supervise(request.user),
            "can_evaluate": evaluation.may_evaluate(request.user),
            "can_read_bulletin": may_read_bulletin(request.user),
        },
    )


def _findings_url(campaign, community_id):
    return f"{reverse('reports:findings')}?campaign={campaign.pk}&community={community_id}"


@login_required
def unvisited(request):
    """The households behind a coverage figure: not visited in the period (by community, grid or focus group)."""
    user = request.user
    campaign, period, community_id, ids = _scope(request)
    households = Household.objects.visible_to(user).filter(community_id__in=ids)
    grid = int_param(request, "grid")
    if grid is not None:
        households = households.filter(grid_id=grid)
    tag = int_param(request, "tag")
    group = FocusGroup.objects.filter(pk=tag).first() if tag is not None else None
    if group is not None:
        households = households.filter(tags=group)
    show_visited = request.GET.get("visited") == "1"
    households = households.annotate(was_visited=figures.visited(period)).filter(was_visited=show_visited)
    households = households.select_related("community", "grid", "building").order_by("path", "unit", "room", "id")
    page = Paginator(households, PAGE_SIZE).get_page(request.GET.get("page"))
    for h in page.object_list:
        h.phone_shown = mask_phone(h.phone)  # lists are masked for every role (查看完整信息 is per household, logged)
    _attach_responsible(user, campaign, page.object_list)
    return render(
        request,
        "reports/unvisited.html",
        {
            "page": page,
            "period": period,
            "campaign": campaign,
            "group": group,
            "show_visited": show_visited,
            "community": Node.objects.visible_to(user, ancestors=False).filter(pk=community_id).first()
            if community_id
            else None,
            "grid": Node.objects.visible_to(user).filter(pk=grid).first() if grid is not None else None,
            "querystring": _query(request),
        },  # fmt: skip
    )


def _attach_responsible(user, campaign, households):
    """``h.responsible`` on each household of a page: the cadres it is assigned to in the campaign
    (包户干部), each with ``linked`` when the reader may open that cadre's households. Two queries."""
    households = list(households)
    assigned = (
        Assignment.objects.visible_to(user)
        .filter(campaign=campaign, household_id__in=[h.pk for h in households])
        .select_related("cadre")
        .order_by("tier", "cadre__name", "cadre_id")
    )
    by_household = {}
    for a in assigned:
        by_household.setdefault(a.household_id, []).append(a.cadre)
    cadre_ids = {c.pk for cadres in by_household.values() for c in cadres}
    visible = set(Cadre.objects.visible_to(user).filter(pk__in=cadre_ids).values_list("pk", flat=True))
    for h in households:
        h.responsible = by_household.get(h.pk, [])
        for c in h.responsible:
            c.linked = c.pk in visible


@login_required
def behind(request):
    """Every linked cadre behind on the half-year visit, with the other tiers' targets; each
    name opens his households (``cadre_households``)."""
    campaign, period, _community_id, ids = _scope(request)
    targets = figures.cadre_targets(request.user, period, ids, today=timezone.localdate())
    return render(request, "reports/behind.html", {"t": targets, "campaign": campaign, "query": _query(request)})


@login_required
def cadre_households(request):
    """One cadre's households in the campaign (包户), each with his visits against the targets of
    his tier (``visits.targets``, the counting of the 落后名单 and of his own page); ``behind=1``:
    only those behind. Another node's cadre answers 404, as a missing one."""
    user = request.user
    campaign, _period, _community_id, ids = _scope(request)
    if "cadre" not in request.GET:  # no cadre named: the list to choose one from
        return redirect(f"{reverse('reports:behind')}?{_query(request)}")
    cadre_id = int_param(request, "cadre")
    cadre = (
        Cadre.objects.visible_to(user).filter(pk=cadre_id).select_related("scope", "department").first()
        if cadre_id is not None
        else None
    )
    if cadre is None:
        raise Http404("没有找到该干部")
    today = timezone.localdate()
    households = Household.objects.visible_to(user).filter(
        community_id__in=ids,
        pk__in=Assignment.objects.visible_to(user).filter(campaign=campaign, cadre=cadre).values("household_id"),
    )
    progress = visit_targets.cadre_targets(cadre, campaign, today=today, households=households)
    rows = visit_targets.annotate_progress(households, cadre=cadre, campaign=campaign, today=today)
    only_behind = request.GET.get("behind") == "1"
    if only_behind:
        rows = rows.filter(behind=True)
    rows = rows.select_related("community", "grid", "building").order_by("path", "unit", "room", "id")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    mine = visit_targets.targets_of(cadre.tier, campaign)
    for h in page.object_list:
        h.phone_shown = mask_phone(h.phone)
        h.half_done = h.period_done
    return render(
        request,
        "reports/cadre_households.html",
        {
            "cadre": cadre,
            "campaign": campaign,
            "page": page,
            "progress": progress,
            "only_behind": only_behind,
            "half_year": visit_targets.HALF_YEAR in mine,
            "sweep": visit_targets.SWEEP in mine,
            "weekly": visit_targets.WEEKLY in mine,
            "week_days": rules_for(campaign).weekly_days,
            "query": _query(request, behind=None, cadre=None),
            "cadre_query": _query(request, behind=None),
            "querystring": _query(request),
        },
    )


@login_required
def issue_rows(request):
    """The issues behind one issue figure of the dashboard (``reports.dashboard.ISSUE_FIGURES``),
    counted by the same filter: the period, the communities, and a status or category of the charts.
    For a rate, the rows it divides by, each marked on time or late."""
    user = request.user
    campaign, period, _community_id, ids = _scope(request)
    today = timezone.localdate()
    figure = choice_param(request, "issues", list(figures.ISSUE_FIGURES)) or "total"
    status = choice_param(request, "status", Status.values)
    category = choice_param(request, "category", Category.values)
    rows = figures.issue_rows(user, period, ids, figure, today=today, status=status, category=category)
    on_time = None
    if figure in figures.ISSUE_RATES:
        on_time = rows.filter(on_time=True).count()
    rows = rows.select_related("community", "household", "household__grid", "household__building", "department")
    page = Paginator(rows.order_by("-registered_on", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "reports/issue_rows.html",
        {
            "page": page,
            "period": period,
            "campaign": campaign,
            "figure": figure,
            "label": figures.ISSUE_FIGURES[figure],
            "rate_label": figures.ISSUE_FIGURES[figures.ISSUE_RATES[figure]] if figure in figures.ISSUE_RATES else "",
            "on_time": on_time,
            "status_label": Status(status).label if status else "",
            "category_label": Category(category).label if category else "",
            "back": _query(request, issues=None, status=None, category=None),
            "querystring": _query(request),
        },
    )


@login_required
def visit_rows(request):
    """The visits behind a figure: by method, short ones, a day, a community."""
    campaign, period, _community_id, ids = _scope(request)
    visits = Visit.objects.visible_to(request.user).filter(
        campaign=campaign,
        purpose="visit",
        visited_on__range=(period.first, period.last),
        household__community_id__in=ids,
    )
    method = choice_param(request, "method", VisitMethod.values)
    if method:
        visits = visits.filter(method=method)
    short = request.GET.get("short") == "1"
    if short:
        rules = rules_for(campaign)
        visits = visits.filter(method__in=rules.timed_methods, duration_minutes__lt=rules.min_visit_minutes)
    visits = visits.select_related(
        "household", "household__community", "household__grid", "household__building", "cadre"
    )
    page = Paginator(visits.order_by("-visited_on", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "reports/visit_rows.html", {"page": page, "period": period, "campaign": campaign, "short": short,
                  "method_label": VisitMethod(method).label if method else "", "querystring": _query(request)})  # fmt: skip


@login_required
def followup_rows(request):
    """The follow-ups behind a figure: due, done, unsolved, by satisfaction."""
    campaign, _period, _community_id, ids = _scope(request)
    rows = FollowUp.objects.visible_to(request.user).filter(campaign=campaign, household__community_id__in=ids)
    status = choice_param(request, "status", FollowUpStatus.values)
    if status:
        rows = rows.filter(status=status)
    if request.GET.get("solved") in ("0", "1"):
        rows = rows.filter(solved=request.GET["solved"] == "1")
    satisfaction = choice_param(request, "satisfaction", Satisfaction.values)
    if satisfaction:
        rows = rows.filter(satisfaction=satisfaction)
    if request.GET.get("satisfied") == "1":  # the 满意率's numerator: 满意 and 基本满意
        rows = rows.filter(satisfaction__in=figures.SATISFIED)
    rows = rows.select_related(
        "household", "household__community", "household__grid", "household__building", "issue", "cadre"
    )
    page = Paginator(rows.order_by("status", "due_on", "id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "reports/followup_rows.html", {"page": page, "campaign": campaign, "querystring": _query(request),
                                                          "today": timezone.localdate()})  # fmt: skip


# ---------------------------------------------------------------------------------------- supervision


@login_required
def findings(request):
    """督查发现: the list (scoped) and, for the street office, the form to record one."""
    user = request.user
    _require_reader(user)
    campaign, _start, _end, community_id = _selection(request)
    form = None
    if supervision.may_supervise(user):
        form = FindingForm(request.POST or None, user=user, campaign=campaign)
        if request.method == "POST" and form.is_valid():
            try:
                finding = supervision.finding_record(by=user, campaign=campaign, **form.service_kwargs())
            except supervision.SupervisionError as exc:
                form.add_error(None, str(exc))
            else:
                cost = scoring.finding_cost(campaign, finding.kind)
                messages.success(request, f"已记录：{finding.community.name} {finding.get_kind_display()}，{cost}")
                return redirect(f"{request.path}?campaign={campaign.pk}")
    elif request.method == "POST":
        raise PermissionDenied("只有街道管理员可以记录督查结果")
    rows = (
        Finding.objects.visible_to(user).filter(campaign=campaign).select_related("community", "cadre", "recorded_by")
    )
    if community_id:
        rows = rows.filter(community_id=community_id)
    communities = figures.scope_communities(user, community_id)
    return render(
        request,
        "reports/findings.html",
        {
            "form": form,
            "rows": rows[:200],
            "campaign": campaign,
            "scores": scoring.community_scores(campaign, communities),
            "interviews": scoring.interview_list(campaign, communities),
            "scoring": scoring.rules_text(campaign),
        },  # fmt: skip
    )


@login_required
def phone_checks(request):
    """电话调查: draw a random sample of a community's visited households, then call them one by one."""
    user = request.user
    _require_reader(user)
    campaign, _start, _end, community_id = _selection(request)
    may = supervision.may_supervise(user)
    communities = figures.scope_communities(user)
    levels = levels_for_user(user)
    draw = PhoneCheckDrawForm(request.POST or None, communities=communities, levels=levels) if may else None
    if request.method == "POST":
        if not may:
            raise PermissionDenied("只有街道管理员可以开展电话调查")
        if draw.is_valid():
            try:
                drawn = supervision.phone_check_draw(by=user, campaign=campaign, **draw.service_kwargs())
            except supervision.SupervisionError as exc:
                draw.add_error(None, str(exc))
            else:
                messages.success(request, f"已随机抽取 {len(drawn)} 户，请逐户电话核实")
                return redirect(f"{request.path}?campaign={campaign.pk}")
    checks = (
        PhoneCheck.objects.visible_to(user).filter(campaign=campaign)
        .select_related("household", "household__grid", "household__building", "community", "visit", "visit__cadre", "finding")
        .order_by("called_on", "-drawn_on", "id")
    )  # fmt: skip
    rows = list(checks[:200])
    for c in rows:
        c.phone_shown = mask_phone(c.household.phone)
    return render(request, "reports/phone_checks.html", {"draw": draw, "rows": rows, "campaign": campaign, "may": may})


@login_required
def phone_check(request, pk):
    """One call: what the resident said; "not visited" becomes a 虚假入户 finding at once."""
    user = request.user
    if not supervision.may_supervise(user):
        raise PermissionDenied("只有街道管理员可以开展电话调查")
    check = (
        PhoneCheck.objects.visible_to(user)
        .select_related("household", "household__grid", "household__building", "visit", "visit__cadre", "campaign")
        .filter(pk=pk).first()
    )  # fmt: skip
    if check is None:
        raise Http404("没有找到该电话调查")
    form = PhoneCheckForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            check = supervision.phone_check_record(check=check, by=user, **form.service_kwargs())
        except supervision.SupervisionError as exc:
            form.add_error(None, str(exc))
        else:
            if check.finding_id:
                cost = scoring.finding_cost(check.campaign, check.finding.kind)
                messages.warning(request, f"居民表示未被走访：已记为“虚假入户”督查发现，{check.community.name}{cost}")
            else:
                messages.success(request, "电话调查已记录")
            return redirect(f"/reports/phone-checks/?campaign={check.campaign_id}")
    # The number to call, in full for a role with 查看完整信息 — and logged like any reveal.
    if can_view_full_pii(user):
        phone = check.household.phone
        log_reveal(request, check.household, residents=1,
                   what=f"电话调查：{check.community.name} {check.household.address} {check.household.head_name}户的电话")  # fmt: skip
    else:
        phone = mask_phone(check.household.phone)
    return render(request, "reports/phone_check.html", {"check": check, "form": form, "phone": phone})


# ---------------------------------------------------------------------------------------- summary


@login_required
def summary(request):
    """总结评估: the dashboard's headline figures on one printable page."""
    user = request.user
    _require_reader(user)
    today = timezone.localdate()
    campaign, start, end, community_id = _selection(request)
    board = figures.build(user, campaign, today=today, start=start, end=end, community_id=community_id)
    return render(request, "reports/summary.html",
                  {"board": board, "campaign": campaign, "today": today, "scoring": scoring.rules_text(campaign)})  # fmt: skip


# ---------------------------------------------------------------------------------------- 综合评议


def _evaluation_campaign(request):
    """The campaign of ``?campaign=`` (the user's), else the one of ``?year=`` running or latest,
    else the current one; junk or another street's falls back as the dashboard's does."""
    user = request.user
    if not evaluation.may_evaluate(user):
        raise PermissionDenied("综合评议供街道管理员和领导查看")
    campaigns = Campaign.objects.visible_to(user).select_related("street")
    today = timezone.localdate()
    wanted = int_param(request, "campaign")
    campaign = campaigns.filter(pk=wanted).prefetch_related("stages").first() if wanted is not None else None
    year = int_param(request, "year", minimum=1900, maximum=9990)
    if campaign is None and year is not None:
        campaign = campaigns.filter(year=year).current(today)
    campaign = campaign or campaigns.current(today)
    if campaign is None:
        raise Http404("还没有走访活动")
    return campaign, campaigns


@login_required
def evaluation_page(request):
    """综合评议 (``reports.evaluation``): the campaign's cadres and units, each ranked."""
    campaign, campaigns = _evaluation_campaign(request)
    result = evaluation.evaluate(request.user, campaign, today=timezone.localdate())
    return render(
        request,
        "reports/evaluation.html",
        {
            "campaign": campaign,
            "campaigns": campaigns,
            "years": sorted({c.year for c in campaigns}, reverse=True),
            "result": result,
            "weights": [(evaluation.RATE_LABELS[k], w) for k, w in evaluation.WEIGHTS.items()],
            "query": f"campaign={campaign.pk}",
        },
    )


@login_required
def evaluation_export(request):
    """综合评议 as Excel (?campaign=&year=): an export job as every ledger's (reports.ledgers.jobs),
    the file handed over at once when small, else the job's progress page; logged when downloaded."""
    campaign, _campaigns = _evaluation_campaign(request)
    export = ledger_excel.evaluation_export(request.user, campaign=campaign, today=timezone.localdate())
    return start_export(request, ledger_jobs.EVALUATION, export, ledger_jobs.export_params(campaign=campaign))
