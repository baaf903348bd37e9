"""每个人的待办: one page per user (/visits/todo/) listing everything that waits for him, and the
count in the page header.

What waits, and where it comes from:

- the issues that wait for his step (审核, 交办, 补充, 上报方案, 办结, 重新办理, 延期审批, 销号,
  提级督办): ``issues.todo`` (the ledger decides who each one waits for);
- his 回头看 due (``visits.followups.listed_q`` of his list, ``FollowUp.objects.due``);
- the households due a visit by his targets (``visits.targets``: behind on a target of his tier).

The header count is the sum: the issues, the follow-ups and the households behind. Each row links to
the page where the step is taken (the issue's step form, the 回头看 form, the visit form).

The header shows it on every page, so it is kept in the session rather than counted on each one
(four queries): it is counted again when it is older than ``HEADER_TTL`` seconds, when the user's
unread notification count has changed (a step that now waits for him notifies him: his badge follows
at once), after any POST of his (``TodoCountMiddleware``: his own step changed what waits), and
whenever he opens the 待办 page, which stores the total it lists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from households.models import FocusGroup, Household
from households.scoping import user_cadre
from issues.context_processors import unread_for
from issues.todo import issue_todo_counts, issue_todo_groups
from visitplan.models import Campaign

from . import targets
from .followups import listed_q
from .models import FollowUp

ROW_LIMIT = 20
HEADER_TTL = 60  # seconds
SESSION_KEY = "todo_count"  # [count, unread notifications then, epoch seconds]


@dataclass
class VisitTodo:
    """The visits side of a user's 待办."""

    followups: int = 0
    behind: int = 0
    reasons: list = field(default_factory=list)
    campaign: Campaign | None = None


def _followups(user, cadre):
    return FollowUp.objects.visible_to(user).due().filter(cadre=cadre).filter(listed_q())


def visit_todo(user, *, today) -> VisitTodo:
    """His 回头看 due and the households behind on his targets (two queries; none without a cadre)."""
    cadre = user_cadre(user)
    if cadre is None:
        return VisitTodo()
    found = VisitTodo(followups=_followups(user, cadre).count())
    campaign = Campaign.objects.visible_to(user).current(today)
    if campaign is not None:
        progress = targets.cadre_targets(
            cadre,
            campaign,
            today=today,
            households=Household.objects.visible_to(user).filter(
                pk__in=targets.assigned_households(cadre, campaign).values("pk")
            ),
        )
        found.behind, found.campaign = progress.behind, campaign
        found.reasons = [progress.words[r] for r in progress.reasons]
    return found


def todo_count(user) -> int:
    """The number in the header: issues waiting for him + 回头看 due + households behind."""
    if not user.is_authenticated:
        return 0
    today = timezone.localdate()
    visits = visit_todo(user, today=today)
    return sum(issue_todo_counts(user).values()) + visits.followups + visits.behind


def _remember(request, count: int) -> int:
    request.session[SESSION_KEY] = [count, unread_for(request), int(time.time())]
    return count


def header_count(request) -> int:
    """``todo_count`` for the header, from the session while it is fresh (see the module docstring)."""
    cached = request.session.get(SESSION_KEY)
    if (
        isinstance(cached, list)
        and len(cached) == 3
        and cached[1] == unread_for(request)
        and 0 <= time.time() - cached[2] < HEADER_TTL
    ):
        return cached[0]
    return _remember(request, todo_count(request.user))


def context(request):
    """Template context processor: ``todo_count`` for the header (lazy: counted only where shown)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return {}
    return {"todo_count": SimpleLazyObject(lambda: header_count(request))}


class TodoCountMiddleware:
    """A POST is the user's own step: what waits for him changed, so the header counts it again."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and SESSION_KEY in getattr(request, "session", {}):
            del request.session[SESSION_KEY]
        return self.get_response(request)


@login_required
def todo_page(request):
    user = request.user
    today = timezone.localdate()
    groups = issue_todo_groups(user, today=today, limit=ROW_LIMIT)
    visits = visit_todo(user, today=today)
    cadre = user_cadre(user)
    followups = []
    behind_rows = []
    if cadre is not None and visits.followups:
        followups = list(
            _followups(user, cadre)
            .select_related("household", "household__grid", "household__building", "issue")
            .order_by("due_on", "household__path", "issue_id")[:ROW_LIMIT]
        )
        for f in followups:
            f.overdue = f.due_on < today
    if cadre is not None and visits.behind:
        assigned = Household.objects.visible_to(user).filter(
            pk__in=targets.assigned_households(cadre, visits.campaign).values("pk")
        )
        behind_rows = list(
            targets.annotate_progress(assigned, cadre=cadre, campaign=visits.campaign, today=today)
            .filter(behind=True)
            .select_related("grid", "building")
            .prefetch_related(Prefetch("tags", queryset=FocusGroup.objects.only("id", "name")))
            .order_by("last_visit_on", "path", "unit", "room", "id")[:ROW_LIMIT]
        )
        for h in behind_rows:
            h.days_since = (today - h.last_visit_on).days if h.last_visit_on else None
    total = _remember(request, sum(g.count for g in groups) + visits.followups + visits.behind)
    return render(
        request,
        "visits/todo.html",
        {
            "groups": groups,
            "visits": visits,
            "followups": followups,
            "behind_rows": behind_rows,
            "total": total,
            "today": today,
            "limit": ROW_LIMIT,
        },
    )
