"""The permission matrix, generated from the URL conf.

Every URL pattern of ``visitplan.urls`` (walked recursively, the admin site's included) is checked
for every role — street admin, leader, community secretary, grid worker, department handler,
anonymous — against its declaration in ``visitplan.access`` (the one place that says who may GET,
who may POST and what object a URL id names), with ``core.access.AccessMiddleware`` enabled:

- anonymous users are sent to the login page (the admin's to the admin login);
- another node's object answers 404, exactly as a missing id (the admin: exactly as its answer
  for a missing id), and nothing changes — POSTs included (every table is compared before/after);
- a role that may not write gets 403 / 404 / 405 or a redirect with an error, and nothing changes;
- a role without access to a page gets 403 (the app's convention: ``PermissionDenied``);
- what a role may do works (200, or a redirect that is not to the login page; declared writes
  really write), and no page or export shows another node's residents or the second street.

For the admin (``NAMESPACES["admin"]``: the admin's own permissions) the expectation of each staff
role is what the ModelAdmin's ``has_*_permission`` say; on top of that, leaders (read only) may
write nothing anywhere, and users without is_staff never get in.

Each check runs inside a savepoint that is rolled back, so a write allowed in one check does not
change the next. ``test_matrix_size`` works out every check from the URL conf (without sending the
requests), asserts that each (role × view) pair is covered, and prints how many checks there are.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages import constants as message_levels
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import include, path, reverse

from core.access import ANONYMOUS
from households.roles import CADRE, DEPARTMENT_HANDLER, LEADER, SECRETARY, STREET_ADMIN
from tests.support.matrix import (
    HOME,
    MISSING_ID,
    OUT,
    POST_BODY,
    ROLES,
    SHORT,
    app_objects,
    app_url,
    forbidden_markers,
    home_and_out,
    objects_in_and_out,
    visit_form,
)
from tests.support.urlconf import ADMIN_PATTERNS, APP_PATTERNS, PATTERNS, Pattern, undeclared, url_patterns
from visitplan import access

MIDDLEWARE = "core.access.AccessMiddleware"
LOGIN_PREFIXES = ("/login/", "/admin/login/")


# ================================================================================================ checks


class _Rollback(Exception):
    pass


# Tables no request may change are left out of the snapshot: the permission and content type
# catalogues (written by migrations only), and the sessions (a request may touch its own).
UNWATCHED = {"sessions.session", "auth.permission", "contenttypes.contenttype"}


def watched_tables() -> list[tuple[str, str]]:
    tables = []
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.proxy or not opts.managed or opts.label_lower in UNWATCHED:
            continue
        tables.append((opts.label_lower, opts.db_table))
    return tables


def snapshot() -> dict:
    """Every row of every watched table, per table (plain SQL: milliseconds for the matrix world).

    SQLite: the rows themselves, one SELECT per table. PostgreSQL: one query that answers, per
    table, a digest of all its rows (each row as text, sorted), so a snapshot is one round trip.
    """
    tables = watched_tables()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = " UNION ALL ".join(
                f"SELECT %s, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')), count(*) FROM {quote(table)} t"
                for _label, table in tables
            )
            cursor.execute(sql, [label for label, _table in tables])
            return {label: (digest, n) for label, digest, n in cursor.fetchall()}
        rows = {}
        for label, table in tables:
            cursor.execute(f"SELECT * FROM {quote(table)} ORDER BY 1")
            rows[label] = cursor.fetchall()
        return rows


def changed_tables(before, after) -> list[str]:
    return sorted(label for label in before if before[label] != after.get(label))


def body_text(response) -> str:
    """The page, or an export's text (an xlsx is unzipped: its sheets are XML)."""
    data = b"".join(response.streaming_content) if response.streaming else response.content
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                data = b"".join(z.read(n) for n in z.namelist() if n.endswith(".xml"))
        except zipfile.BadZipFile:
            pass
    return data.decode("utf-8", "ignore")


@dataclass
class Result:
    status: int
    location: str
    messages: list  # (level, text) added by this request
    changed: list  # tables whose rows changed
    text: str
    error: str

    @property
    def to_login(self) -> bool:
        return self.status == 302 and self.location.startswith(LOGIN_PREFIXES)

    @property
    def succeeded(self) -> bool:
        return any(level == message_levels.SUCCESS for level, _ in self.messages)

    def show(self) -> str:
        where = f" → {self.location}" if self.location else ""
        extra = f" messages={self.messages}" if self.messages else ""
        changed = f" changed={self.changed}" if self.changed else ""
        return f"{self.status}{where}{extra}{changed}{(' ' + self.error) if self.error else ''}"


@dataclass
class Matrix:
    """Sends the requests of one test and collects what failed."""

    w: object
    failures: list = field(default_factory=list)
    checks: int = 0
    triples: set = field(default_factory=set)  # (view, role, scope) covered
    clients: dict = field(default_factory=dict)

    def client(self, role) -> Client:
        if role not in self.clients:
            client = Client(raise_request_exception=False)
            if role != ANONYMOUS:
                client.force_login(self.w.users[role])
            self.clients[role] = client
        return self.clients[role]

    def send(self, role, method, url, data=None) -> Result:
        """One request inside a savepoint that is rolled back; every table compared before/after."""
        client = self.client(role)
        before = snapshot()
        try:
            with transaction.atomic():
                if method == "GET":
                    response = client.get(url, data or {})
                else:
                    response = client.post(url, data or {})
                text = body_text(response) if response.status_code == 200 else ""
                after = snapshot()
                raise _Rollback(response, text, after)
        except _Rollback as done:
            response, text, after = done.args
        storage = getattr(response.wsgi_request, "_messages", None)
        queued = [(m.level, str(m.message)) for m in getattr(storage, "_queued_messages", [])]
        client.cookies.pop("messages", None)
        if url.rstrip("/").endswith("logout") or "/login/" in url:
            self.clients.pop(role, None)  # logged out (or in as someone else): a fresh login next time
        error = ""
        if response.status_code >= 500 and getattr(response, "exc_info", None):
            error = repr(response.exc_info[1])
        return Result(
            response.status_code, response.get("Location", ""), queued, changed_tables(before, after), text, error
        )

    def fail(self, what, role, scope, method, url, expected, result: Result):
        self.failures.append(
            f"{what} [{SHORT[role]}, {scope}] {method} {url}: expected {expected}, got {result.show()}"
        )

    def check(self, what, role, scope, method, url, expected, result: Result, *, ok: bool):
        self.checks += 1
        self.triples.add((what, role, scope))
        if result.status >= 500:
            ok = False
        if ok and result.status == 200 and role != ANONYMOUS:
            leaked = [m for m in forbidden_markers(role) if m in result.text]
            if leaked:
                self.failures.append(
                    f"{what} [{SHORT[role]}, {scope}] {method} {url}: shows what is outside the node: {leaked}"
                )
                return
        if not ok:
            self.fail(what, role, scope, method, url, expected, result)

    def report(self):
        assert not self.failures, f"{len(self.failures)} of {self.checks} checks failed:\n" + "\n".join(self.failures)


class Plan(Matrix):
    """The checks of the matrix without their requests: what test_permission_matrix covers,
    worked out from the URL conf and the matrix world whatever ``-k`` selects."""

    def send(self, role, method, url, data=None) -> Result:
        return Result(200, "", [], [], "", "")

    def fail(self, what, role, scope, method, url, expected, result: Result):
        pass

    def check(self, what, role, scope, method, url, expected, result: Result, *, ok: bool):
        self.checks += 1
        self.triples.add((what, role, scope))


def allowed_ok(r: Result) -> bool:
    """What a permitted request looks like: the page, or a redirect that is not to the login page."""
    return r.status == 200 or (r.status in (301, 302, 303) and not r.to_login)


# How a page that answers a refused POST with itself says so: form errors, an error or a notice.
REFUSAL_MARKS = ('class="errorlist', 'class="error"', 'class="notice"')


def refused(r: Result) -> bool:
    """A write refused: 403 / 404 / 405, a redirect that is not a success, or the form again with
    its error; nothing changed."""
    if r.changed or r.succeeded:
        return False
    if r.status in (403, 404, 405):
        return True
    if r.status == 200:  # the page again, saying why
        return any(mark in r.text for mark in REFUSAL_MARKS) or any(
            level >= message_levels.WARNING for level, _ in r.messages
        )
    return r.status in (302, 303) and not r.to_login


def unchanged(r: Result) -> bool:
    return not r.changed


def same_answer(r: Result, missing: Result, pk=None) -> bool:
    """The answer for another node's object is the answer for a missing id (ids in a redirect aside)."""
    location = r.location.replace(f"/{pk}/", f"/{MISSING_ID}/") if pk is not None else r.location
    return (r.status, location) == (missing.status, missing.location) and not r.changed


# ================================================================================================ app pages


# The roles whose in-scope POST must really write (proves the bodies above are complete, so that
# "nothing changed" for the others means refused, not malformed).
WRITES = {
    "visits:visit": {STREET_ADMIN, LEADER, SECRETARY, CADRE, DEPARTMENT_HANDLER},
    "visits:followup": {CADRE, DEPARTMENT_HANDLER},  # the ones with a follow-up due on their list there
    "reports:findings": {STREET_ADMIN},
    "reports:phone_check": {STREET_ADMIN},
    "reports:hardship_plan": {STREET_ADMIN, SECRETARY, CADRE},
    "issues:act": {STREET_ADMIN, SECRETARY, DEPARTMENT_HANDLER},  # 审核 (a), 上报方案 (the handler's c)
    "issues:merge": {STREET_ADMIN},
    "households:reveal": {STREET_ADMIN},  # one access-log row
    "households:call": {STREET_ADMIN, SECRETARY, CADRE, DEPARTMENT_HANDLER},  # 拨打: one access-log row
    "visits:cards": {STREET_ADMIN, CADRE, DEPARTMENT_HANDLER},  # 已发放: the cards of their own households
    "notifications:open": {STREET_ADMIN, LEADER, SECRETARY, CADRE, DEPARTMENT_HANDLER},
    "notifications:read_all": {STREET_ADMIN, LEADER, SECRETARY, CADRE, DEPARTMENT_HANDLER},
    "visitplan:rulebook_edit": {STREET_ADMIN},  # one rule changed, logged (RuleChange)
    "households:plan_upload": {STREET_ADMIN},  # the 平面图 replaced (same row, new file)
    "households:plan_delete": {STREET_ADMIN},  # the 平面图 and its spots deleted
    "reports:map_spots": {STREET_ADMIN},  # 保存位置: the building's spot on the grid's 平面图 moved
}
# Bodies built from the URL's object; for a missing id the others' bodies are sent as they are.
OBJECT_BODIES = {"visits:followup", "issues:act", "issues:merge"}
PUBLIC_WRITES = {"login", "logout"}  # sessions and django-axes' records change: not checked for "nothing"


def _missing_body(w, name):
    return POST_BODY[name](w, None) if name in POST_BODY and name not in OBJECT_BODIES else {}


def check_app_pattern(m: Matrix, p: Pattern):
    w, rule = m.w, p.rule
    methods = rule.methods
    for role in ROLES:
        if rule.scope is None:
            targets = [("none", None)]
            missing_url = None
        else:
            home, outs = app_objects(w, rule, role)
            targets = [("in", home)] + [(f"out:{k}", o) for k, o in outs.items()]
            missing_url = app_url(p, pk=MISSING_ID)
        for method in ("GET", "POST"):
            may = rule.may_get(role) if method == "GET" else rule.may_post(role)
            missing = None
            if missing_url is not None:
                missing = m.send(role, method, missing_url, _missing_body(w, p.name) if method == "POST" else None)
            for scope, obj in targets:
                url = app_url(p, obj)
                data = POST_BODY[p.name](w, obj) if method == "POST" and p.name in POST_BODY else None
                r = m.send(role, method, url, data)
                if method not in methods:
                    m.check(
                        p.key,
                        role,
                        scope,
                        method,
                        url,
                        "405 (method not declared), nothing changed",
                        r,
                        ok=r.status == 405 and unchanged(r),
                    )
                elif role == ANONYMOUS and rule.public:
                    m.check(p.key, role, scope, method, url, "the public page", r, ok=r.status in (200, 302))
                elif role == ANONYMOUS:
                    m.check(
                        p.key,
                        role,
                        scope,
                        method,
                        url,
                        "302 to /login/?next=…, nothing changed",
                        r,
                        ok=r.status == 302 and r.location.startswith("/login/?next=") and unchanged(r),
                    )
                elif scope.startswith("out"):
                    expected = (
                        "404 like a missing id, nothing changed"
                        if may
                        else f"the missing id's answer ({missing.show()})"
                    )
                    ok = same_answer(r, missing) and (r.status == 404 if may else r.status in (403, 404))
                    m.check(p.key, role, scope, method, url, expected, r, ok=ok)
                elif method == "GET":
                    if may:
                        m.check(
                            p.key, role, scope, method, url, "200 (or a redirect, not to login)", r, ok=allowed_ok(r)
                        )
                    else:
                        m.check(
                            p.key,
                            role,
                            scope,
                            method,
                            url,
                            "403, nothing changed",
                            r,
                            ok=r.status == 403 and unchanged(r),
                        )
                elif may:
                    writes = role in WRITES.get(p.name, ())
                    ok = r.status not in (403, 404, 405) and not r.to_login and (bool(r.changed) or not writes)
                    if p.name in PUBLIC_WRITES:
                        ok = r.status in (200, 302)
                    m.check(p.key, role, scope, method, url, "accepted" + (" and written" if writes else ""), r, ok=ok)
                else:
                    m.check(p.key, role, scope, method, url, "refused (403/404/405/redirect with error), nothing changed",
                            r, ok=refused(r))  # fmt: skip
            if missing is not None and role != ANONYMOUS and method in methods:
                m.checks += 1
                m.triples.add((p.key, role, "missing"))
                if missing.status not in ((404,) if may else (403, 404)) or missing.changed:
                    m.fail(p.key, role, "missing", method, missing_url, "404 (403 for a role without access)", missing)


# -------------------------------------------------------------------------------- ids in the query or the form


def check_param_scopes(m: Matrix, name: str):
    """Ids that come in the query string or the form instead of the path: scoped the same way."""
    w = m.w
    if name == "issues:new":
        rule = access.REGISTRY[name]
        for role in ROLES[:-1]:
            home, outs = home_and_out(w.households, role)
            for scope, h in [("param-in", home)] + [(f"param-out:{k}", o) for k, o in outs.items()]:
                url = reverse(name) + f"?household={h.pk}"
                r = m.send(role, "POST", url, {**POST_BODY[name](w, None), "household": h.pk})
                if not rule.may_post(role):
                    m.check(
                        name, role, scope, "POST", url, "403, nothing changed", r, ok=r.status == 403 and unchanged(r)
                    )
                elif scope == "param-in":
                    m.check(
                        name,
                        role,
                        scope,
                        "POST",
                        url,
                        "the issue registered",
                        r,
                        ok=r.status == 302 and bool(r.changed),
                    )
                else:
                    m.check(
                        name, role, scope, "POST", url, "404, nothing changed", r, ok=r.status == 404 and unchanged(r)
                    )
                g = m.send(role, "GET", url)
                expected_get = 200 if rule.may_get(role) and scope == "param-in" else 404 if rule.may_get(role) else 403
                m.check(name, role, scope, "GET", url, str(expected_get), g, ok=g.status == expected_get)
    elif name == "visits:cards":
        grids = w.objects["households.grid"]
        for role in ROLES[:-1]:
            own = getattr(w.users[role], "cadre", None)  # a district's reader has none
            outs = {k: w.cadres[k] for k in OUT[role] if w.cadres[k] != own}
            mine = [("param-in", own)] if own is not None else []
            for scope, cadre in mine + [(f"param-out:{k}", c) for k, c in outs.items()]:
                url = reverse(name) + f"?cadre={cadre.pk}"
                r = m.send(role, "GET", url)
                expected = 200 if scope == "param-in" else 404
                m.check(name, role, scope, "GET", url, str(expected), r, ok=r.status == expected and unchanged(r))
                if scope != "param-in":  # 已发放 of another node's cadre: refused as a missing one
                    r = m.send(role, "POST", url, POST_BODY[name](w, None))
                    m.check(
                        name, role, scope, "POST", url, "404, nothing changed", r, ok=r.status == 404 and unchanged(r)
                    )
            # A grid: the whole grid for node-wide roles, one's own households in it for the others; another
            # node's answers 404 (the handler works street-wide: only the second street's is another node's).
            outs = ("x",) if role == DEPARTMENT_HANDLER else OUT[role]
            for scope, grid in [(f"param-out:{k}", grids[k]) for k in outs]:
                url = reverse(name) + f"?grid={grid.pk}"
                for method in ("GET", "POST"):
                    r = m.send(role, method, url, POST_BODY[name](w, None) if method == "POST" else None)
                    m.check(
                        name, role, scope, method, url, "404, nothing changed", r, ok=r.status == 404 and unchanged(r)
                    )
    elif name == "reports:findings":
        for role in ROLES[:-1]:
            for scope, visit in (("param-in", w.visits["a"]), ("param-out:x", w.visits["x"])):
                url = reverse(name)
                data = {**POST_BODY[name](w, None), "visit": visit.pk}
                r = m.send(role, "POST", url, data)
                if role != STREET_ADMIN:
                    m.check(
                        name, role, scope, "POST", url, "403, nothing changed", r, ok=r.status == 403 and unchanged(r)
                    )
                elif scope == "param-in":
                    m.check(
                        name,
                        role,
                        scope,
                        "POST",
                        url,
                        "the finding recorded",
                        r,
                        ok=r.status == 302 and bool(r.changed),
                    )
                else:
                    m.check(
                        name,
                        role,
                        scope,
                        "POST",
                        url,
                        "a form error, nothing changed",
                        r,
                        ok=r.status in (200, 404) and unchanged(r) and not r.succeeded,
                    )
    elif name == "reports:phone_checks":
        for role in ROLES[:-1]:
            for scope, community in [(f"param-out:{k}", w.communities[k]) for k in OUT[role] if k in ("c", "x")]:
                url = reverse(name)
                r = m.send(role, "POST", url, {"community": community.pk, "size": 1})
                m.check(
                    name,
                    role,
                    scope,
                    "POST",
                    url,
                    "refused or a form error, nothing changed",
                    r,
                    ok=r.status in (200, 403, 404) and unchanged(r) and not r.succeeded,
                )
    elif name == "issues:merge":
        for role in ROLES[:-1]:
            url = reverse(name, args=[w.issue_reg.pk])
            r = m.send(role, "POST", url, {"into": w.issues["x"].pk, "version": w.issue_reg.version, "note": ""})
            m.check(
                name,
                role,
                "param-out:x",
                "POST",
                url,
                "refused, nothing changed",
                r,
                ok=r.status in (200, 302, 403, 404) and unchanged(r) and not r.succeeded,
            )
    elif name in ("reports:dashboard", "reports:unvisited", "reports:visits", "reports:followups", "reports:behind"):
        for role in ROLES[:-1]:
            for scope, query in (("param-out:x", {"campaign": w.campaign_x.pk, "community": w.cx.pk}),
                                 ("param-out:c", {"community": w.c2.pk})):  # fmt: skip
                if scope == "param-out:c" and "c" not in OUT[role]:
                    continue
                r = m.send(role, "GET", reverse(name), query)
                may = access.REGISTRY[name].may_get(role)
                m.check(
                    name,
                    role,
                    scope,
                    "GET",
                    reverse(name),
                    "200 without another node's data" if may else "403",
                    r,
                    ok=(r.status in (200, 404)) if may else r.status == 403,
                )


PARAM_SCOPED = {"issues:new", "visits:cards", "reports:findings", "reports:phone_checks", "issues:merge",
                "reports:dashboard", "reports:unvisited", "reports:visits", "reports:followups", "reports:behind",
                "reports:issues", "reports:cadre"}  # fmt: skip


# ================================================================================================ the admin

ADMIN_MODEL_ROUTE = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/(?P<rest>.*)$")

# What each kind of admin URL needs: the permission to GET, to POST (None: POST writes nothing
# there, it is not checked), whether it takes an object id, and where a POST carries ids.
ADMIN_KINDS = {
    "": ("changelist", "view", "delete", False),  # POST: the delete_selected action on the ids in the form
    "add/": ("add", "add", "add", False),
    "<path:object_id>/history/": ("history", "view", None, True),
    "<path:object_id>/delete/": ("delete", "delete", "delete", True),
    "<path:object_id>/change/": ("change", "view", "change", True),
    "<path:object_id>/": ("redirect", "staff", None, True),
    "<id>/password/": ("password", "change", "change", True),
    "export/": ("export", "export", "export", False),
    "import/": ("import", "import", "import", False),
    "import/confirm/": ("import_confirm", "import", "import", False),
    # The preview's column mapping: POST re-checks the pending upload (GET goes back to the form).
    "import/columns/": ("import_columns", "import", "import", False),
    "import/template/": ("import_template", "import", None, False),
    # The register import's jobs: ?job=<id> in the query (none: back to the import form), the
    # user's own jobs only (tested in households/tests/test_import_large.py).
    "import/job/": ("import_job", "import", None, False),
    "import/errors/": ("import_errors", "import", None, False),
    "process_import/": ("process_import", "post_only", "import", False),
    "<int:pk>/allocation/": ("allocation", "view", "allocate", True),
    # A background job started from the admin (core/admin_jobs.py): ?job=<id> in the query (none: back
    # to the list), the user's own jobs only (tested in visitplan/tests/test_admin_jobs.py).
    "job/": ("job", "view_only", None, False),
    # 显示完整信息 in the admin: POST only, by the roles with 查看完整信息 (households/admin/pii.py).
    "<path:object_id>/reveal/": ("reveal", "post_only", "reveal", True),
    # A cadre's 登录账号 page (visitplan/admin.py, rules in visitplan/accounts.py): who may change the cadre.
    "<path:object_id>/account/": ("account", "change", "change", True),
    "bulk/": ("bulk", "add_change", "add_change", False),
    "coverage/": ("coverage", "view_only", None, False),
}
ADMIN_SITE_VIEWS = {
    "admin:index", "admin:login", "admin:logout", "admin:password_change", "admin:password_change_done",
    "admin:autocomplete", "admin:jsi18n", "admin:view_on_site", "admin:app_list", None,
}  # fmt: skip


def admin_model_of(p: Pattern):
    m = ADMIN_MODEL_ROUTE.match(p.route)
    if not m:
        return None, None, None
    try:
        model = apps.get_model(m["app"], m["model"])
    except LookupError:
        return None, None, None
    return model, admin.site._registry.get(model), m["rest"]


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)  # no cached roles or permissions


def admin_may(model_admin, perm, user, obj=None) -> bool:
    """The admin's own answer (ModelAdmin.has_*_permission) for ``user``: the expectation."""
    from visitplan.admin import can_allocate

    request = RequestFactory().get("/admin/")
    request.user = fresh(user)
    if not request.user.is_staff or not request.user.is_active:
        return False
    ma = model_admin
    if perm in ("staff", "post_only"):
        return True
    if perm == "view":
        return ma.has_view_or_change_permission(request, obj)
    if perm == "view_only":
        return ma.has_view_permission(request)
    if perm == "add":
        return ma.has_add_permission(request)
    if perm == "change":
        return ma.has_change_permission(request, obj)
    if perm == "delete":
        return ma.has_delete_permission(request, obj)
    if perm == "add_change":
        return ma.has_add_permission(request) and ma.has_change_permission(request)
    if perm == "export":
        return getattr(ma, "has_export_permission", ma.has_view_permission)(request)
    if perm == "import":
        if hasattr(ma, "has_import_permission"):
            return ma.has_import_permission(request)
        return ma.has_add_permission(request) and ma.has_change_permission(request)
    if perm == "reveal":
        from households.masking import can_view_full_pii

        return ma.has_view_or_change_permission(request, obj) and can_view_full_pii(request.user)
    if perm == "allocate":
        return ma.has_change_permission(request, obj) and (obj is None or can_allocate(request.user, obj))
    raise AssertionError(perm)


def admin_obj_url(p: Pattern, pk) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", str(pk), p.route)


def admin_kind(ma, rest):
    kind = ADMIN_KINDS[rest]
    if kind[0] == "export" and not hasattr(ma, "has_export_permission"):
        # HouseholdAdmin's own export: the change list's (scoped) rows, the same on GET and POST.
        return ("register_export", "view_only", None, False)
    return kind


def check_admin_model_pattern(m: Matrix, p: Pattern):
    w = m.w
    model, ma, rest = admin_model_of(p)
    assert model is not None and ma is not None, f"{p.key}: not a ModelAdmin URL; classify it in ADMIN_SITE_VIEWS"
    assert rest in ADMIN_KINDS, f"{p.key}: a new kind of admin view ({rest!r}); declare what it needs in ADMIN_KINDS"
    kind, get_perm, post_perm, takes_id = admin_kind(ma, rest)
    label = model._meta.label_lower
    assert label in w.objects, f"{p.key}: no object of {label} in the matrix world (tests/fixtures/matrix.py)"
    for role in ROLES:
        user = w.users.get(role)
        staff = user is not None and user.is_staff
        home, outs = objects_in_and_out(w, role, label)
        for method in ("GET", "POST"):
            perm = get_perm if method == "GET" else post_perm
            if perm is None:
                continue  # this view writes nothing on POST
            body_ids = kind in ("changelist", "export") and method == "POST"
            if takes_id or body_ids:
                targets = [("missing", None), ("in", home)] + [(f"out:{k}", o) for k, o in outs.items()]
            else:
                targets = [("none", home)]
            missing = None
            for scope, obj in targets:
                pk = obj.pk if obj is not None else MISSING_ID
                url = admin_obj_url(p, pk) if takes_id else admin_obj_url(p, 0)
                r = m.send(role, method, url, _admin_body(kind, pk) if method == "POST" else None)
                if not staff:
                    m.check(
                        p.key,
                        role,
                        scope,
                        method,
                        url,
                        "302 to the admin login, nothing changed",
                        r,
                        ok=r.to_login and unchanged(r),
                    )
                    continue
                may = admin_may(ma, perm, user, obj if takes_id else None)
                if scope == "missing" and body_ids:
                    m.check(p.key, role, scope, method, url, "nothing changed", r, ok=unchanged(r) and not r.succeeded)
                elif scope == "missing":
                    missing = r
                    m.check(
                        p.key,
                        role,
                        scope,
                        method,
                        url,
                        "not found (or 403 without the permission)",
                        r,
                        ok=r.status in (302, 403, 404) and not r.to_login and unchanged(r) and not r.succeeded,
                    )
                elif scope.startswith("out") and takes_id:
                    m.check(
                        p.key,
                        role,
                        scope,
                        method,
                        url,
                        f"the missing id's answer ({missing.show()})",
                        r,
                        ok=same_answer(r, missing, pk),
                    )
                elif scope.startswith("out"):  # ids in the form: the list's queryset is scoped
                    m.check(p.key, role, scope, method, url, "nothing changed", r, ok=unchanged(r) and not r.succeeded)
                elif get_perm == "post_only" and method == "GET":
                    m.check(p.key, role, scope, method, url, "405 (POST only)", r, ok=r.status == 405)
                elif kind == "changelist" and method == "POST" and not may:
                    # Without the delete permission the action is not offered: the list again, or a warning.
                    m.check(
                        p.key,
                        role,
                        scope,
                        method,
                        url,
                        "the action refused, nothing changed",
                        r,
                        ok=r.status in (200, 302, 403) and not r.to_login and unchanged(r) and not r.succeeded,
                    )
                elif method == "GET":
                    m.check(
                        p.key,
                        role,
                        scope,
                        method,
                        url,
                        "200 (or a redirect)" if may else "403",
                        r,
                        ok=allowed_ok(r) if may else r.status == 403,
                    )
                elif may:
                    m.check(
                        p.key, role, scope, method, url, "accepted", r, ok=r.status not in (403, 404) and not r.to_login
                    )
                else:
                    m.check(p.key, role, scope, method, url, "refused (403 or a redirect with a warning), nothing changed", r,
                            ok=refused(r))  # fmt: skip


def _admin_body(kind, pk):
    if kind == "changelist":
        return {"action": "delete_selected", "_selected_action": [pk], "post": "yes"}
    if kind == "delete":
        return {"post": "yes"}
    if kind == "export":
        return {"format": "0", "export_items": [pk]}
    return {}


def check_admin_site_pattern(m: Matrix, p: Pattern):
    w = m.w
    for role in ROLES:
        user = w.users.get(role)
        staff = user is not None and user.is_staff
        if p.name == "admin:app_list":
            for app_label in re.search(r"\(\?P<app_label>([^)]*)\)", p.route).group(1).split("|"):
                url = reverse("admin:app_list", kwargs={"app_label": app_label})
                r = m.send(role, "GET", url)
                if not staff:
                    m.check(p.key, role, app_label, "GET", url, "302 to the admin login", r, ok=r.to_login)
                    continue
                request = RequestFactory().get("/admin/")
                request.user = fresh(user)
                expected = 200 if admin.site._build_app_dict(request, app_label) else 404
                m.check(p.key, role, app_label, "GET", url, str(expected), r, ok=r.status == expected)
            continue
        if p.name == "admin:view_on_site":
            from django.contrib.contenttypes.models import ContentType

            ct = ContentType.objects.get_for_model(type(w.ha))
            for scope, pk in (("in", w.households[HOME[role]].pk), ("out:x", w.hx.pk), ("missing", MISSING_ID)):
                url = reverse("admin:view_on_site", args=[ct.pk, pk])
                r = m.send(role, "GET", url)
                m.check(p.key, role, scope, "GET", url, "404 (no object has a page)" if staff else "302 to the admin login", r,
                        ok=r.status == 404 if staff else r.to_login)  # fmt: skip
            continue
        url, data, posts = {
            "admin:index": (reverse("admin:index"), None, False),
            "admin:login": (reverse("admin:login"), None, False),
            "admin:logout": (reverse("admin:logout"), {}, True),
            "admin:password_change": (reverse("admin:password_change"), {}, True),
            "admin:password_change_done": (reverse("admin:password_change_done"), None, False),
            "admin:autocomplete": (reverse("admin:autocomplete") + "?app_label=visitplan&model_name=cadre&field_name=scope&term=",
                                   None, False),
            "admin:jsi18n": (reverse("admin:jsi18n"), None, False),
            None: ("/admin/matrix-no-such-page/", None, False),
        }[p.name]  # fmt: skip
        for method in ("GET", "POST") if posts else ("GET",):
            r = m.send(role, method, url, data if method == "POST" else None)
            if p.name == "admin:login":
                ok = r.status == 200 if not staff else (r.status == 302 and r.location.startswith("/admin/"))
                m.check(p.key, role, "none", method, url, "the login page (staff: to the index)", r, ok=ok)
            elif p.name == "admin:logout":
                if method == "GET":
                    ok = r.status == 405 if staff else r.status == 302
                else:
                    ok = r.status in (200, 302)
                m.check(p.key, role, "none", method, url, "logout: POST only", r, ok=ok)
            elif not staff:
                m.check(
                    p.key,
                    role,
                    "none",
                    method,
                    url,
                    "302 to the admin login, nothing changed",
                    r,
                    ok=r.to_login and unchanged(r),
                )
            elif p.name is None:
                m.check(p.key, role, "none", method, url, "404", r, ok=r.status == 404)
            elif p.name == "admin:autocomplete":
                from households.models import Node

                request = RequestFactory().get("/admin/")
                request.user = fresh(user)
                may = admin.site._registry[Node].has_view_permission(request)
                m.check(
                    p.key,
                    role,
                    "none",
                    method,
                    url,
                    "200 JSON" if may else "403",
                    r,
                    ok=r.status == (200 if may else 403),
                )
            elif method == "POST":
                m.check(
                    p.key,
                    role,
                    "none",
                    method,
                    url,
                    "a form error, nothing changed",
                    r,
                    ok=r.status == 200 and unchanged(r),
                )
            else:
                m.check(p.key, role, "none", method, url, "200", r, ok=r.status == 200)


# ================================================================================================ the tests


@pytest.fixture
def access_middleware(settings):
    if MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


def _groups():
    """The parametrisation: one test per app URL name, one per admin model, one for the admin site."""
    groups = {}
    for p in APP_PATTERNS:
        groups.setdefault(p.key, []).append(p)
    for p in ADMIN_PATTERNS:
        model, _ma, _rest = admin_model_of(p)
        key = f"admin:{model._meta.label_lower}" if model is not None else "admin:site"
        groups.setdefault(key, []).append(p)
    return groups


GROUPS = _groups()


def test_every_url_pattern_is_declared():
    """A new URL pattern fails here until visitplan/access.py says who may use it."""
    missing = undeclared(PATTERNS)
    assert not missing, "URL patterns without a declaration in visitplan/access.py: " + ", ".join(missing)
    names = {p.name for p in PATTERNS if p.name}
    stale = sorted(set(access.REGISTRY) - names)
    assert not stale, f"declared in visitplan/access.py but no such URL: {stale}"
    for p in APP_PATTERNS:
        rule = p.rule
        assert rule.scope is None or "<int:pk>" in p.route, f"{p.key}: declares an object id its route does not take"
        assert rule.scope is not None or "<int:pk>" not in p.route, f"{p.key}: takes an id; declare its scope"


def test_the_walk_finds_every_kind_of_pattern():
    keys = {p.key for p in PATTERNS}
    for name in ("home", "households:detail", "reports:hardship_plan", "issues:act", "notifications:open",
                 "admin:index", "admin:households_household_change", "admin:visitplan_campaign_allocation"):  # fmt: skip
        assert name in keys
    assert any(p.name is None and p.is_admin for p in PATTERNS)  # the admin's unnamed redirects are walked too


def _dummy_view(request):
    return HttpResponse("dummy")


def _urlconf_with_undeclared():
    import types

    from visitplan import urls as project_urls

    module = types.ModuleType("matrix_dummy_urls")
    module.urlpatterns = [
        *project_urls.urlpatterns,
        path("matrix-dummy/", _dummy_view, name="matrix_dummy"),
        path("matrix-unnamed/", _dummy_view),
        path("matrix-ns/", include(([path("x/", _dummy_view, name="x")], "matrix_ns"))),
    ]
    return module


def test_a_new_url_pattern_without_declaration_is_denied(world, client, settings):
    """Deny by default: the walk reports the new patterns, and the middleware answers 404 for them."""
    module = _urlconf_with_undeclared()
    assert set(undeclared(url_patterns(module))) == {"matrix_dummy", "<unnamed> matrix-unnamed/", "matrix_ns:x"}
    client.force_login(world.admin)
    with override_settings(ROOT_URLCONF=module):
        # Without the middleware the dummy views answer ...
        with_it = list(settings.MIDDLEWARE)
        settings.MIDDLEWARE = [m for m in with_it if m != MIDDLEWARE]
        assert client.get("/matrix-dummy/").status_code == 200
        settings.MIDDLEWARE = with_it if MIDDLEWARE in with_it else [*with_it, MIDDLEWARE]
        client = Client()  # a client builds its middleware chain once
        client.force_login(world.admin)
        # ... with it, nothing undeclared does, for any user; declared pages still work.
        for url in ("/matrix-dummy/", "/matrix-unnamed/", "/matrix-ns/x/"):
            assert client.get(url).status_code == 404, url
            assert client.post(url).status_code == 404, url
            assert Client().get(url).status_code == 404, url
        assert client.get("/households/").status_code == 200
        assert client.get("/admin/").status_code == 200


def test_the_middleware_refuses_methods_a_page_does_not_declare(world, client, access_middleware):
    client.force_login(world.worker_a)
    assert client.get(reverse("households:list")).status_code == 200
    assert client.post(reverse("households:list")).status_code == 405  # a page that only reads
    assert client.get(reverse("notifications:read_all")).status_code == 405  # POST only
    assert client.post(reverse("notifications:read_all")).status_code == 302


def check_group(m: Matrix, group):
    for p in GROUPS[group]:
        if not p.is_admin:
            check_app_pattern(m, p)
            if p.name in PARAM_SCOPED:
                check_param_scopes(m, p.name)
        elif group == "admin:site":
            check_admin_site_pattern(m, p)
        else:
            check_admin_model_pattern(m, p)


@pytest.mark.parametrize("group", list(GROUPS), ids=list(GROUPS))
def test_permission_matrix(group, mw, access_middleware):
    m = Matrix(mw)
    check_group(m, group)
    m.report()


def test_leaders_may_write_nothing_in_the_admin(mw):
    """DESIGN: leaders read. No ModelAdmin lets the leader role add, change or delete anything."""
    request = RequestFactory().get("/admin/")
    request.user = fresh(mw.leader)
    writes = [
        f"{model._meta.label_lower}.{what}"
        for model, ma in admin.site._registry.items()
        for what, may in (
            ("add", ma.has_add_permission(request)),
            ("change", ma.has_change_permission(request)),
            ("delete", ma.has_delete_permission(request)),
        )  # fmt: skip
        if may
    ]
    assert not writes


def test_only_staff_roles_enter_the_admin(mw):
    assert {role for role, user in mw.users.items() if user.is_staff} == {STREET_ADMIN, LEADER, SECRETARY}


# ================================================================================================ revoking


@pytest.mark.parametrize("how", ["group_removed", "cadre_deactivated", "user_deactivated"])
def test_revoking_a_role_takes_effect_on_the_next_request(mw, access_middleware, how):
    """A logged-in grid worker loses the role (or the cadre leaves, or the account is disabled):
    the very next request is denied — nothing about the role is kept in the session."""
    from django.contrib.auth.models import Group

    w = mw
    client = Client()
    client.force_login(w.worker_a)
    detail = reverse("households:detail", args=[w.ha.pk])
    visit = reverse("visits:visit", args=[w.ha.pk])
    issue = reverse("issues:detail", args=[w.issue_reg.pk])
    assert client.get(detail).status_code == 200
    assert client.get(visit).status_code == 200
    assert client.get(issue).status_code == 200
    assert "张甲" in client.get(reverse("households:list")).content.decode()

    user = get_user_model().objects.get(pk=w.worker_a.pk)
    if how == "group_removed":
        user.groups.remove(Group.objects.get(name=CADRE))
    elif how == "cadre_deactivated":
        cadre = user.cadre
        cadre.active = False
        cadre.save()
    else:
        user.is_active = False
        user.save()

    if how == "user_deactivated":
        response = client.get(detail)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
        return
    assert client.get(detail).status_code == 404
    assert client.get(issue).status_code == 404
    assert client.get(visit).status_code in (403, 404)
    assert "张甲" not in client.get(reverse("households:list")).content.decode()
    data = visit_form()
    before = w.ha.visits.count()
    assert client.post(visit, data).status_code in (403, 404)
    assert w.ha.visits.count() == before


def test_a_deactivated_department_handler_loses_the_issues_routed_or_assigned_to_him(mw, access_middleware):
    w = mw
    client = Client()
    client.force_login(w.handler)
    routed = reverse("issues:detail", args=[w.issue_routed.pk])  # the department's, and assigned to him
    assert client.get(routed).status_code == 200
    cadre = w.handler.cadre
    cadre.active = False
    cadre.save()
    assert client.get(routed).status_code == 404
    assert client.get(reverse("issues:act", args=[w.issues["c"].pk, "post_plan"])).status_code == 405
    before = w.issues["c"].version
    client.post(reverse("issues:act", args=[w.issues["c"].pk, "post_plan"]), {"version": before, "plan": "方案"})
    w.issues["c"].refresh_from_db()
    assert w.issues["c"].version == before


def test_revoking_a_staff_role_closes_the_admin_on_the_next_request(mw, access_middleware):
    from django.contrib.auth.models import Group

    w = mw
    client = Client()
    client.force_login(w.secretary)
    change = reverse("admin:households_household_change", args=[w.ha.pk])
    assert client.get(change).status_code == 200
    w.secretary.groups.remove(Group.objects.get(name=SECRETARY))
    assert client.get(change).status_code in (302, 403)  # not in the (now empty) queryset, or no permission
    assert client.get(reverse("admin:households_household_changelist")).status_code == 403
    get_user_model().objects.filter(pk=w.secretary.pk).update(is_staff=False)
    response = client.get(change)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# ================================================================================================ the count


def test_matrix_size(mw, capsys):
    """The size and coverage of the matrix, planned from the URL conf for every group (without the
    requests, so ``-k`` changes nothing here): every URL pattern is in exactly one test, every
    (role × view) pair is checked, and every view that takes an object id is tried by every role
    with an object of the second street and a missing id."""
    roles = len(ROLES)
    assert len(APP_PATTERNS) >= 40 and len(ADMIN_PATTERNS) >= 200
    grouped = [p for patterns in GROUPS.values() for p in patterns]
    assert sorted(grouped, key=repr) == sorted(PATTERNS, key=repr), "GROUPS must hold every URL pattern once"

    plan = Plan(mw)
    for group in GROUPS:
        check_group(plan, group)
    pairs = {(p.key, role) for p in PATTERNS for role in ROLES}
    covered = {(view, role) for view, role, _scope in plan.triples}
    assert not pairs - covered, f"(view, role) pairs the matrix does not check: {sorted(pairs - covered)}"
    unscoped = [
        (p.key, role, scope)
        for p in APP_PATTERNS
        if p.rule.scope is not None
        for role in ROLES
        for scope in ("out:x",) + (("missing",) if role != ANONYMOUS else ())
        if (p.key, role, scope) not in plan.triples
    ]
    assert not unscoped, f"views with an object id not tried with another node's or a missing id: {unscoped}"
    assert len(plan.triples) > len(pairs) and plan.checks >= len(plan.triples)
    with capsys.disabled():
        print(
            f"\npermission matrix: {len(PATTERNS)} URL patterns ({len(APP_PATTERNS)} pages, {len(ADMIN_PATTERNS)} admin) "
            f"in {len(GROUPS)} tests, {roles} roles: {len(pairs)} (role × view) pairs, all checked; "
            f"{len(plan.triples)} (role × view × scope) triples, {plan.checks} checks (× method and id)"
        )
