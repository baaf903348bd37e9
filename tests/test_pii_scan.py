"""No page, export or JSON answer shows a resident's full ID number or mobile to a masked role.

For each role without 查看完整信息 (grid worker, the same as admin staff, community secretary,
leader, department handler) this walks the whole URL conf (``get_resolver()``), fills the URL
arguments with the objects of a populated world (households with members, visits, issues,
follow-ups, phone checks, findings, a 一户一策 plan, notifications…), GETs every page — also asking
for JSON — and every export (xlsx: every cell of every sheet; csv), and fails if any answer holds
an unmasked ID number (GB 11643 shape) or mobile of the world's residents.

A URL whose arguments cannot be filled is skipped and printed; the list is fixed below, so a new
page with a new kind of argument fails here until it is taught (``_values_for``).
"""

import csv
import datetime
import io
import re
import uuid

import openpyxl
import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from households.masking import can_view_full_pii, mask_id_number, mask_phone
from households.models import AccessKind, AccessLog, HardshipMeasure, HardshipPlan, Household, Member
from households.roles import CADRE
from households.validators import id_check_char
from issues.models import ExtensionRequest, Notification, Severity, Status
from issues.tests.factories import make_issue
from reports.models import Finding, PhoneCheck
from tests.support.visits import NOW, STAGES, VISIT_DAY
from tests.support.world import make_household, make_user
from visitplan.models import Assignment, Stage, Tier
from visits.models import FollowUp
from visits.services import visit_record

ID_RE = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9Xx])")
MOBILE_RE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

D = datetime.date

# Routes never requested, each for its reason (printed by the test).
SKIPPED = {
    "logout/": "logs the user out",
    "admin/logout/": "logs the user out",
    "admin/r/<path:content_type_id>/<path:object_id>/": "view-on-site redirect to the object's own page (scanned there)",
    "admin/(?P<url>.*)$": "catch-all (404 / add slash)",
}


def _real_id(region: str, born: str, serial: int) -> str:
    first17 = f"{region}{born}{serial:03d}"
    return first17 + id_check_char(first17)


# ------------------------------------------------------------------------------------------------ the world


@pytest.fixture
def scan(world):
    """The small street with realistic residents and something on every page."""
    w = world
    heads = {
        w.ha: (_real_id("370303", "19540523", 843), "13953281234"),
        w.hb: (_real_id("370302", "19680917", 232), "15864257890"),
        w.hc: (_real_id("370211", "19770102", 51), "18653299876"),
    }
    for h, (id_number, phone) in heads.items():
        Household.objects.filter(pk=h.pk).update(id_number=id_number, phone=phone)
        h.refresh_from_db()
    # A household with a landline and a long-absent one without phone, in grid A.
    w.hd = make_household(w.grid_a, "102", "赵丁", 41, building=w.ha.building)
    Household.objects.filter(pk=w.hd.pk).update(id_number=_real_id("370303", "19380306", 125), phone="0532-82345678")
    w.hd.refresh_from_db()
    members = [
        (w.ha, "张小明", "子", _real_id("370303", "19820611", 416), 1982),
        (w.ha, "刘芳", "儿媳", _real_id("370205", "19840302", 228), 1984),
        (w.hb, "李乐乐", "孙子", _real_id("370302", "20150809", 331), 2015),
        (w.hc, "王秀英", "配偶", _real_id("370211", "19790415", 742), 1979),
        (w.hd, "赵大海", "子", _real_id("370303", "19650101", 915), 1965),
    ]
    for h, name, relation, id_number, born in members:
        Member.objects.create(household=h, name=name, relation=relation, id_number=id_number, birth_year=born)
    w.households = [w.ha, w.hb, w.hc, w.hd]

    # Admin staff who are also grid workers (is_staff): the admin must mask for them too.
    w.staff_worker = make_user("grid_a_staff", CADRE, scope=w.grid_a, tier=Tier.COMMITTEE, staff=True)

    for kind, (start, end) in STAGES.items():
        Stage.objects.create(campaign=w.campaign, kind=kind, starts_on=start, ends_on=end)
    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    Assignment.objects.create(campaign=w.campaign, household=w.hd, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    Assignment.objects.create(campaign=w.campaign, household=w.hb, cadre=w.worker_b.cadre, tier=Tier.GRID_WORKER)

    w.visits = []
    for user, h in ((w.worker_a, w.ha), (w.worker_a, w.hd), (w.worker_b, w.hb)):
        recorded = visit_record(
            household=h, by=user, campaign=w.campaign, key=uuid.uuid4(), method="in_person", visited_on=VISIT_DAY,
            started_at=datetime.time(9, 0), ended_at=datetime.time(9, 45),
            answers={"living": {"answer": "楼道灯坏了两周", "needs_help": True}},
            checklist=["know_family"], card_given=True, satisfaction="satisfied", notes="老人独居",
            issues=[{"text": "楼道灯不亮", "category": "living"}], now=NOW,
        )  # fmt: skip
        w.visits.append(recorded.visit)

    routed = make_issue(w.hc, raised_by=w.handler, status=Status.IN_PROGRESS, department=w.dept, assignee=w.handler)
    answered = make_issue(w.ha, raised_by=w.worker_a, status=Status.CLOSED, department=w.dept)
    make_issue(w.hb, raised_by=w.worker_b, status=Status.REGISTERED, severity=Severity.MAJOR, special_hardship=True)
    ExtensionRequest.objects.create(issue=routed, requested_by=w.handler, days=5, reason="材料未到")
    FollowUp.objects.create(
        campaign=w.campaign, household=w.ha, issue=answered, cadre=w.worker_a.cadre,
        listed_on=D(2026, 12, 16), due_on=D(2026, 12, 25),
    )  # fmt: skip
    finding = Finding.objects.create(
        campaign=w.campaign, community=w.c1, method="phone", kind="fake_visit", evidence="称未被走访",
        visit=w.visits[0], cadre=w.worker_a.cadre, found_on=D(2026, 10, 9), recorded_by=w.admin,
    )  # fmt: skip
    PhoneCheck.objects.create(
        campaign=w.campaign, community=w.c1, household=w.ha, visit=w.visits[0], drawn_by=w.admin,
        drawn_on=D(2026, 10, 8), called_on=D(2026, 10, 9), reached=True, was_visited=False, finding=finding,
    )  # fmt: skip
    PhoneCheck.objects.create(
        campaign=w.campaign,
        community=w.c1,
        household=w.hb,
        visit=w.visits[2],
        drawn_by=w.admin,
        drawn_on=D(2026, 10, 8),
    )
    plan = HardshipPlan.objects.create(household=w.ha, situation="独居老人，行动不便", responsible="张三（社区）")
    HardshipMeasure.objects.create(plan=plan, content="每周上门一次", unit="湖田社区")
    # A district's reader (区级领导, no cadre) over the street: masked like the street's leader.
    from households.roles import DISTRICT_LEADER
    from tests.support.districts import make_district, make_district_user

    w.district_leader = make_district_user("district_leader", DISTRICT_LEADER, make_district("张店区", w.street))
    for user in (w.worker_a, w.staff_worker, w.secretary, w.leader, w.handler):
        Notification.objects.create(user=user, issue=routed, title="诉求即将到期", body="请尽快办理")

    w.secret = {}  # full value → whose
    for h in w.households:
        w.secret[h.id_number.upper()] = f"{h.head_name} 身份证号"
        if h.phone:
            w.secret[h.phone] = f"{h.head_name} 电话"
    for m in Member.objects.all():
        w.secret[m.id_number.upper()] = f"{m.name} 身份证号"
    return w


ROLES = ("worker_a", "staff_worker", "secretary", "leader", "handler", "district_leader")


# ------------------------------------------------------------------------------------------------ scanning


def _body_texts(response):
    """Every text an answer carries: the page, or each cell of an xlsx, or a csv; and its headers."""
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    kind = response.get("Content-Type", "")
    headers = " ".join(f"{k}: {v}" for k, v in response.items())
    if kind.startswith(XLSX) or content[:2] == b"PK":
        workbook = openpyxl.load_workbook(io.BytesIO(content))
        cells = [
            str(cell.value)
            for sheet in workbook.worksheets
            for row in sheet.iter_rows()
            for cell in row
            if cell.value is not None
        ]
        return "xlsx", "\n".join(cells) + "\n" + headers
    text = content.decode("utf-8-sig", errors="replace")
    if "csv" in kind:
        text = "\n".join(",".join(row) for row in csv.reader(io.StringIO(text)))
        return "csv", text + "\n" + headers
    return ("json" if "json" in kind else "html"), text + "\n" + headers


def _leaks(text, secret):
    """The residents' full values in ``text``: regex hits of the two shapes, and plain substrings."""
    found = {m.upper() for m in ID_RE.findall(text)} | set(MOBILE_RE.findall(text))
    upper = text.upper()
    return sorted((found & set(secret)) | {value for value in secret if value in upper})


class Scanner:
    def __init__(self, client, w, role, *, pages_only=False):
        self.client, self.w, self.role = client, w, role
        # A role with 查看完整信息: its downloads are exports (full, logged); its pages are masked.
        self.pages_only = pages_only
        self.leaks = []  # (url, kind, value, whose)
        self.statuses = {}
        self.kinds = set()
        self.text = []

    def check(self, label, response, echo=""):
        if self.pages_only and "attachment" in response.get("Content-Disposition", ""):
            self.statuses[label] = response.status_code
            return
        kind, text = _body_texts(response)
        if echo:
            # The search term the user typed comes back in the search box and the paging/export links:
            # that is his own input, not a disclosure. Anywhere else it is still a leak.
            for form in (f'value="{echo}"', f"q={echo}", f"q%3D{echo}"):
                text = text.replace(form, "q=")
        self.kinds.add(kind)
        self.statuses[label] = response.status_code
        self.text.append(text)
        for value in _leaks(text, self.w.secret):
            self.leaks.append((label, kind, value, self.w.secret[value]))

    def get(self, url, **headers):
        echo = re.search(r"[?&]q=([^&]*)", url)
        self.check(f"GET {url}{' (json)' if headers else ''}", self.client.get(url, **headers), echo[1] if echo else "")

    def post(self, url, data, label=None, **headers):
        self.check(label or f"POST {url}", self.client.post(url, data, **headers))


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


_ADMIN_OBJECT = re.compile(r"^admin/(\w+)/(\w+)/")


def _values_for(w, route, name):
    """Lists of values for the route's arguments ({} if none), or None when unknown."""
    wanted = list(re.findall(r"<(?:\w+:)?(\w+)>", route)) + re.findall(r"\(\?P<(\w+)>", route)
    if not wanted:
        return {}
    pks = lambda model: list(model._default_manager.order_by("pk").values_list("pk", flat=True)[:6])  # noqa: E731
    household_pks = [h.pk for h in w.households] + [999999]
    by_route = {
        "households/<int:pk>/": household_pks,
        "households/<int:pk>/reveal/": household_pks,
        "households/<int:pk>/call/": household_pks,  # 拨打: POST only, a GET shows nothing
        "visits/h/<int:pk>/": household_pks,
        "visits/h/<int:pk>/visit/": household_pks,
        "visits/h/<int:pk>/followup/": household_pks,
        "visits/<int:pk>/": pks(apps.get_model("visits", "Visit")),
        "reports/phone-checks/<int:pk>/": pks(PhoneCheck),
        "reports/hardship/<int:pk>/": household_pks,
        "issues/<int:pk>/": pks(apps.get_model("issues", "Issue")),
        "issues/<int:pk>/merge/": pks(apps.get_model("issues", "Issue")),
        "notifications/<int:pk>/open/": pks(Notification),
        "reports/ledgers/exports/<int:pk>/": pks(apps.get_model("core", "BackgroundJob")),
        "reports/ledgers/exports/<int:pk>/download/": pks(apps.get_model("core", "BackgroundJob")),
        "admin/visitplan/campaign/<int:pk>/allocation/": [w.campaign.pk],
        "campaigns/<int:pk>/rules/": [w.campaign.pk],
        "campaigns/<int:pk>/rules/edit/": [w.campaign.pk],
        # 平面图 pages of a community or grid (a missing plan answers 404; the image is no text).
        "households/nodes/<int:pk>/plan/": [w.c1.pk, w.grid_a.pk, w.grid_b.pk],
        "households/nodes/<int:pk>/plan/delete/": [w.grid_a.pk],  # POST only
        "households/nodes/<int:pk>/plan/image": [w.c1.pk, w.grid_a.pk],
        # 民情地图: a building, a community, a grid or community, and the POST-only 保存位置.
        "reports/map/building/<int:pk>/": [w.ha.building_id],
        "reports/map/community/<int:pk>/": [w.c1.pk, w.c2.pk],
        "reports/map/grid/<int:pk>/": [w.c1.pk, w.grid_a.pk, w.grid_b.pk, w.grid_c.pk],
        "reports/map/grid/<int:pk>/spots/": [w.grid_a.pk],
    }
    if route == "issues/<int:pk>/act/<slug:action>/":
        return {"pk": pks(apps.get_model("issues", "Issue")), "action": ["accept", "close"]}
    if route in by_route and wanted == ["pk"]:
        return {"pk": by_route[route]}
    if route.startswith("admin/^(?P<app_label>"):
        return {"app_label": ["households", "visitplan", "issues", "visits", "reports", "auth"]}
    if route == "admin/auth/user/<id>/password/":
        return {"id": [w.admin.pk]}
    match = _ADMIN_OBJECT.match(route)
    if match and wanted == ["object_id"]:
        try:
            model = apps.get_model(match[1], match[2])
        except LookupError:
            return None
        residents = model in (Household, Member)
        return {"object_id": pks(model) if residents else pks(model)[:2]}
    return None


# Extra queries for pages whose default shows less than their filters can.
QUERIES = {
    "households:list": ["?q=张", "?q=13953281234", "?q={ha_id}"],
    "reports:dashboard": ["?campaign={campaign}"],
    "reports:unvisited": ["?campaign={campaign}"],
    "reports:visits": ["?campaign={campaign}"],
    "reports:followups": ["?campaign={campaign}"],
    "reports:phone_checks": ["?campaign={campaign}"],
    "reports:findings": ["?campaign={campaign}"],
    "reports:summary": ["?campaign={campaign}"],
    "reports:ledger_visits": ["?campaign={campaign}", "?campaign={campaign}&community={c1}"],
    "reports:ledger_hardship": ["?community={c1}"],
    "reports:ledger_monthly": ["?month=2026-09", "?month=2026-10"],
    "reports:ledger_supervision": ["?campaign={campaign}"],
    "issues:ledger": ["?status=all", "?q=张"],
    "issues:export": ["?status=all"],
    "admin:households_household_changelist": ["?q=13953281234", "?q={ha_id}"],
    "admin:households_household_export": ["?q=张"],
    "admin:households_member_changelist": ["?q=张"],
    "admin:autocomplete": ["?app_label=visitplan&model_name=cadre&field_name=scope&term=湖"],
}


def _urls(w):
    """(url, route) for every GET the walk makes, and the routes skipped with the reason."""
    urls, skipped = [], {}
    for route, pattern in _walk(get_resolver().url_patterns):
        if route in SKIPPED:
            skipped[route] = SKIPPED[route]
            continue
        values = _values_for(w, route, pattern.name)
        if values is None:
            skipped[route] = "unknown URL arguments"
            continue
        if not values:
            combos = [{}]
        else:
            combos = [{}]
            for key, options in values.items():
                combos = [{**c, key: v} for c in combos for v in options]
        for kwargs in combos:
            path = "/" + route
            for key, value in kwargs.items():
                path = re.sub(rf"<(?:\w+:)?{key}>|\(\?P<{key}>[^)]*\)", str(value), path)
            path = path.replace("^", "").replace("$", "")
            urls.append((path, pattern))
    return urls, skipped


def _qualified(pattern, path):
    from django.urls import resolve

    try:
        return resolve(path).view_name
    except Exception:  # noqa: BLE001
        return pattern.name or ""


def _import_export(scanner, model, fmt):
    """The admin's import-export download of ``model`` (every column) in format ``fmt`` (0 xlsx, 1 csv)."""
    url = reverse(f"admin:visitplan_{model}_export")
    page = scanner.client.get(url)
    scanner.check(f"GET {url}", page)
    if page.status_code != 200 or page.context is None or "form" not in page.context:
        return
    form = page.context["form"]
    data = {"format": str(fmt), "resource": "0"}
    data.update({name: "on" for name, f in form.fields.items() if getattr(f, "is_selectable_field", False)})
    scanner.post(url, data, label=f"POST {url} (format {fmt})")


def _run(client, w, role, *, full_access=False):
    user = getattr(w, role)
    assert can_view_full_pii(user) == full_access, role
    client.force_login(user)
    scanner = Scanner(client, w, role, pages_only=full_access)
    urls, skipped = _urls(w)
    for path, pattern in urls:
        scanner.get(path)
        name = _qualified(pattern, path)
        for query in QUERIES.get(name, ()):
            scanner.get(path + query.format(campaign=w.campaign.pk, c1=w.c1.pk, ha_id=w.ha.id_number))
        if not path.startswith("/admin/"):
            scanner.get(path, HTTP_ACCEPT="application/json", HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    # Downloads that are POSTs: the admin's bulk export action and the import-export lists.
    scanner.post(
        reverse("admin:households_household_changelist"),
        {"action": "export_selected", "_selected_action": [h.pk for h in w.households]},
        label="POST admin household export_selected",
    )
    for model in ("cadre", "department", "assignment"):
        for fmt in (0, 1):
            _import_export(scanner, model, fmt)
    if full_access:
        return scanner, skipped
    # 显示完整信息 is refused to the role (and says nothing), as a form post and as JSON.
    for h in w.households:
        url = reverse("households:reveal", args=[h.pk])
        scanner.post(url, {})
        scanner.post(url, {}, label=f"POST {url} (json)", HTTP_ACCEPT="application/json")
        assert scanner.statuses[f"POST {url}"] in (403, 404)
    return scanner, skipped


def _visible(w, user):
    return [h for h in w.households if Household.objects.visible_to(user).filter(pk=h.pk).exists()]


@pytest.mark.parametrize("role", ROLES)
def test_no_page_or_export_shows_a_full_id_number_or_phone_to_a_masked_role(client, scan, role):
    w = scan
    scanner, skipped = _run(client, w, role)

    print(f"\n[{role}] {len(scanner.statuses)} answers; skipped routes:")
    for route, reason in skipped.items():
        print(f"  {route} — {reason}")
    assert not scanner.leaks, "\n".join(
        f"{url} [{kind}]: {value} ({whose})" for url, kind, value, whose in scanner.leaks
    )
    unknown = [r for r, reason in skipped.items() if reason == "unknown URL arguments"]
    assert not unknown, f"teach _values_for these routes' arguments: {unknown}"

    # Not vacuous: the role saw its residents (masked) on pages and in the exports.
    user = getattr(w, role)
    visible = _visible(w, user)
    assert visible, role
    everything = "\n".join(scanner.text)
    assert any(mask_id_number(h.id_number) in everything for h in visible), role
    assert any(h.phone and mask_phone(h.phone) in everything for h in visible), role
    ok = sum(1 for status in scanner.statuses.values() if status == 200)
    assert ok >= 25, (role, ok)
    assert {"html", "xlsx"} <= scanner.kinds, scanner.kinds
    if user.is_staff:
        assert scanner.statuses[f"GET {reverse('admin:households_household_changelist')}"] == 200
        assert scanner.statuses[f"GET {reverse('admin:households_household_change', args=[visible[0].pk])}"] == 200
    if user.has_perm("visitplan.view_cadre"):
        assert "csv" in scanner.kinds, role


@pytest.mark.parametrize("role", ["admin", "root"])
def test_no_page_shows_a_full_value_to_a_role_with_full_access_before_it_reveals(client, scan, role):
    """The street admin and a superuser: every page and admin page (lists, edit forms, search by a
    full number) masked; only downloads (exports, logged) and 显示完整信息 show the values."""
    from django.contrib.auth.models import User

    w = scan
    if role == "root":
        w.root = User.objects.create_superuser("root", password="pw-test-123")
    scanner, _ = _run(client, w, role, full_access=True)
    # The 电话调查 call page shows the number to dial, and each showing is an access-log row.
    call_pages = re.compile(r"^GET /reports/phone-checks/\d+/")
    called = [leak for leak in scanner.leaks if call_pages.match(leak[0])]
    if called:
        logged = AccessLog.objects.filter(kind=AccessKind.REVEAL, what__startswith="电话调查", user=getattr(w, role))
        assert logged.count() >= len({url for url, *_ in called})
    leaks = [leak for leak in scanner.leaks if leak not in called]
    assert not leaks, "\n".join(f"{url} [{kind}]: {value} ({whose})" for url, kind, value, whose in leaks)
    everything = "\n".join(scanner.text)
    assert mask_id_number(w.ha.id_number) in everything
    assert scanner.statuses[f"GET {reverse('admin:households_household_change', args=[w.ha.pk])}"] == 200
    assert scanner.statuses[f"GET {reverse('admin:households_member_changelist')}"] == 200


def test_the_scan_finds_a_leak(client, scan):
    """The scanner itself: a full number in a page, a cell or a csv is caught."""
    w = scan
    text = f"<td>{w.ha.id_number.lower()}</td> 电话{w.hb.phone}。成员 {mask_id_number(w.hc.id_number)}"
    assert _leaks(text, w.secret) == sorted({w.ha.id_number.upper(), w.hb.phone})
    assert _leaks("0532-82345678", {"0532-82345678": "x"}) == ["0532-82345678"]
    # The fixture's residents are realistic: GB 11643 IDs and mobiles of the regexes' shape.
    ids = [v for v in w.secret if len(v) == 18]
    phones = [v for v in w.secret if len(v) == 11]
    assert len(ids) == 9 and all(ID_RE.fullmatch(v) for v in ids)
    assert len(phones) == 3 and all(MOBILE_RE.fullmatch(v) for v in phones)
    for v in ids:
        assert id_check_char(v[:17]) == v[17]


def test_a_role_with_full_access_sees_the_values_only_when_revealed(client, scan):
    """The street admin's household page is masked until 显示完整信息; the reveal shows all of them."""
    w = scan
    client.force_login(w.admin)
    page = client.get(reverse("households:detail", args=[w.ha.pk])).content.decode()
    assert not _leaks(page, w.secret)
    page = client.get(reverse("visits:household", args=[w.ha.pk])).content.decode()
    assert not _leaks(page, w.secret)
    page = client.post(reverse("households:reveal", args=[w.ha.pk])).content.decode()
    members = [m.id_number for m in w.ha.members.all()]
    assert set(_leaks(page, w.secret)) == {w.ha.id_number, w.ha.phone, *members}
