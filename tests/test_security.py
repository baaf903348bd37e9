"""Logins and deployment hardening: django-axes lockouts per (username, address), the same answer
for an unknown account and a wrong password, idle and absolute session timeouts
(core/sessions.py), the password rules, the production security headers and
Content-Security-Policy (core/security.py), and `check --deploy` with production values."""

import datetime
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from core import security, sessions
from core.http import client_ip

BASE_DIR = Path(settings.BASE_DIR)
GOOD_PASSWORD = "Hutian-zoufang-2026"


@pytest.fixture
def people(db):
    return {
        "zhang": User.objects.create_user("zhang", password=GOOD_PASSWORD),
        "li": User.objects.create_user("li", password=GOOD_PASSWORD),
    }


def log_in(client, username, password, ip="10.1.1.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def strip_variable(html, *words):
    """The page without its CSRF token and the echoed username."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken" value=""', html)
    for word in words:
        html = html.replace(word, "<username>")
    return html


# --- lockout ------------------------------------------------------------------------------------


def test_lockout_is_per_username_and_address(client, people):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5 and settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    for _ in range(limit - 1):
        assert log_in(client, "zhang", "wrong-password").status_code == 200
    locked = log_in(client, "zhang", "wrong-password")
    assert locked.status_code == 429
    # Now even the right password from that address is refused, before it is checked.
    refused = log_in(client, "zhang", GOOD_PASSWORD)
    assert refused.status_code == 429 and "_auth_user_id" not in client.session
    text = refused.content.decode()
    assert "登录失败次数过多" in text and f"{settings.AXES_COOLOFF_TIME.seconds // 60} 分钟后再试" in text
    assert "街道管理员" in text

    # The same cadre from another address (her phone on mobile data) still logs in …
    other_ip = Client()
    assert log_in(other_ip, "zhang", GOOD_PASSWORD, ip="10.2.2.2").status_code == 302
    # … and a colleague behind the same office NAT is not locked out either.
    colleague = Client()
    assert log_in(colleague, "li", GOOD_PASSWORD, ip="10.1.1.1").status_code == 302


def test_a_normalised_username_counts_towards_the_same_lock(client, people):
    """The login form folds full-width letters (NFKC) before authenticating; so must the counter."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "zhang", "wrong-password")
    assert log_in(client, "ｚｈａｎｇ", "wrong-password").status_code == 429
    assert log_in(client, "zhang", GOOD_PASSWORD).status_code == 429


def test_a_success_resets_the_failures(client, people):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "zhang", "wrong-password")
    assert log_in(client, "zhang", GOOD_PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "zhang", "wrong-password").status_code == 200
    assert log_in(client, "zhang", GOOD_PASSWORD).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, people):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "zhang", "wrong-password")
    assert log_in(client, "zhang", GOOD_PASSWORD).status_code == 429
    # Half an hour later (the attempts moved back past the cool-off) the right password works.
    past = settings.AXES_COOLOFF_TIME + datetime.timedelta(seconds=5)
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - past)
    assert log_in(client, "zhang", GOOD_PASSWORD).status_code == 302


def test_a_tiny_cool_off_setting_is_honoured(client, people, settings):
    settings.AXES_COOLOFF_TIME = datetime.timedelta(microseconds=1)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "zhang", "wrong-password")
    assert log_in(client, "zhang", GOOD_PASSWORD).status_code == 302


def test_the_lockout_page_says_nothing_about_the_account(client, people):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "zhang", "wrong-password")
        log_in(client, "ghost", "wrong-password")
    known = log_in(client, "zhang", "wrong-password")
    unknown = log_in(client, "ghost", "wrong-password")
    assert known.status_code == unknown.status_code == 429
    assert strip_variable(known.content.decode(), "zhang") == strip_variable(unknown.content.decode(), "ghost")
    assert "zhang" not in known.content.decode()


def test_unknown_user_and_wrong_password_get_the_same_answer(client, people):
    User.objects.create_user("wang", password=GOOD_PASSWORD, is_active=False)
    wrong = log_in(client, "zhang", "wrong-password")
    unknown = log_in(client, "nobody1", "wrong-password")
    inactive = log_in(client, "wang", GOOD_PASSWORD)
    assert wrong.status_code == unknown.status_code == inactive.status_code == 200
    assert "用户名或密码不正确" in wrong.content.decode()
    bodies = {
        strip_variable(r.content.decode(), name)
        for r, name in ((wrong, "zhang"), (unknown, "nobody1"), (inactive, "wang"))
    }
    assert len(bodies) == 1


def test_the_admin_login_is_guarded_too(client, people):
    people["zhang"].is_staff = True
    people["zhang"].save()
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "zhang", "password": "wrong-password"}, REMOTE_ADDR="10.3.3.3")
    response = client.post(url, {"username": "zhang", "password": GOOD_PASSWORD}, REMOTE_ADDR="10.3.3.3")
    assert response.status_code == 429 and "登录失败次数过多" in response.content.decode()


def test_client_ip_behind_a_proxy(rf, settings):
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 10.9.8.7")
    assert client_ip(request) == "127.0.0.1"
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    # The right-most entry is the one the proxy appended; the client wrote the ones to its left.
    assert client_ip(request) == "10.9.8.7"
    assert client_ip(rf.get("/", REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"


# --- session timeouts ---------------------------------------------------------------------------


class Clock:
    def __init__(self, start=1_800_000_000):
        self.t = start

    def __call__(self):
        return self.t

    def advance(self, **delta):
        self.t += datetime.timedelta(**delta).total_seconds()


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(sessions, "now", c)
    return c


def test_idle_timeout(client, people, clock):
    client.force_login(people["zhang"])
    assert client.get("/notifications/").status_code == 200
    clock.advance(minutes=settings.SESSION_IDLE_MINUTES - 1)
    assert client.get("/notifications/").status_code == 200
    clock.advance(minutes=settings.SESSION_IDLE_MINUTES - 1)  # idle less than the limit since the last request
    assert client.get("/notifications/").status_code == 200
    clock.advance(minutes=settings.SESSION_IDLE_MINUTES)
    response = client.get("/notifications/?page=2")
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/notifications/%3Fpage%3D2"
    page = client.get(response["Location"]).content.decode()
    assert f"已超过 {settings.SESSION_IDLE_MINUTES} 分钟没有操作" in page
    assert "_auth_user_id" not in client.session
    assert client.get("/notifications/").status_code == 302


def test_absolute_timeout(client, people, clock):
    client.force_login(people["zhang"])
    hours = settings.SESSION_ABSOLUTE_HOURS
    assert settings.SESSION_COOKIE_AGE == hours * 3600
    steps = 0
    while True:
        clock.advance(minutes=20)
        steps += 1
        response = client.get("/notifications/")
        if response.status_code != 200:
            break
    # Busy all day (a request every 20 minutes): logged out exactly at the limit.
    assert steps == hours * 3
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert f"登录已超过 {hours} 小时" in client.get(response["Location"]).content.decode()


def test_last_seen_is_written_at_most_once_a_minute(client, people, clock):
    client.force_login(people["zhang"])
    start = client.session[sessions.SEEN_AT]
    assert client.session[sessions.LOGIN_AT] == start == clock.t
    clock.advance(seconds=30)
    client.get("/notifications/")
    assert client.session[sessions.SEEN_AT] == start  # not rewritten: no session save for it
    clock.advance(seconds=31)
    client.get("/notifications/")
    assert client.session[sessions.SEEN_AT] == clock.t


def test_a_script_request_after_the_timeout_gets_403(client, people, clock):
    """The visit form posts through fetch: 403 makes it say "登录已过期" and keep the draft."""
    client.force_login(people["zhang"])
    clock.advance(minutes=settings.SESSION_IDLE_MINUTES + 1)
    response = client.post("/notifications/", {}, HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 403 and "请重新登录" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_post_after_the_timeout_is_not_run_and_returns_to_its_page(client, people, clock):
    client.force_login(people["zhang"])
    clock.advance(hours=settings.SESSION_ABSOLUTE_HOURS, minutes=1)
    response = client.post("/notifications/", {}, HTTP_REFERER="http://testserver/issues/7/?tab=log")
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/issues/7/%3Ftab%3Dlog"
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "method, path, referer",
    [("get", "/login/", ""), ("post", "/logout/", ""), ("post", "/notifications/", "https://evil.example/x/")],
)
def test_after_the_timeout_no_odd_return_page(client, people, clock, method, path, referer):
    client.force_login(people["zhang"])
    clock.advance(minutes=settings.SESSION_IDLE_MINUTES + 1)
    extra = {"HTTP_REFERER": referer} if referer else {}
    response = getattr(client, method)(path, **extra)
    assert response.status_code == 302 and response["Location"] == reverse("login")


def test_a_session_from_before_the_middleware_is_stamped(client, people, clock):
    client.force_login(people["zhang"])
    s = client.session
    del s[sessions.LOGIN_AT], s[sessions.SEEN_AT]
    s.save()
    assert client.get("/notifications/").status_code == 200
    assert client.session[sessions.LOGIN_AT] == clock.t


# --- passwords ----------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["12345678", "1234567890", "abc12", "password123", "zhang20260"])
def test_weak_passwords_are_refused(password, db):
    user = User(username="zhang20260")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_password_is_accepted(db):
    validate_password(GOOD_PASSWORD, User(username="zhang"))


# --- headers and Content-Security-Policy --------------------------------------------------------


def production_env(**extra):
    # Nothing of this test run's environment that production would not have (the browser fixture
    # sets DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly refuses).
    skip = ("SECURE_", "CSP_", "SESSION_", "AXES_", "CLIENT_IP_", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="visit.example.gov.cn",
        DATABASE_URL="sqlite://:memory:",
        DJANGO_SETTINGS_MODULE="visitplan.settings",
    )
    env.update(extra)
    return env


def run(args, env):
    return subprocess.run(args, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)


PROBE = """
import json, django
django.setup()
from django.test import Client
c = Client(HTTP_HOST="visit.example.gov.cn")
plain = c.get("/login/")
secure = c.get("/login/", secure=True)
cookies = {k: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"])} for k, m in secure.cookies.items()}
print(json.dumps({"plain": [plain.status_code, plain.get("Location", "")], "status": secure.status_code,
                  "headers": dict(secure.headers), "cookies": cookies}))
"""


def test_production_settings_send_the_security_headers():
    done = run([sys.executable, "-c", PROBE], production_env())
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["plain"] == [301, "https://visit.example.gov.cn/login/"]
    assert got["status"] == 200
    h = got["headers"]
    assert h["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"
    assert h["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert got["cookies"]["csrftoken"] == {"secure": True, "httponly": True}


def test_behind_a_tls_proxy_the_forwarded_scheme_counts():
    env = production_env(SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    probe = PROBE.replace(
        'secure = c.get("/login/", secure=True)', 'secure = c.get("/login/", HTTP_X_FORWARDED_PROTO="https")'
    )
    done = run([sys.executable, "-c", probe], env)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["plain"][0] == 301 and got["status"] == 200
    assert "Strict-Transport-Security" in got["headers"]


DEPLOY_CHECK = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]


def test_check_deploy_is_clean_with_production_values():
    done = run(DEPLOY_CHECK, production_env())
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "extra, warning",
    [
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECURE_SSL_REDIRECT": "false"}, "security.W008"),
        ({"SECRET_KEY": "dev-only-insecure-key-change-me-in-production"}, "security.W009"),
        ({"DEBUG": "true"}, "security.W018"),
    ],
)
def test_check_deploy_fails_on_a_weakened_setting(extra, warning):
    done = run(DEPLOY_CHECK, production_env(**extra))
    assert done.returncode != 0 and warning in done.stdout + done.stderr


@pytest.fixture
def csp_pages(world, client):
    client.force_login(world.admin)
    return client


@pytest.mark.parametrize(
    "path",
    ["/", "/visits/", "/households/", "/issues/", "/reports/", "/notifications/", "/admin/", "/no-such-page/"],
)
def test_every_page_type_carries_the_policy(csp_pages, path):
    response = csp_pages.get(path)
    assert response.status_code in (200, 302, 404)
    policy = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    script = re.search(r"script-src ([^;]*)", policy).group(1).split()
    assert script[0] == "'self'" and "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert all(s.startswith("'sha256-") or s == "'unsafe-hashes'" for s in script[1:])
    assert response["X-Frame-Options"] == "DENY"


def test_login_and_lockout_pages_carry_the_policy(client, people):
    assert "Content-Security-Policy" in client.get(reverse("login"))
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = log_in(client, "zhang", "wrong-password")
    assert response.status_code == 429 and "script-src 'self'" in response["Content-Security-Policy"]


def template_files():
    """Every template of the project (project folder and the apps), by template name."""
    roots = [BASE_DIR / "templates"] + [
        BASE_DIR / app / "templates" for app in ("households", "issues", "reports", "visits", "visitplan")
    ]
    for root in roots:
        for path in sorted(root.rglob("*.html")):
            yield str(path.relative_to(root)), path.read_text(encoding="utf-8")


def test_every_inline_script_of_ours_is_allowed_by_the_policy():
    """An inline <script> in a template not listed in CSP_INLINE_SCRIPT_TEMPLATES would be blocked
    by the browser: move it to static/js/ (or, for now, list the template)."""
    policy = security.build_policy()
    offending = []
    for name, source in template_files():
        for body in security.inline_scripts(source):
            if security.sha256_source(body) not in policy:
                offending.append(name)
        if re.search(r"<[^>]+\son[a-z]+\s*=", source):
            offending.append(f"{name} (inline event handler)")
    assert offending == []


def test_the_inline_script_hashes_follow_the_templates(settings, tmp_path):
    # Our templates have no inline script left (issues/detail.html's is static/js/issue-detail.js):
    # a template of the test's own has one.
    (tmp_path / "csp_sample.html").write_text("<p>x</p><script>\ndocument.title = 'x';\n</script>", encoding="utf-8")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], tmp_path]}]
    settings.CSP_INLINE_SCRIPT_TEMPLATES = ["csp_sample.html", "no/such/template.html"]
    settings.CSP_INLINE_HANDLERS = []
    policy = security.build_policy()
    assert "'unsafe-hashes'" not in policy
    from django.template.loader import get_template

    bodies = security.inline_scripts(get_template("csp_sample.html").template.source)
    assert bodies == ["\ndocument.title = 'x';\n"]
    assert security.sha256_source(bodies[0]) in policy
    settings.CSP_INLINE_SCRIPT_TEMPLATES = []
    assert security.sha256_source(bodies[0]) not in security.build_policy()
    # Data blocks and external scripts are not inline scripts.
    assert (
        security.inline_scripts('<script id="d" type="application/json">{}</script><script src="/x.js"></script>') == []
    )


def test_report_only_mode(settings, client, db):
    settings.CSP_REPORT_ONLY = True
    response = client.get(reverse("login"))
    assert "Content-Security-Policy" not in response
    assert "default-src 'self'" in response["Content-Security-Policy-Report-Only"]


# --- in the browser -----------------------------------------------------------------------------

# Collects Content-Security-Policy violations from every document the page loads (run before the
# page's own scripts; Playwright's init scripts are not subject to the page's policy).
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_run_under_the_policy_in_chromium(live_server, demo_street, browser_page):
    from django.db import connection

    from issues.models import Issue, Status
    from visitplan.models import Assignment, Campaign

    try:
        household = (
            Assignment.objects.filter(cadre__user__username="grid_hutian_1")
            .values_list("household_id", flat=True)
            .first()
        )
        campaign = Campaign.objects.order_by("pk").values_list("pk", flat=True).first()
        routable = Issue.objects.filter(status=Status.ACCEPTED).order_by("pk").values_list("pk", flat=True).first()
        any_issue = Issue.objects.order_by("pk").values_list("pk", flat=True).first()
    finally:
        connection.close()  # Playwright's loop runs in this thread (see issues/tests/test_browser_ledger.py)
    page = browser_page
    page.add_init_script(WATCH_CSP)
    console = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    seen = {}

    def visit(path):
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        seen[path] = (response.status, page.evaluate("window.__csp"))
        return response

    def log_in(username):
        page.context.clear_cookies()
        visit("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "demo12345")
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

    # A wrong password, then the lockout page.
    visit("/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.fill("#id_username", "nobody")
        page.fill("#id_password", "wrong-password")
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
    assert "登录失败次数过多" in page.inner_text("main")
    seen["lockout"] = (429, page.evaluate("window.__csp"))

    log_in("grid_hutian_1")
    assert "退出" in page.inner_text("header")
    for path in ("/", "/visits/", f"/visits/h/{household}/", f"/visits/h/{household}/visit/", "/visits/cards/"):
        visit(path)
    log_in("leader1")
    for path in ("/?overview=1", "/reports/", "/reports/summary/", "/issues/", f"/issues/{any_issue}/"):
        visit(path)
    visit("/reports/")
    page.wait_for_selector("#ch-coverage canvas")  # ECharts drew under the policy
    log_in("root")
    for path in (
        "/admin/",
        "/admin/visitplan/cadre/",
        "/admin/visitplan/cadre/export/",
        "/admin/households/household/",
        "/admin/households/household/add/",
        "/admin/visitplan/campaign/",
        f"/admin/visitplan/campaign/{campaign}/allocation/",
        "/admin/visitplan/department/import/",
        "/admin/households/household/import/",
        "/admin/visitplan/cadre/add/",
        "/admin/auth/user/1/change/",
        "/admin/axes/accessattempt/",
        # Not /admin/django_celery_beat/periodictask/add/: django-celery-beat's form has an inline
        # script with a template variable (the crontab help text), which the policy blocks; the
        # form still saves, only the crontab's readable translation is not shown.
    ):
        visit(path)
    log_in("admin")
    visit(f"/issues/{routable}/")
    # The page's script (issues/static/issues/route-form.js) offers only the chosen department's people.
    route = page.locator('form[data-action="route"]')
    department = route.locator('select[name="department"]')
    offered = route.locator('select[name="assignee"] option[data-department]')
    assert offered.count() == 0  # nobody before a department is chosen
    found = 0
    for value in department.locator("option").evaluate_all("os => os.map(o => o.value).filter(Boolean)"):
        department.select_option(value)
        departments = offered.evaluate_all("os => os.map(o => o.dataset.department)")
        assert set(departments) <= {value}
        found += len(departments)
    assert found > 1
    statuses = {path: status for path, (status, _) in seen.items()}
    assert all(status in (200, 429) for status in statuses.values()), statuses
    violations = {path: found for path, (_, found) in seen.items() if found}
    assert violations == {} and console == [], (violations, console)
