"""The field app without signal (离线走访): what the phone keeps, and how what it recorded comes back.

A cadre installs the site as an app (``manifest``) whose service worker (``service_worker``,
served at ``/sw.js`` so that it controls every page) keeps the pages of his own assignments: 我的包户,
each household page, its visit form and 回头看 form, the 回头看 list and 本机记录. Which pages those
are is the server's answer (``state``: his current assignments, nothing else); the pages are the
same masked pages he opens online. A visit recorded without signal waits on the phone (IndexedDB,
static/js/offline.js) with its form key and the time it was recorded, and is sent when the network
returns; the submit is the form's own POST with ``X-Offline-Sync: 1``, so the server's idempotent
key saves it once, and every answer is JSON (``answers_sync``): saved, or refused with the reason
the cadre reads on that record (reassigned, campaign ended, a rule broken).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from households.models import Household
from households.scoping import user_cadre
from visitplan.models import Assignment, Campaign

from . import rules
from .forms import error_summary
from .models import FollowUp

SYNC_HEADER = "X-Offline-Sync"
RECORDED_HEADER = "X-Recorded-At"

GONE = "该户已不在您的名单上（可能已调整网格或包户），这条记录无法上传。请联系社区核实后放弃或改录。"
CAMPAIGN_OVER = "本次走访活动已结束（或尚未开始），这条记录无法上传。请联系街道核实。"


def is_sync(request) -> bool:
    """Is this POST the field app sending a record it kept on the phone?"""
    return request.method == "POST" and request.headers.get(SYNC_HEADER) == "1"


def recorded_at(request) -> datetime.datetime | None:
    """When the phone recorded what it sends now (its clock, ISO 8601), or None."""
    if not is_sync(request):
        return None
    value = parse_datetime(request.headers.get(RECORDED_HEADER, "")[:40])
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def refused(message: str, *, status: int = 409, errors: list | None = None) -> JsonResponse:
    return JsonResponse({"ok": False, "message": message, "errors": errors or []}, status=status)


def form_refused(form, formset=None) -> JsonResponse:
    """The form's errors, as the record on the phone shows them (the same words as the page)."""
    errors = [{"label": item["label"], "message": str(item["message"])} for item in error_summary(form, formset)]
    first = "；".join(f"{e['label']}：{e['message']}" if e["label"] else e["message"] for e in errors[:3])
    return refused(f"服务器未接收：{first}" if first else "服务器未接收这条记录", status=422, errors=errors)


def answers_sync(view):
    """For the field app's sends, a refusal is a JSON answer the record keeps, never a page: the
    household gone from the cadre's list (404), a refused role or campaign (403)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_sync(request):
            return view(request, *args, **kwargs)
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return refused(GONE, status=404)
        except PermissionDenied as exc:
            return refused(str(exc) or "您无权提交这条记录", status=403)

    return wrapped


# ---------------------------------------------------------------------------------------------- the pages kept


def _assigned(user, today):
    """The cadre's households in the current campaign (what the phone may keep), or none."""
    cadre = user_cadre(user)
    campaign = Campaign.objects.visible_to(user).current(today)
    if cadre is None or campaign is None:
        return cadre, campaign, Household.objects.none()
    mine = Assignment.objects.filter(campaign=campaign, cadre=cadre).values("household_id")
    return cadre, campaign, Household.objects.visible_to(user).filter(pk__in=mine)


def _stamps(households, campaign) -> dict[int, str]:
    """A short fingerprint of what each household's pages show, in one query: the campaign's
    rules, the household and its members, tags, visits, issues, follow-ups and cadres, and the
    release. The phone fetches again only the pages whose fingerprint changed since it kept them
    (and any page kept over half of ``OFFLINE_KEEP_DAYS`` ago): on a weak signal a round of 200
    households is not downloaded again every time 我的包户 opens, nor every morning. The day is
    not in it: a kept page's "剩 N 个工作日" may be a day or two old without signal (with signal
    the page is the server's), and the visit form puts today's date in itself on the phone."""
    from django.db.models import Count, Max, OuterRef, Subquery, Sum

    from households.models import Member
    from issues.models import Issue

    from .models import Visit

    def per_household(model, value, field="household"):
        return Subquery(
            model.objects.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(v=value).values("v")[:1]
        )

    tags = Household.tags.through
    rows = households.annotate(
        s_visits=per_household(Visit, Max("pk")),
        s_issues=per_household(Issue, Max("updated_at")),
        s_issue_count=per_household(Issue, Count("pk")),
        s_members=per_household(Member, Sum("version")),
        s_member_count=per_household(Member, Count("pk")),
        s_followups=per_household(FollowUp, Max("pk")),
        s_tags=per_household(tags, Sum("focusgroup_id")),
        s_tag_count=per_household(tags, Count("pk")),
        s_cadres=Subquery(
            Assignment.objects.filter(campaign=campaign, household=OuterRef("pk"))
            .order_by()
            .values("household")
            .annotate(v=Sum("cadre_id"))
            .values("v")[:1]
        ),
    ).values_list(
        "pk", "version", "updated_at", "s_visits", "s_issues", "s_issue_count", "s_members", "s_member_count",
        "s_followups", "s_tags", "s_tag_count", "s_cadres",
    )  # fmt: skip
    # A release renames the static files the pages link (content-hashed): every page then changes.
    release = "|".join(static(name) for name in ("css/app.css", "js/offline.js", "js/visit-form.js"))
    common = f"{campaign.pk}.{campaign.version}|{release}"
    return {row[0]: hashlib.sha1(f"{common}|{row!r}".encode(), usedforsecurity=False).hexdigest()[:12] for row in rows}


def pages_to_keep(user, today=None) -> tuple[list[str], dict[str, str]]:
    """The addresses the phone keeps for ``user``: his list (every page of it), each household of
    his assignments, its visit form when he may visit it and its 回头看 form when one is due; and
    the fingerprint of each household's pages (``_stamps``)."""
    from .views import PAGE_SIZE

    today = today or timezone.localdate()
    cadre, campaign, households = _assigned(user, today)
    urls = [reverse("visits:offline")]
    stamps = {}
    if cadre is None or campaign is None:
        return urls, stamps
    by_household = _stamps(households, campaign)
    households = list(households.order_by("path", "unit", "room", "id"))
    mine = reverse("visits:mine")
    urls += [mine] + [f"{mine}?page={n}" for n in range(2, math.ceil(len(households) / PAGE_SIZE) + 1)]
    urls.append(reverse("visits:followups"))
    due = set(FollowUp.objects.visible_to(user).due().filter(cadre=cadre).values_list("household_id", flat=True))
    # Every household here is one of his assignments: he may visit each while he is active
    # (rules.may_visit), so the rule is asked once, not once per household.
    visits_them = bool(households) and rules.may_visit(cadre, households[0], campaign)
    for household in households:
        pages = [reverse("visits:household", args=[household.pk])]
        if visits_them:
            pages.append(reverse("visits:visit", args=[household.pk]))
        if household.pk in due:
            pages.append(reverse("visits:followup", args=[household.pk]))
        urls += pages
        stamps.update(dict.fromkeys(pages, by_household.get(household.pk, "")))
    return urls, stamps


@never_cache
@login_required
@require_GET
def state(request):
    """What the field app asks when it has signal: who is logged in (the phone keeps one user's
    pages), a fresh CSRF token for the records it sends, how long it may keep pages, which pages,
    and the fingerprint of each household's pages (fetched again only when it changed)."""
    pages, stamps = pages_to_keep(request.user)
    return JsonResponse(
        {
            "user": request.user.pk,
            "csrf": get_token(request),
            "days": settings.OFFLINE_KEEP_DAYS,
            "pages": pages,
            "stamps": stamps,
        }
    )


@login_required
@require_GET
def offline_page(request):
    """本机记录: what waits on this phone to be sent, what was refused and why, the pages kept.
    Filled in by static/js/offline.js from the phone's own store; also the page the app shows for
    a page it did not keep."""
    return render(request, "visits/offline.html", {"days": settings.OFFLINE_KEEP_DAYS})


# ---------------------------------------------------------------------------------------------- the app itself


def _worker_source() -> str:
    config = {
        "offline": reverse("visits:offline"),
        "static": settings.STATIC_URL,
        "keepMs": settings.OFFLINE_KEEP_DAYS * 24 * 3600 * 1000,
    }
    return render_to_string("visits/sw.js", {"config": json.dumps(config, ensure_ascii=False)})


@require_GET
def service_worker(request):
    """``/sw.js``: the service worker, from the site's root so that its scope is the whole site.
    Its text names its version (a hash of itself): a new release replaces it on the next visit."""
    source = _worker_source()
    version = hashlib.sha256(source.encode()).hexdigest()[:12]
    response = HttpResponse(source.replace("__VERSION__", version), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def manifest(request):
    """The web app manifest: installable from the browser's menu (添加到主屏幕), no app store."""
    data = {
        "name": settings.SITE_TITLE,
        "short_name": "入户走访",
        "description": "包户走访、回头看：没有信号也能记录，联网后自动上传",
        "lang": "zh-Hans",
        "dir": "ltr",
        "start_url": reverse("visits:mine"),
        "scope": "/",
        "id": reverse("visits:mine"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#c8161d",
        "icons": [
            {"src": static("icons/app-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": static("icons/app-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {
                "src": static("icons/app-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
        "shortcuts": [
            {"name": "我的包户", "url": reverse("visits:mine")},
            {"name": "回头看", "url": reverse("visits:followups")},
            {"name": "本机记录", "url": reverse("visits:offline")},
        ],
    }
    response = JsonResponse(data, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=3600"
    return response
