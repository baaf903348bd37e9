"""Pages for cadres on a phone: my households, one household, the visit form, 回头看, contact cards.

Views stay thin. Households come from ``get_household_for_user`` / ``Household.objects.visible_to``
(another grid's household is a 404, the same as a missing one), visits and follow-ups from their
``visible_to``, issues from ``Issue.objects.visible_to``. Writing is ``visits.services``; who may
visit and what a valid visit is, ``visits.rules``; the targets, ``visits.targets``.
"""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from core.params import choice_param, int_param, parse_date, parse_int, text_param
from households.masking import masked_family
from households.models import FocusGroup, Household, Node, NodeKind
from households.scoping import get_household_for_user, is_node_wide, user_cadre
from households.search import search_households
from issues import deadlines
from issues.exporting import with_overdue_flag
from issues.models import Issue, open_issue_count
from visitplan.choices import cadre_choices
from visitplan.models import Assignment, Cadre, Campaign
from visitplan.rulebook import rules_for
from visitplan.sheets.roster import ScopeNames

from . import cards, offline, rules, services, targets
from .followups import listed_q, stage_starts_on
from .forms import FollowUpForm, RaisedIssueFormSet, VisitForm, raised_issues, visit_issues
from .models import FollowUp, FollowUpStatus, Visit
from .questionnaire import answered, checklist_rows

PAGE_SIZE = 40
CARDS_PER_SHEET = 10  # 2 × 5 on A4, each about a business card (90 × 54 mm)

# 我的包户's filters. 本户未访 and 我未访 are two questions: nobody has visited the household in this
# campaign (the dashboard's coverage counts it unvisited), or I have not (someone else, or the cadre
# I took it over from, has).
FILTERS = [
    ("", "全部"),
    ("unvisited", "本户未访"),
    ("notmine", "我未访"),
    ("behind", "待走访"),
    ("followup", "待回访"),
    ("focus", "重点未访"),
    ("nocard", "未发卡"),
    ("takenover", "接手"),
]


def _campaign(user, today):
    return Campaign.objects.visible_to(user).current(today)


def _require_cadre(user):
    cadre = user_cadre(user)
    if cadre is None:
        raise PermissionDenied(services.NOT_A_CADRE)
    return cadre


# ------------------------------------------------------------------------------------------ my households


@login_required
def my_households(request):
    """The page a cadre lands on: my households in the current campaign, grouped, with my targets."""
    user = request.user
    today = timezone.localdate()
    cadre = user_cadre(user)
    campaign = _campaign(user, today)
    if cadre is None or campaign is None:
        return render(request, "visits/no_campaign.html", {"cadre": cadre, "campaign": campaign})
    visible = Household.objects.visible_to(user)
    assigned = visible.filter(pk__in=Assignment.objects.filter(campaign=campaign, cadre=cadre).values("household_id"))
    scope_all = request.GET.get("scope") == "all"
    base = visible if scope_all else assigned
    qs = targets.annotate_progress(base, cadre=cadre, campaign=campaign, today=today)
    term = text_param(request, "q")
    qs = search_households(qs, term, request)
    qs = qs.annotate(has_card=cards.has_card(campaign))
    show = choice_param(request, "show", FILTERS)
    if show == "unvisited":
        qs = qs.filter(visited_by_anyone=False)
    elif show == "notmine":
        qs = qs.filter(visited_by_me=False)
    elif show == "behind":
        qs = qs.filter(behind=True)
    elif show == "followup":
        qs = qs.filter(followup_due=True)
    elif show == "focus":
        qs = qs.filter(tagged=True, visited_for_me=False)
    elif show == "nocard":
        qs = qs.filter(has_card=False)
    elif show == "takenover":
        qs = qs.filter(taken_over_on__isnull=False)
    tag = int_param(request, "tag")
    if tag is not None:
        qs = qs.filter(tags__id=tag)
    qs = (
        qs.annotate(open_issues=open_issue_count())
        .select_related("community", "grid", "building")
        .prefetch_related(Prefetch("tags", queryset=FocusGroup.objects.only("id", "name")))
        .order_by("path", "unit", "room", "id")
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for h in page.object_list:
        h.age_css, h.age_label = targets.age_band(h.last_visit_on, today)
        h.days_since = (today - h.last_visit_on).days if h.last_visit_on else None
        h.grace_ends_on = targets.grace_ends_on(campaign, h.taken_over_on) if h.waiting else None
    progress = targets.cadre_targets(cadre, campaign, today=today, households=assigned)
    without_card = assigned.annotate(has_card=cards.has_card(campaign)).filter(has_card=False).count()
    my_followups = FollowUp.objects.visible_to(user).due().filter(cadre=cadre)
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "visits/mine.html",
        {
            "cadre": cadre,
            "campaign": campaign,
            "weekly_groups": rules_for(campaign).weekly_groups,
            "page": page,
            "progress": progress,
            "followups_due": my_followups.count(),
            "followups_overdue": my_followups.filter(due_on__lt=today).count(),
            "without_card": without_card,
            "grace_days": rules_for(campaign).takeover_grace_days,
            "can_see_more": visible.count() > progress.assigned,
            "scope_all": scope_all,
            "filters": FILTERS,
            "show": show,
            "q": term,
            "tag": str(tag or ""),
            "tags": FocusGroup.objects.all(),
            "querystring": params.urlencode(),
            "today": today,
        },
    )


# ------------------------------------------------------------------------------------------ one household


def _household(user, pk):
    household = get_household_for_user(user, pk)
    return (
        Household.objects.select_related("community", "grid", "building").prefetch_related("tags").get(pk=household.pk)
    )


def _household_issues(user, household, today):
    issues = list(
        with_overdue_flag(Issue.objects.visible_to(user).filter(household=household), today=today)
        .select_related("department")
        .order_by("-registered_on", "-id")
    )
    for issue in issues:
        issue.days_left = deadlines.working_days_left(issue, on=today)
    return issues


@login_required
def household_page(request, pk):
    """户情: the family card (masked), the visit timeline, the issues, the follow-ups due, start a visit."""
    user = request.user
    today = timezone.localdate()
    household = _household(user, pk)
    cadre = user_cadre(user)
    campaign = _campaign(user, today)
    visits = list(
        Visit.objects.visible_to(user)
        .filter(household=household)
        .select_related("cadre", "cadre__department", "campaign")
        .prefetch_related("issues")
        .order_by("-visited_on", "-id")[:50]
    )
    assignments = []
    if campaign is not None:
        assignments = list(
            Assignment.objects.filter(campaign=campaign, household=household).select_related(
                "cadre", "cadre__department"
            )
        )
    followups = list(services.due_followups(cadre, household)) if cadre else []
    return render(
        request,
        "visits/household.html",
        {
            "h": household,
            **masked_family(user, household),
            "visits": visits,
            "issues": _household_issues(user, household, today),
            "assignments": assignments,
            "followups": followups,
            "campaign": campaign,
            "weekly_groups": rules_for(campaign).weekly_groups,
            "can_visit": bool(cadre and campaign and rules.may_visit(cadre, household, campaign)),
            "others": _other_visits(request.user, household, campaign, cadre),
            "today": today,
        },
    )


def _other_visits(user, household, campaign, cadre):
    """避免重复走访: this campaign's visits of the household by other cadres, newest first."""
    if campaign is None:
        return []
    qs = (
        Visit.objects.visible_to(user)
        .counted()
        .filter(campaign=campaign, household=household)
        .select_related("cadre", "cadre__department")
    )
    if cadre is not None:
        qs = qs.exclude(cadre=cadre)
    return list(qs.order_by("-visited_on", "-id")[:5])


# ------------------------------------------------------------------------------------------ the visit form


def _issue_rules(household, day):
    """The rulebook the issues raised at ``household`` on ``day`` follow (their days and classes)."""
    return deadlines.rules_at(household.path, day)


def _form_context(request, household, campaign, cadre, form, formset, **extra):
    issue_book = formset.form_kwargs.get("rules") or _issue_rules(household, timezone.localdate())
    return {
        "h": household,
        "campaign": campaign,
        "form": form,
        "formset": formset,
        "others": _other_visits(request.user, household, campaign, cadre),
        "min_minutes": rules_for(campaign).min_visit_minutes,
        "timed_methods": " ".join(rules_for(campaign).timed_methods),
        "method_hint": rules.method_hint(campaign, household),
        "plan_days": issue_book.plan_days,
        "issue_classes": issue_book.class_list(),
        **extra,
    }


def _done(request, url, recorded=None, note=""):
    """After a save: a redirect, or for the page's own fetch() the address to go to (so the
    message is shown by that page, not used up by a followed redirect). The field app's send
    learns whether this send saved it or an earlier one had, and what the cadre should know."""
    if offline.is_sync(request):
        created = bool(recorded and recorded.created)
        return JsonResponse({"ok": True, "redirect": url, "created": created, "note": note})
    if request.headers.get("X-Requested-With") == "fetch":
        return JsonResponse({"ok": True, "redirect": url})
    return redirect(url)


def _saved_message(request, recorded, what):
    if offline.is_sync(request):
        return  # the phone shows the record's own answer; no message waits for a later page
    if not recorded.created:
        messages.info(request, f"该{what}已保存过，重复提交未重复保存")
        return
    parts = [f"{what}已保存"]
    if recorded.issues:
        closed = sum(1 for i in recorded.issues if not i.is_open)
        parts.append(f"登记诉求 {len(recorded.issues)} 条" + (f"（现场答复销号 {closed} 条）" if closed else ""))
    if recorded.reopened:
        parts.append("重新办理：" + "、".join(f"#{i.pk}" for i in recorded.reopened))
    messages.success(request, "，".join(parts))


def _sent_again(request, pk, url, what):
    """A form sent again whose first answer was lost (the field app's queue, a retry) was saved
    then: say so, before asking whether the household is still the cadre's."""
    if request.method != "POST":
        return None
    earlier = services.saved_earlier(request.POST.get("key"), by=request.user, household_id=pk)
    if earlier is None:
        return None
    _saved_message(request, earlier, what)
    return _done(request, url, earlier)


@login_required
@offline.answers_sync
def visit_new(request, pk):
    """入户走访台账: one visit of the household, with the issues the resident raised."""
    user = request.user
    now = timezone.localtime()
    again = _sent_again(request, pk, reverse("visits:household", args=[pk]), "走访记录")
    if again is not None:
        return again
    household = _household(user, pk)  # 404 for another grid's household, before anything else
    cadre = _require_cadre(user)
    campaign = _campaign(user, now.date())
    if campaign is None and offline.is_sync(request):
        raise PermissionDenied(offline.CAMPAIGN_OVER)
    if campaign is None or not rules.may_visit(cadre, household, campaign):
        raise PermissionDenied(services.NOT_YOURS)
    book = rules_for(campaign)
    files_help = services.help_files_issue(user)  # does a 需要帮助 file an issue
    issue_book = _issue_rules(household, now.date())
    if request.method == "POST":
        form = VisitForm(request.POST, rules=book)
        formset = RaisedIssueFormSet(request.POST, prefix="issues", form_kwargs={"rules": issue_book})
        valid = form.is_valid()
        issues = visit_issues(form, formset, files_help=files_help) if valid and formset.is_valid() else None
        if valid and (issues is None or form.errors):
            # A refused row (or a 需要帮助 without words) must not hide the rule errors of the visit.
            form.add_service_errors(
                ValidationError(services.visit_errors(campaign=campaign, **form.service_kwargs()) or {})
            )
        elif valid:
            try:
                recorded = services.visit_record(
                    household=household,
                    by=user,
                    campaign=campaign,
                    issues=issues,
                    recorded_at=offline.recorded_at(request),
                    **form.service_kwargs(),
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            except services.VisitNotAllowed as exc:
                form.add_error(None, str(exc))
            else:
                _saved_message(request, recorded, "走访记录")
                reason = ""
                if recorded.created and not recorded.visit.counts:
                    reason = rules.not_counted_reason(campaign, recorded.visit.method, household)
                    if reason and not offline.is_sync(request):
                        messages.warning(request, reason)
                url = reverse("visits:household", args=[household.pk]) + f"#visit-{recorded.visit.pk}"
                return _done(request, url, recorded, note=reason or "")
    else:
        start = (now - datetime.timedelta(minutes=now.minute % 5)).time().replace(second=0, microsecond=0)
        form = VisitForm(initial={"visited_on": now.date(), "started_at": start}, rules=book)
        formset = RaisedIssueFormSet(prefix="issues", form_kwargs={"rules": issue_book})
    if offline.is_sync(request):
        return offline.form_refused(form, formset)
    context = _form_context(request, household, campaign, cadre, form, formset, files_help=files_help)
    return render(request, "visits/visit_form.html", context)


@login_required
def visit_detail(request, pk):
    """One visit record as the ledger row shows it."""
    visit = (
        Visit.objects.visible_to(request.user)
        .select_related(
            "household", "household__community", "household__grid", "household__building", "cadre", "campaign"
        )
        .filter(pk=pk)
        .first()
    )
    if visit is None:
        raise Http404("没有找到该走访记录")
    book = rules_for(visit.campaign)
    answers = answered(visit.answers, book)
    checklist = checklist_rows(visit.checklist, book)
    issues = with_overdue_flag(
        Issue.objects.visible_to(request.user).filter(raised_on__visit=visit), today=timezone.localdate()
    )
    return render(
        request,
        "visits/visit_detail.html",
        {
            "visit": visit,
            "answers": answers,
            "checklist": checklist,
            "issues": list(issues),
            "followups": list(visit.followups.select_related("issue")),
        },  # fmt: skip
    )


# ------------------------------------------------------------------------------------------ 回头看


@login_required
@offline.answers_sync
def followup_new(request, pk):
    """回头看 of one household: the due issues on my list, each solved or not and how satisfied."""
    user = request.user
    today = timezone.localdate()
    again = _sent_again(request, pk, reverse("visits:household", args=[pk]) + "#issues", "回访记录")
    if again is not None:
        return again
    household = _household(user, pk)
    cadre = _require_cadre(user)
    due = list(services.due_followups(cadre, household))
    issue_book = _issue_rules(household, today)
    if request.method == "POST":
        form = FollowUpForm(request.POST, followups=due)
        formset = RaisedIssueFormSet(request.POST, prefix="issues", form_kwargs={"rules": issue_book})
        if form.is_valid() and formset.is_valid():
            try:
                recorded = services.followup_record(household=household, by=user, issues=raised_issues(formset),
                                                    recorded_at=offline.recorded_at(request),
                                                    **form.service_kwargs())  # fmt: skip
            except ValidationError as exc:
                form.add_service_errors(exc)
            except services.VisitNotAllowed as exc:
                form.add_error(None, str(exc))
            else:
                _saved_message(request, recorded, "回访记录")
                return _done(request, reverse("visits:household", args=[household.pk]) + "#issues", recorded)
        if offline.is_sync(request):
            return offline.form_refused(form, formset)
    else:
        if not due:
            messages.info(request, "该户没有待您回访的诉求")
            return redirect("visits:household", household.pk)
        form = FollowUpForm(initial={"visited_on": today}, followups=due)
        formset = RaisedIssueFormSet(prefix="issues", form_kwargs={"rules": issue_book})
    for f in due:
        f.issue.days_left = deadlines.working_days_left(f.issue, on=today)
    return render(
        request,
        "visits/followup_form.html",
        {
            "h": household,
            "form": form,
            "formset": formset,
            "due": due,
            "today": today,
            "plan_days": issue_book.plan_days,
            "issue_classes": issue_book.class_list(),
        },  # fmt: skip
    )


@login_required
def followup_list(request):
    """My 回头看 list: due ones, overdue first; then the ones done lately."""
    user = request.user
    today = timezone.localdate()
    cadre = user_cadre(user)
    mine = FollowUp.objects.visible_to(user).filter(cadre=cadre) if cadre else FollowUp.objects.none()
    mine = mine.filter(listed_q())
    due = list(
        mine.filter(status=FollowUpStatus.DUE)
        .select_related("household", "household__community", "household__grid", "household__building", "issue")
        .order_by("due_on", "household__path", "household_id", "issue_id")[:200]
    )
    done = list(
        mine.filter(status=FollowUpStatus.DONE)
        .select_related("household", "household__grid", "household__building", "issue")
        .order_by("-done_on", "-id")[:30]
    )
    groups = {}  # one row per household, the earliest due date first
    for f in due:
        group = groups.setdefault(f.household_id, {"household": f.household, "due_on": f.due_on, "items": []})
        group["items"].append(f)
        group["due_on"] = min(group["due_on"], f.due_on)
    rows = sorted(groups.values(), key=lambda g: (g["due_on"], g["household"].path, g["household"].pk))
    for row in rows:
        row["overdue"] = row["due_on"] < today
    starts_on = stage_starts_on(_campaign(user, today), today)
    return render(
        request,
        "visits/followups.html",
        {"rows": rows, "count": len(due), "done": done, "today": today, "starts_on": starts_on},
    )


# ------------------------------------------------------------------------------------------ contact cards


def _id_param(request, name):
    """``?name=`` as an id: None when absent or blank, 0 (which names nothing: a 404) when junk."""
    if not request.GET.get(name):
        return None
    value = int_param(request, name)
    return 0 if value is None else value


def _card_choices(user, campaign):
    """What a street admin, leader or secretary may choose on the cards page: the communities and
    grids of his subtree, and the active cadres under his node with households in the campaign."""
    nodes = Node.objects.visible_to(user, ancestors=False)
    communities = list(nodes.filter(kind=NodeKind.COMMUNITY).order_by("path"))
    grids = list(nodes.filter(kind=NodeKind.GRID).order_by("path"))
    names = ScopeNames.for_nodes({g.pk for g in grids})
    held = (
        Cadre.objects.visible_to(user)
        .filter(active=True, assignments__campaign=campaign)
        .annotate(households=Count("assignments"))
        .select_related("scope")
    )
    return {
        "communities": [(c.pk, c.name) for c in communities],
        "grids": [(g.pk, names.label.get(g.pk, g.name).replace("/", " / ")) for g in grids],
        "cadres": [(c.pk, f"{label} {c.households}户") for c, label in cadre_choices(held)],
    }


@login_required
def contact_cards(request):
    """亲情卡 / 连心卡: printable cards (A4, 10 a sheet) and the record of the cards given.

    A cadre prints his own households' cards; street admins, leaders and secretaries choose a cadre,
    a grid or a community under their node (``?cadre=``, ``?grid=``, ``?community=``; the admin's
    打印亲情卡 links here with them). ``?missing=1``: only the households without a card yet. What
    may be chosen and who is on each card: ``visits.cards``. POST (已发放): the cards of the same
    choice are recorded as given on a day, by the user; ``expected`` (the number printed) guards
    against a list that changed since.
    """
    user = request.user
    today = timezone.localdate()
    campaign = _campaign(user, today)
    wide = is_node_wide(user)
    if campaign is None or (user_cadre(user) is None and not wide and not request.GET.get("cadre")):
        raise PermissionDenied(services.NOT_A_CADRE)
    chosen = cards.select(
        user,
        campaign,
        cadre_id=_id_param(request, "cadre"),
        grid_id=_id_param(request, "grid"),
        community_id=_id_param(request, "community"),
    )
    only_missing = request.GET.get("missing") == "1"
    households = chosen.households.filter(has_card=False) if only_missing else chosen.households
    if request.method == "POST":
        return _cards_given(request, chosen, households, today)
    rows = list(households.select_related("community", "grid", "building"))
    on_cards = cards.card_cadres(rows)
    book = rules_for(campaign)
    fields = cards.card_fields(book)
    units = cards.responsible_units(campaign, {h.community_id for h in rows}) if "departments" in fields else {}
    for h in rows:
        h.card_cadre = on_cards.get(h.card_cadre_id)
        h.units = units.get(h.community_id, [])
    counts = chosen.households.aggregate(total=Count("pk"), missing=Count("pk", filter=Q(has_card=False)))
    own_grids = []
    if not wide:  # a cadre narrows his own households to one of his grids
        mine = cards.select(user, campaign, cadre_id=_id_param(request, "cadre")).households
        grids = mine.values_list("grid_id", "community__name", "grid__name")
        own_grids = sorted({(pk, f"{community} {grid}") for pk, community, grid in grids}, key=lambda g: g[1])
        own_grids = own_grids if len(own_grids) > 1 else []
    selected = {k: str(_id_param(request, k) or "") for k in ("cadre", "grid", "community")}
    # The choice, kept by the narrowing form (its own grid select replaces ?grid=).
    keep = [(k, v) for k, v in selected.items() if v and not (k == "grid" and own_grids)]
    return render(
        request,
        "visits/cards.html",
        {
            "chosen": chosen,
            "cadre": chosen.cadre,
            "campaign": campaign,
            "sheets": [rows[i : i + CARDS_PER_SHEET] for i in range(0, len(rows), CARDS_PER_SHEET)],
            "count": len(rows),
            "total": counts["total"],
            "missing": counts["missing"],
            "only_missing": only_missing,
            "choices": _card_choices(user, campaign) if wide else None,
            "own_grids": own_grids,
            "selected": selected,
            "keep": keep,
            "querystring": request.GET.urlencode(),
            "today": today,
            "card_fields": fields,
            "supervision_phone": cards.supervision_phone(book),
            "without_units": sum(1 for h in rows if not h.units) if "departments" in fields else 0,
            "most_units": max((len(h.units) for h in rows), default=0),
        },
    )


def _cards_given(request, chosen, households, today):
    """已发放: record the cards the page showed as given (``visits.cards.mark_given``)."""
    back = reverse("visits:cards") + (f"?{request.GET.urlencode()}" if request.GET else "")
    given_on = parse_date(request.POST.get("given_on") or today.isoformat())
    first, last = chosen.campaign.span()
    if given_on is None or given_on > today or not first <= given_on <= last:
        messages.error(
            request, f"发放日期有误：须为本次活动期间（{first:%Y-%m-%d} 至 {last:%Y-%m-%d}）且不晚于今天的日期"
        )
        return redirect(back)
    count = households.count()
    expected = parse_int(request.POST.get("expected"), minimum=0)
    if request.POST.get("expected") not in (None, "") and expected != count:
        messages.error(
            request,
            f"名单已变化：打印时 {request.POST.get('expected')[:10]} 户，现在 {count} 户，请核对后重新打印再登记",
        )
        return redirect(back)
    if not count:
        messages.error(request, "没有可登记的亲情卡：所选范围内没有包户")
        return redirect(back)
    new = cards.mark_given(chosen.campaign, households, by=request.user, on=given_on)
    if new:
        messages.success(
            request,
            f"已登记发放亲情卡 {new} 户（{given_on:%Y-%m-%d}）"
            + (f"，另有 {count - new} 户此前已登记" if count > new else ""),
        )
    else:
        messages.info(request, f"这 {count} 户的亲情卡此前都已登记发放，未重复登记")
    return redirect(back)
