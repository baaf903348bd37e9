"""JSON logs (core/logging.py): one JSON object per line with the request id and the user id, never
personal data; the request id answered in ``X-Request-ID``; ``LOG_FORMAT=text`` stays the default.
"""

import io
import json
import logging
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.http import HttpResponse
from django.test import Client, RequestFactory

from core.logging import JsonFormatter, RequestContextFilter, RequestIdMiddleware
from households.roles import STREET_ADMIN
from tests.support.world import make_user
from visitplan.models import Tier

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines(settings):
    """LOG_FORMAT=json, and the lines the root logger writes through the project's filter and formatter."""
    settings.LOG_FORMAT = "json"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)

    def lines():
        handler.flush()
        text = stream.getvalue()
        return text, [json.loads(line) for line in text.splitlines()]  # each line one JSON object

    yield lines
    root.removeHandler(handler)


def request_lines(parsed):
    return [entry for entry in parsed if entry["logger"] == "core.requests"]


def test_a_search_by_id_number_logs_the_request_without_the_number(world, json_lines):
    user = make_user("zhangsan_street", STREET_ADMIN, scope=world.street, tier=Tier.STREET_STAFF, staff=True)
    id_number = world.ha.id_number
    client = Client()
    client.force_login(user)
    response = client.get("/households/", {"q": id_number})
    assert response.status_code == 200
    assert world.ha.head_name in response.content.decode()  # the search found the household
    text, parsed = json_lines()
    [line] = request_lines(parsed)
    assert line["request_id"] == response["X-Request-ID"] and HEX32.fullmatch(line["request_id"])
    assert line["user_id"] == user.pk
    assert line["path"] == "/households/"
    assert line["method"] == "GET" and line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "INFO" and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$", line["time"])
    assert id_number not in text and id_number[-6:] not in text  # neither the number nor its tail
    assert "q=" not in text
    assert "zhangsan_street" not in text  # the user id, never the username


def test_djangos_own_request_lines_carry_the_ids_too(world, json_lines):
    """django.request writes "Not Found: …" after the middleware returned: the ids come from its request."""
    client = Client()
    client.force_login(world.admin)
    id_number = world.hb.id_number
    response = client.get("/households/999999/", {"q": id_number})
    assert response.status_code == 404
    text, parsed = json_lines()
    [warning] = [entry for entry in parsed if entry["logger"] == "django.request"]
    assert warning["message"] == "Not Found: /households/999999/"
    assert warning["request_id"] == response["X-Request-ID"] and warning["user_id"] == world.admin.pk
    assert id_number not in text


def test_every_line_written_during_a_request_carries_its_ids(world, json_lines):
    user = world.worker_a

    def view(request):
        logging.getLogger("visitplan.somewhere").warning("working on household %s", 42)
        return HttpResponse("ok")

    request = RequestFactory().get("/x/", HTTP_X_REQUEST_ID="nginx-req.0042_ab")
    request._cached_user = user  # the user the request has loaded (AuthenticationMiddleware)
    response = RequestIdMiddleware(view)(request)
    logging.getLogger("visitplan.after").warning("after the request")
    _text, parsed = json_lines()
    inside, request_line, after = parsed
    assert response["X-Request-ID"] == "nginx-req.0042_ab"
    assert inside["message"] == "working on household 42"
    assert inside["request_id"] == "nginx-req.0042_ab" and inside["user_id"] == user.pk
    assert "path" not in inside  # request fields only on the request line
    assert request_line["request_id"] == "nginx-req.0042_ab" and request_line["status"] == 200
    assert after["request_id"] is None and after["user_id"] is None  # outside a request


def test_a_request_that_has_not_loaded_its_user_is_not_made_to(db, json_lines, django_assert_num_queries):
    request = RequestFactory().get("/x/")
    with django_assert_num_queries(0):
        RequestIdMiddleware(lambda r: HttpResponse("ok"))(request)
    [line] = request_lines(json_lines()[1])
    assert line["user_id"] is None


@pytest.mark.parametrize("incoming", ["", "has space", "<script>", "a" * 65, "中文", "x\ny", "a;b", "../../etc"])
def test_an_unsafe_incoming_request_id_is_replaced(db, json_lines, incoming):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert HEX32.fullmatch(response["X-Request-ID"])
    [line] = request_lines(json_lines()[1])
    assert line["request_id"] == response["X-Request-ID"]


def test_a_safe_incoming_request_id_is_kept(db):
    safe = "3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e"
    assert Client().get("/healthz", HTTP_X_REQUEST_ID=safe)["X-Request-ID"] == safe


def test_an_exception_is_one_line_with_its_traceback(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("visitplan.somewhere").exception("failed")
    text, [line] = json_lines()
    assert text.count("\n") == 1
    assert line["message"] == "failed" and "ValueError: boom" in line["exception"]


def test_text_writes_no_request_lines(db, settings, caplog):
    settings.LOG_FORMAT = "text"
    with caplog.at_level(logging.INFO):
        response = Client().get("/healthz")
    assert HEX32.fullmatch(response["X-Request-ID"])  # the id is always answered
    assert not [r for r in caplog.records if r.name == "core.requests"]


def _run_with_env(tmp_path, **env):
    """A fresh process with the project's settings under ``env``: what its log lines look like."""
    script = (
        "import django, logging\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "print(settings.LOGGING['handlers']['console'].get('formatter'))\n"
        "logging.getLogger('visitplan.check').warning('hello %s', 1)\n"
    )
    environment = {name: value for name, value in os.environ.items() if name != "LOG_FORMAT"}
    environment.update(
        DJANGO_SETTINGS_MODULE="visitplan.settings", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **env
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=django_settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip(), [line for line in done.stderr.splitlines() if "hello 1" in line]


def test_the_settings_switch_the_console_to_json_with_log_format(tmp_path):
    formatter, [line] = _run_with_env(tmp_path, LOG_FORMAT="json")
    assert formatter == "json"
    entry = json.loads(line)
    assert entry["logger"] == "visitplan.check" and entry["message"] == "hello 1" and entry["level"] == "WARNING"
    formatter, [line] = _run_with_env(tmp_path)
    assert formatter == "None"
    assert line == "hello 1"  # the plain text of make run, unchanged
