"""The deployment recipe (deploy/, docs/deploy.md) checked offline: no PostgreSQL, Redis or systemd.

- deploy/env.example lists every variable visitplan/settings.py reads, a commented line shows the
  real default, the values read the same through systemd-style sh sourcing and django-environ, and
  with them the settings pass ``check --deploy`` and believe nginx's two headers;
- deploy/gunicorn.conf.py holds only settings gunicorn knows, with sane values;
- deploy/nginx/visitplan.conf: read here (upload size, headers, static rules, /media/), then, where
  an nginx binary is installed, ``nginx -t`` and a real nginx in front of a stand-in app;
- deploy/systemd/: read here, then ``systemd-analyze verify`` where it is installed;
- deploy/manage.sh runs manage.py with the env file and nothing of the caller's environment.

.ci/run installs nginx (nginx-light), so the nginx tests run in CI and fail there without it
(``require_or_skip``); locally they skip when nginx is missing. Everything read from the files
runs everywhere.
"""

from __future__ import annotations

import ast
import getpass
import gzip
import http.client
import json
import multiprocessing
import os
import re
import runpy
import secrets
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import environ
import pytest
from django.conf import settings

from tests.support.skipping import require_or_skip

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
SETTINGS_FILE = REPO / "visitplan" / "settings.py"
ENV_TEMPLATE = DEPLOY / "env.example"
GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"
NGINX_SITE = DEPLOY / "nginx" / "visitplan.conf"
UNITS = DEPLOY / "systemd"
MANAGE_SH = DEPLOY / "manage.sh"
DOCS = REPO / "docs" / "deploy.md"

# Where the units install the release; every path in them is relative to it.
APP_DIR = "/opt/visitplan"


# --- the environment template -------------------------------------------------------------------


@dataclass
class EnvRead:
    name: str
    kind: str  # env() → "str", env.int() → "int", …
    default: object = None  # the literal default, or None when it is computed (paths)


def _literal(node):
    """A default written as a literal or as arithmetic on literals (365 * 24 * 3600); else None."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    allowed = (ast.Expression, ast.BinOp, ast.Constant, ast.operator, ast.UnaryOp, ast.unaryop)
    if all(isinstance(n, allowed) for n in ast.walk(node)):
        return eval(compile(ast.Expression(node), "<default>", "eval"), {"__builtins__": {}})  # noqa: S307
    return None


def settings_env_reads() -> dict[str, EnvRead]:
    """Every ``env("NAME")`` / ``env.<kind>("NAME", default=…)`` in visitplan/settings.py."""
    reads = {}
    for node in ast.walk(ast.parse(SETTINGS_FILE.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func, first = node.func, node.args[0]
        if isinstance(func, ast.Name) and func.id == "env":
            kind = "str"
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env":
            kind = func.attr
        else:
            continue
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            default = next((k.value for k in node.keywords if k.arg == "default"), None)
            reads[first.value] = EnvRead(first.value, kind, _literal(default))
    return reads


@dataclass
class EnvLine:
    name: str
    value: str
    commented: bool
    line: int


ENV_LINE = re.compile(r"^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$")


def template_lines() -> list[EnvLine]:
    lines = []
    for number, text in enumerate(ENV_TEMPLATE.read_text(encoding="utf-8").splitlines(), start=1):
        match = ENV_LINE.match(text)
        if match:
            lines.append(EnvLine(match[2], match[3], bool(match[1]), number))
    return lines


def template_values() -> dict[str, str]:
    """The values the template sets (its uncommented lines)."""
    return {line.name: line.value for line in template_lines() if not line.commented}


def deploy_env_names() -> set[str]:
    """Variables the deploy files themselves read: gunicorn.conf.py's and the units' ${NAME}."""
    names = set(re.findall(r'os\.environ\.get\("([A-Z0-9_]+)"', GUNICORN_CONF.read_text(encoding="utf-8")))
    for unit in UNITS.iterdir():
        names |= set(re.findall(r"\$\{([A-Z0-9_]+)\}", unit.read_text(encoding="utf-8")))
    return names


def test_the_env_template_lists_every_setting_the_settings_read():
    listed = {line.name for line in template_lines()}
    missing = sorted(set(settings_env_reads()) - listed)
    assert not missing, f"deploy/env.example does not list {missing} (visitplan/settings.py reads them)"


def test_the_env_template_lists_nothing_nobody_reads():
    listed = [line.name for line in template_lines()]
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    unknown = sorted(set(listed) - set(settings_env_reads()) - deploy_env_names())
    assert not unknown, f"deploy/env.example lists {unknown}, which neither the settings nor deploy/ read"
    assert deploy_env_names() <= set(listed), "a variable the deploy files read is not in the template"


def _as_env_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def test_a_commented_line_shows_the_settings_default():
    reads = settings_env_reads()
    checked = 0
    for line in template_lines():
        read = reads.get(line.name)
        if not line.commented or read is None or read.default is None:
            continue
        shown = line.value.lower() if read.kind == "bool" else line.value
        assert shown == _as_env_text(read.default), (
            f"deploy/env.example line {line.line}: # {line.name}={line.value}, but the default is {read.default!r}"
        )
        checked += 1
    assert checked >= 20  # the import limits, sessions, lockout, HSTS, …


def test_the_env_template_sets_production_values():
    values = template_values()
    assert values["DEBUG"].lower() == "false"
    # Empty until generated: the site refuses to work with an empty key, never runs on a known one.
    assert values["SECRET_KEY"] == ""
    assert "secrets.token_urlsafe(50)" in ENV_TEMPLATE.read_text(encoding="utf-8")
    assert values["ALLOWED_HOSTS"]
    assert all(origin.startswith("https://") for origin in values["CSRF_TRUSTED_ORIGINS"].split(","))
    assert values["SECURE_PROXY_SSL_HEADER"] == "HTTP_X_FORWARDED_PROTO,https"
    assert values["CLIENT_IP_HEADER"] == "HTTP_X_REAL_IP"
    assert values["DATABASE_URL"].startswith("postgres://")
    assert values["CELERY_BROKER_URL"].startswith("redis://127.0.0.1:")
    assert "console" not in values["EMAIL_BACKEND"]  # mail bodies would land in the journal


def test_sh_and_django_environ_read_the_template_alike():
    # systemd reads it as EnvironmentFile=, deploy/manage.sh with sh's `.`: plain values read alike.
    for name, value in template_values().items():
        assert not re.search(r"[\s'\"$`\\]", value), f"{name}: spaces, quotes, $ or backslashes in the value"
    done = subprocess.run(
        ["/bin/sh", "-c", 'set -a && . "$0" && set +a && env', str(ENV_TEMPLATE)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    from_sh = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)

    class Env(environ.Env):
        ENVIRON = {}

    Env.read_env(str(ENV_TEMPLATE), overwrite=True)
    for name, value in template_values().items():
        assert from_sh.get(name) == value, name
        assert Env.ENVIRON.get(name) == value, name


def template_env(**extra) -> dict[str, str]:
    """A process environment holding only the template's values (as systemd starts a unit)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DJANGO_SETTINGS_MODULE": "visitplan.settings"}
    env.update(template_values())
    env["SECRET_KEY"] = secrets.token_urlsafe(50)  # what the documented command writes
    env.update(extra)
    return env


def test_the_template_passes_djangos_deploy_checks():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=template_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


BEHIND_NGINX = """
import json, django
django.setup()
from django.test import RequestFactory
from core.http import client_ip
request = RequestFactory().get("/", HTTP_HOST="{host}", REMOTE_ADDR="127.0.0.1",
                               HTTP_X_REAL_IP="10.20.30.40", HTTP_X_FORWARDED_PROTO="https")
plain = RequestFactory().get("/", HTTP_HOST="{host}", REMOTE_ADDR="127.0.0.1")
print(json.dumps([request.is_secure(), client_ip(request), plain.is_secure(), client_ip(plain)]))
"""


def test_with_the_template_the_app_believes_nginxs_headers():
    # The two headers the nginx site sets, read by the settings the template sets.
    host = template_values()["ALLOWED_HOSTS"].split(",")[0]
    done = subprocess.run(
        [sys.executable, "-c", BEHIND_NGINX.format(host=host)],
        cwd=REPO,
        env=template_env(DATABASE_URL="sqlite://:memory:"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True, "10.20.30.40", False, "127.0.0.1"]


# --- gunicorn -----------------------------------------------------------------------------------


def gunicorn_config(monkeypatch=None, cpus=None, **environment) -> dict:
    if monkeypatch is not None:
        for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        if cpus is not None:
            monkeypatch.setattr(multiprocessing, "cpu_count", lambda: cpus)
    namespace = runpy.run_path(str(GUNICORN_CONF))
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_gunicorn_knows_every_name_in_its_config():
    # gunicorn skips a name it does not know without a word: a typo would silently keep a default.
    from gunicorn.config import Config

    config = Config()
    for name, value in gunicorn_config().items():
        assert name in config.settings, f"deploy/gunicorn.conf.py: {name} is not a gunicorn setting"
        config.set(name, value)  # gunicorn's own validation of the value


def test_gunicorn_values_are_sane(monkeypatch):
    conf = gunicorn_config(monkeypatch)
    assert conf["bind"] == "127.0.0.1:8000"  # loopback: nginx is the only client
    assert conf["worker_class"] == "gthread" and 2 <= conf["threads"] <= 4
    assert 30 <= conf["timeout"] <= conf["graceful_timeout"]
    assert conf["max_requests"] > 0 and 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["forwarded_allow_ips"] == "127.0.0.1"
    assert conf["secure_scheme_headers"] == {"X-FORWARDED-PROTO": "https"}
    assert conf["accesslog"] == "-" and conf["errorlog"] == "-"
    # No query string (%(r)s, %(q)s) and no Referer (%(f)s, it carries the query of the page before).
    log_format = conf["access_log_format"]
    assert "%(U)s" in log_format
    for atom in ("%(r)s", "%(q)s", "%(f)s", "{referer}i"):
        assert atom not in log_format
    module, _, attribute = conf["wsgi_app"].partition(":")
    assert (REPO / (module.replace(".", "/") + ".py")).exists() and attribute == "application"
    assert conf["chdir"] == str(REPO)


def test_gunicorn_workers_follow_the_cpus_within_the_cap(monkeypatch):
    assert gunicorn_config(monkeypatch, cpus=1)["workers"] == 3
    assert gunicorn_config(monkeypatch, cpus=2)["workers"] == 5
    assert gunicorn_config(monkeypatch, cpus=64)["workers"] == 9
    small = gunicorn_config(monkeypatch, cpus=64, WEB_CONCURRENCY="3", GUNICORN_THREADS="2")
    assert (small["workers"], small["threads"]) == (3, 2)


def test_gunicorn_accepts_the_config_and_loads_the_app():
    gunicorn = Path(sys.executable).parent / "gunicorn"
    done = subprocess.run(
        [str(gunicorn), "--config", str(GUNICORN_CONF), "--check-config"],
        cwd=REPO,
        env=template_env(DATABASE_URL="sqlite://:memory:"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- nginx, read ---------------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None
    children: list[Directive] = field(default_factory=list)

    def all(self, name) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def one(self, name) -> Directive:
        found = self.all(name)
        assert len(found) == 1, f"expected one {name} in {self.name} {' '.join(self.args)}, found {len(found)}"
        return found[0]

    def value(self, name) -> str:
        return " ".join(self.one(name).args)

    def location(self, *args) -> Directive:
        return next(d for d in self.all("location") if d.args == list(args))

    def walk(self):
        for d in self.block or []:
            yield d
            yield from d.walk()


def _nginx_tokens(text: str):
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif c in "{};":
            yield c
            i += 1
        elif c in "'\"":
            end = i + 1
            while text[end] != c:
                end += 2 if text[end] == "\\" else 1
            yield ("word", text[i + 1 : end])
            i = end + 1
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] not in "{};":
                end += 1
            yield ("word", text[i:end])
            i = end


def parse_nginx(text: str) -> Directive:
    """nginx's configuration syntax: directives ending in ';' or a '{ … }' block; quotes; comments."""
    root = Directive("(file)", [], [])
    stack, words = [root], []
    for token in _nginx_tokens(text):
        if isinstance(token, tuple):
            words.append(token[1])
        elif token == ";":
            assert words, "a lone ';'"
            stack[-1].block.append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            assert words, "a block without a name"
            block = Directive(words[0], words[1:], [])
            stack[-1].block.append(block)
            stack.append(block)
            words = []
        else:
            assert not words and len(stack) > 1, "unbalanced '}' or a directive without ';'"
            stack.pop()
    assert len(stack) == 1 and not words, "unclosed block or a directive without ';'"
    return root


def nginx_site() -> Directive:
    return parse_nginx(NGINX_SITE.read_text(encoding="utf-8"))


def https_server(site: Directive) -> Directive:
    return next(s for s in site.all("server") if any("ssl" in d.args for d in s.all("listen")))


def http_server(site: Directive) -> Directive:
    return next(s for s in site.all("server") if s.value("listen") == "80")


def _megabytes(size: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()
    return int(number) * {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}[unit.lower()]


def _seconds(duration: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(s|m)?", duration).groups()
    return int(number) * (60 if unit == "m" else 1)


def upload_limits_mb() -> list[float]:
    """Every upload limit of the app: the settings in force and the register's default in the source."""
    limits = [settings.IMPORT_MAX_UPLOAD_MB, settings_env_reads()["IMPORT_MAX_UPLOAD_MB"].default]
    for name in ("STAFF_LIST_MAX_UPLOAD_MB", "PLAN_MAX_UPLOAD_MB"):
        limits.append(getattr(settings, name, 0))
    return limits


def test_the_nginx_site_redirects_http_to_https():
    site = nginx_site()
    plain, tls = http_server(site), https_server(site)
    assert plain.value("return") == "301 https://$host$request_uri"
    assert plain.value("server_name") == tls.value("server_name")
    assert tls.value("listen").startswith("443 ssl")
    for server in (plain, tls):
        assert server.value("server_tokens") == "off"
    for name in ("ssl_certificate", "ssl_certificate_key"):
        assert tls.value(name).startswith("/")
    assert "TLSv1" not in tls.value("ssl_protocols").split()  # 1.2 and 1.3 only
    # HSTS is the app's (SECURE_HSTS_SECONDS): not a second, different header from nginx.
    assert not [d for d in site.walk() if d.name == "add_header" and d.args[0].lower() == "strict-transport-security"]


def test_nginx_takes_uploads_up_to_the_apps_limit_and_more():
    body = https_server(nginx_site()).value("client_max_body_size")
    assert _megabytes(body) > max(upload_limits_mb()), f"client_max_body_size {body} ≤ the app's upload limit"


def test_nginx_passes_the_headers_the_app_reads():
    site, values = nginx_site(), template_values()
    app = https_server(site).location("/")
    assert app.value("proxy_pass") == "http://" + gunicorn_config()["bind"]
    headers = {d.args[0].lower(): d.args[1] for d in app.all("proxy_set_header")}

    def meta_to_header(meta):  # HTTP_X_REAL_IP → x-real-ip (how Django names request headers)
        return meta.removeprefix("HTTP_").replace("_", "-").lower()

    client_ip = meta_to_header(values["CLIENT_IP_HEADER"])
    assert headers[client_ip] == "$remote_addr"  # set, not appended: the client cannot choose it
    proto_meta, _, proto_value = values["SECURE_PROXY_SSL_HEADER"].partition(",")
    assert headers[meta_to_header(proto_meta)] in (proto_value, "$scheme")
    assert headers["host"] == "$host"
    assert headers.get("x-forwarded-for", "$remote_addr") == "$remote_addr"


def test_nginx_waits_longer_than_gunicorn_and_an_upload_parse():
    # An upload parsed within the request may take IMPORT_PARSE_CPU_SECONDS before the sandbox stops
    # it and the app answers "文件无法读取"; nginx must not answer 504 first.
    app = https_server(nginx_site()).location("/")
    read = _seconds(app.value("proxy_read_timeout"))
    assert read >= gunicorn_config()["timeout"]
    assert read > max(settings.IMPORT_PARSE_CPU_SECONDS, settings_env_reads()["IMPORT_PARSE_CPU_SECONDS"].default)


def test_nginx_serves_static_from_static_root_with_the_apps_cache_rules():
    from django.core.files.base import ContentFile

    from core.staticfiles import StaticFilesStorage

    site, values = nginx_site(), template_values()
    static = https_server(site).location("^~", "/static/")
    assert static.value("alias") == values["STATIC_ROOT"].rstrip("/") + "/"
    assert static.value("gzip_static") == "on"
    cache = next(d.args[1] for d in static.all("add_header") if d.args[0] == "Cache-Control")
    rules = site.one("map")
    assert rules.args == ["$uri", cache]
    (hashed_rule,) = [d for d in rules.block if d.name.startswith("~")]  # "~regex" value
    pattern = hashed_rule.name[1:]
    assert hashed_rule.args == ["max-age=315360000, public, immutable"]
    assert rules.value("default") == "max-age=3600, public"
    # The names collectstatic really writes are the ones taken as immutable; plain names are not.
    hashed = StaticFilesStorage().hashed_name("css/base.css", content=ContentFile(b"body{}"))
    assert re.search(pattern, "/static/" + hashed), hashed
    assert not re.search(pattern, "/static/css/base.css")
    assert not re.search(pattern, "/static/vendor/echarts.5.4.3.min.js")


def test_nginx_never_serves_uploads_nor_lists_folders():
    site, values = nginx_site(), template_values()
    media = https_server(site).location("^~", "/media/")
    assert media.value("return") == "404"
    for directive in site.walk():
        if directive.name in ("alias", "root"):
            assert not directive.args[0].startswith(values["MEDIA_ROOT"]), "MEDIA_ROOT must not be served"
            assert not directive.args[0].startswith(values["BACKUP_DIR"])
        assert not (directive.name == "autoindex" and directive.args == ["on"])


def test_nginx_leaves_the_apps_caching_alone():
    # /sw.js must reach the app and keep its Cache-Control: no-cache (decision 0015); no page may be
    # cached or given another Cache-Control by nginx.
    site = nginx_site()
    tls = https_server(site)
    assert not [d for d in tls.all("location") if "sw.js" in " ".join(d.args)]
    app = tls.location("/")
    for directive in [*tls.block, *app.walk()]:
        assert directive.name not in ("expires", "proxy_cache", "proxy_hide_header", "proxy_ignore_headers")
        assert not (directive.name == "add_header" and directive.args[0].lower() == "cache-control")
    assert tls.value("gzip") == "on" and "application/json" in tls.one("gzip_types").args


# --- nginx, running ------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    require_or_skip(bool(found), "nginx")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class NginxSite:
    conf: Path
    prefix: Path
    cert: Path
    static: Path
    logs: Path
    http_port: int
    https_port: int


def prepare_nginx(tmp_path: Path, app_port: int) -> NginxSite:
    """The site as shipped, with only its addresses and paths moved into tmp_path."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    site = nginx_site()
    tls = https_server(site)
    prefix, logs, static = tmp_path / "nginx", tmp_path / "logs", tmp_path / "static"
    for folder in (prefix, logs, static):
        folder.mkdir()
    cert, key = tmp_path / "site.crt", tmp_path / "site.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    http_port, https_port = _free_port(), _free_port()
    text = NGINX_SITE.read_text(encoding="utf-8")
    swaps = [
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl\b", f"listen 127.0.0.1:{https_port} ssl"),
        (re.escape("http://" + gunicorn_config()["bind"]) + ";", f"http://127.0.0.1:{app_port};"),
        (re.escape(tls.value("ssl_certificate")) + ";", f"{cert};"),
        (re.escape(tls.value("ssl_certificate_key")) + ";", f"{key};"),
        (re.escape(tls.location("^~", "/static/").value("alias")), f"{static}/"),
        (re.escape("/var/log/nginx/"), f"{logs}/"),
    ]
    for pattern, replacement in swaps:
        text, count = re.subn(pattern, replacement, text)
        assert count >= 1, f"the nginx site no longer has {pattern!r}"
    (tmp_path / "site.conf").write_text(text, encoding="utf-8")
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read tmp_path (0700)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"""{user}
worker_processes 1;
daemon off;
pid {prefix / "nginx.pid"};
error_log {logs / "main.error.log"};
events {{ worker_connections 64; }}
http {{
    types {{ text/html html; text/css css; application/javascript js; }}
    default_type application/octet-stream;
{temp_paths}
    include {tmp_path / "site.conf"};
}}
""",
        encoding="utf-8",
    )
    return NginxSite(conf, prefix, cert, static, logs, http_port, https_port)


def test_nginx_accepts_the_site(tmp_path):
    nginx = nginx_binary()
    site = prepare_nginx(tmp_path, _free_port())
    done = subprocess.run(
        [nginx, "-t", "-p", str(site.prefix), "-e", str(site.logs / "t.log"), "-c", str(site.conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and "[emerg]" not in done.stderr, done.stderr


class StandInApp(BaseHTTPRequestHandler):
    """What gunicorn would answer: the request as it arrived, as JSON."""

    seen: list = []

    def log_message(self, *args):
        pass

    def _answer(self, body: dict | str, content_type="application/json", cache=None):
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if cache:
            self.send_header("Cache-Control", cache)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.seen.append(self.path)
        if self.path == "/broken":  # the app dies mid-request: nginx answers 502 itself
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif self.path == "/sw.js":
            self._answer("self.addEventListener('fetch', () => {});", "text/javascript", cache="no-cache")
        elif self.path == "/big.json":
            self._answer({"rows": [{"n": n} for n in range(500)]})
        else:
            self._answer({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})

    def do_POST(self):
        self.seen.append(self.path)
        left, received = int(self.headers.get("Content-Length", 0)), 0
        while left:
            chunk = self.rfile.read(min(left, 1 << 20))
            received, left = received + len(chunk), left - len(chunk)
        self._answer({"received": received})


@pytest.fixture
def running_nginx(tmp_path):
    nginx = nginx_binary()
    app = ThreadingHTTPServer(("127.0.0.1", 0), StandInApp)
    StandInApp.seen = []
    threading.Thread(target=app.serve_forever, daemon=True).start()
    site = prepare_nginx(tmp_path, app.server_address[1])
    css = site.static / "css"
    css.mkdir()
    (css / "site.0123456789ab.css").write_text("body { color: #333 }\n" * 100)
    (css / "site.0123456789ab.css.gz").write_bytes(gzip.compress((css / "site.0123456789ab.css").read_bytes()))
    (css / "site.css").write_text("body {}\n")
    process = subprocess.Popen(
        [nginx, "-p", str(site.prefix), "-e", str(site.logs / "main.error.log"), "-c", str(site.conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", site.https_port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("nginx did not start: " + process.stderr.read().decode(errors="replace"))
                time.sleep(0.05)
        yield site
    finally:
        process.terminate()
        process.wait(timeout=10)
        app.shutdown()
        app.server_close()


def _request(site: NginxSite, method, path, *, tls=True, headers=None, body=None, announce=None):
    """One request; ``announce``: send only a Content-Length of that many bytes, no body."""
    host = https_server(nginx_site()).value("server_name").split()[0]
    if tls:
        context = ssl.create_default_context(cafile=str(site.cert))
        conn = http.client.HTTPSConnection("127.0.0.1", site.https_port, context=context, timeout=30)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=30)
    try:
        if announce is None:
            conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        else:
            conn.putrequest(method, path, skip_host=True)
            conn.putheader("Host", host)
            conn.putheader("Content-Length", str(announce))
            conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_running_nginx_redirects_and_proxies_with_the_apps_headers(running_nginx):
    site = running_nginx
    status, headers, _ = _request(site, "GET", "/households/?q=1", tls=False)
    assert (
        status == 301
        and headers["location"].startswith("https://")
        and headers["location"].endswith("/households/?q=1")
    )
    searched = quote("张三 110101199001011234")
    status, headers, body = _request(
        site,
        "GET",
        f"/households/?name={searched}",
        headers={"X-Real-IP": "6.6.6.6", "X-Forwarded-Proto": "http", "X-Forwarded-For": "6.6.6.6"},
    )
    assert status == 200 and headers["server"] == "nginx"  # no version
    seen = json.loads(body)
    assert seen["path"] == f"/households/?name={searched}"
    assert seen["headers"]["x-real-ip"] == "127.0.0.1"  # nginx's, not the client's
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert seen["headers"]["host"] == https_server(nginx_site()).value("server_name").split()[0]
    log, deadline = "", time.monotonic() + 5
    while log.count("/households/") < 2 and time.monotonic() < deadline:  # written as the request ends
        time.sleep(0.05)
        log = (site.logs / "visitplan.access.log").read_text(encoding="utf-8")
    assert log.count("/households/") == 2  # the redirect and the page
    assert "name=" not in log and "q=1" not in log and searched not in log


def test_running_nginx_serves_static_files_with_the_cache_rules(running_nginx):
    site = running_nginx
    status, headers, body = _request(
        site, "GET", "/static/css/site.0123456789ab.css", headers={"Accept-Encoding": "gzip"}
    )
    assert status == 200 and headers["content-encoding"] == "gzip"  # the .gz beside it
    assert headers["cache-control"] == "max-age=315360000, public, immutable"
    assert headers["x-content-type-options"] == "nosniff"
    assert gzip.decompress(body).startswith(b"body { color")
    status, headers, _ = _request(site, "GET", "/static/css/site.css")
    assert status == 200 and headers["cache-control"] == "max-age=3600, public"
    status, headers, _ = _request(site, "GET", "/static/css/gone.0123456789ab.css")
    assert status == 404 and "immutable" not in headers.get("cache-control", "")
    status, _, body = _request(site, "GET", "/static/css/")
    assert status in (403, 404) and b"Index of" not in body
    assert StandInApp.seen == []  # none of it reached the app


def test_running_nginx_keeps_uploads_and_the_service_worker_right(running_nginx):
    site = running_nginx
    status, _, _ = _request(site, "GET", "/media/imports/register.xlsx")
    assert status == 404 and StandInApp.seen == []
    status, headers, _ = _request(site, "GET", "/sw.js")
    assert status == 200 and headers["cache-control"] == "no-cache" and StandInApp.seen == ["/sw.js"]
    status, headers, _ = _request(site, "GET", "/big.json", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"


def test_running_nginx_takes_an_upload_at_the_apps_limit(running_nginx):
    site = running_nginx
    size = int(max(upload_limits_mb()) * 2**20) + 64 * 1024  # the file and its multipart envelope
    status, _, body = _request(site, "POST", "/households/import/", body=b"x" * size)
    assert status == 200 and json.loads(body) == {"received": size}
    limit = _megabytes(https_server(nginx_site()).value("client_max_body_size"))
    status, _, body = _request(site, "POST", "/households/import/", announce=int(limit * 2**20) + 1)
    assert status == 413 and "文件太大".encode() in body
    assert StandInApp.seen == ["/households/import/"]  # the second one was refused before the app


def test_running_nginx_says_in_chinese_when_the_app_is_down(running_nginx):
    status, headers, body = _request(running_nginx, "GET", "/broken")
    assert status == 502 and "暂时无法访问".encode() in body  # the page, with the real status
    assert headers["cache-control"] == "no-store"


# --- systemd --------------------------------------------------------------------------------------


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file as {section: [(key, value), …]}: keys may repeat, lines may continue with '\\'."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None and "=" in line, f"{path.name}: {raw!r}"
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(unit, section, key) -> list[str]:
    return [value for k, value in unit.get(section, []) if k == key]


def unit_words(unit, section, key) -> list[str]:
    return [word for value in unit_values(unit, section, key) for word in value.split()]


SERVICES = ("visitplan-web.service", "visitplan-worker.service", "visitplan-beat.service")


@pytest.fixture
def units():
    return {name: parse_unit(UNITS / name) for name in SERVICES}


def exec_start(unit) -> list[str]:
    (value,) = unit_values(unit, "Service", "ExecStart")
    return shlex.split(value)


def test_each_service_runs_the_venv_as_visitplan_with_the_env_file(units):
    for name, unit in units.items():
        service = dict(unit["Service"])
        assert service["User"] == service["Group"] == "visitplan", name
        assert service["WorkingDirectory"] == APP_DIR, name
        assert unit_values(unit, "Service", "EnvironmentFile") == ["/etc/visitplan/env"], name
        program = exec_start(unit)[0]
        assert program in (f"{APP_DIR}/.venv/bin/gunicorn", f"{APP_DIR}/.venv/bin/celery"), name
        assert service["Restart"] == "on-failure", name
        after = unit_words(unit, "Unit", "After")
        assert "postgresql.service" in after and {"redis-server.service", "redis.service"} <= set(after), name
        assert unit_values(unit, "Unit", "PartOf") == ["visitplan.target"], name
        assert unit_values(unit, "Install", "WantedBy") == ["visitplan.target"], name


def test_the_web_service_starts_gunicorn_with_the_shipped_config(units):
    command = exec_start(units["visitplan-web.service"])
    config = command[command.index("--config") + 1]
    assert config.startswith(APP_DIR + "/")
    assert (REPO / config.removeprefix(APP_DIR + "/")) == GUNICORN_CONF
    assert dict(units["visitplan-web.service"]["Service"])["Type"] == "notify"  # gunicorn sd_notify


def test_there_is_one_beat_and_the_worker_runs_none(units):
    beats = []
    for name, unit in units.items():
        command = exec_start(unit)
        if "celery" in command[0]:
            assert command[1:3] == ["-A", "visitplan"], name  # the app of visitplan/celery.py
            if "beat" in command or "-B" in command or "--beat" in command:
                beats.append(name)
    assert beats == ["visitplan-beat.service"]
    worker = exec_start(units["visitplan-worker.service"])
    assert worker[3] == "worker"
    assert any(arg.startswith("--max-tasks-per-child=") for arg in worker)
    # --concurrency comes from CELERY_CONCURRENCY, which the unit defines before the env file.
    assert "--concurrency=${CELERY_CONCURRENCY}" in worker
    assert "CELERY_CONCURRENCY=2" in unit_values(units["visitplan-worker.service"], "Service", "Environment")
    assert (REPO / "visitplan" / "celery.py").exists()


def test_the_services_are_hardened_and_may_write_only_the_data(units):
    values = template_values()
    for name, unit in units.items():
        service = dict(unit["Service"])
        assert service["NoNewPrivileges"] == "yes" and service["PrivateTmp"] == "yes", name
        assert service["ProtectSystem"] in ("full", "strict"), name
        writable = [path.lstrip("-") for path in unit_words(unit, "Service", "ReadWritePaths")]
        for setting in ("MEDIA_ROOT", "BACKUP_DIR"):
            assert any(values[setting] == w or values[setting].startswith(w + "/") for w in writable), (name, setting)
        assert not any(APP_DIR == w or APP_DIR.startswith(w + "/") for w in writable), "the code stays read-only"


def test_the_target_groups_the_services():
    target = parse_unit(UNITS / "visitplan.target")
    assert unit_values(target, "Install", "WantedBy") == ["multi-user.target"]
    assert sorted(p.name for p in UNITS.iterdir()) == sorted([*SERVICES, "visitplan.target"])


def test_systemd_analyze_verifies_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed; the units were read above")
    # The units as installed, but with the release in tmp_path: verify checks that programs exist.
    app = tmp_path / "app"
    (app / ".venv" / "bin").mkdir(parents=True)
    for program in ("gunicorn", "celery"):
        (app / ".venv" / "bin" / program).write_text("#!/bin/sh\n")
        (app / ".venv" / "bin" / program).chmod(0o755)
    (app / "deploy").mkdir()
    shutil.copy(GUNICORN_CONF, app / "deploy")
    out = tmp_path / "units"
    out.mkdir()
    for unit in UNITS.iterdir():
        (out / unit.name).write_text(unit.read_text(encoding="utf-8").replace(APP_DIR, str(app)), encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(p) for p in out.iterdir())],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown keys are only warnings (exit status 0): any output at all is a finding.
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


# --- deploy/manage.sh and the docs ---------------------------------------------------------------


def test_manage_sh_runs_manage_py_with_the_env_file_only(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("deploy/manage.sh switches user with runuser: root only")
    env_file = tmp_path / "env"
    lines = [f"{k}={v}" for k, v in template_env(DATABASE_URL="sqlite://:memory:").items() if k != "PATH"]
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    app = tmp_path / "release"
    app.mkdir()
    (app / "deploy").mkdir()
    shutil.copy(MANAGE_SH, app / "deploy" / "manage.sh")
    (app / ".venv").symlink_to(sys.prefix)  # this test run's virtual environment
    # manage.py of the release: the real one, run from the repository, reporting its environment.
    (app / "manage.py").write_text(
        "import os, subprocess, sys\n"
        f"print('DEBUG=' + os.environ.get('DEBUG', '?'), 'LEAK=' + os.environ.get('LEAK', '-'))\n"
        f"sys.exit(subprocess.call([sys.executable, {str(REPO / 'manage.py')!r}, *sys.argv[1:]], cwd={str(REPO)!r}))\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(app / "deploy" / "manage.sh"), "check", "--deploy", "--fail-level", "WARNING"],
        env={**os.environ, "VISITPLAN_ENV_FILE": str(env_file), "VISITPLAN_USER": getpass.getuser(), "LEAK": "yes"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DEBUG=False LEAK=-" in done.stdout  # the env file's values, nothing of the caller's
    missing = subprocess.run(
        [str(app / "deploy" / "manage.sh"), "check"],
        env={**os.environ, "VISITPLAN_ENV_FILE": str(tmp_path / "none")},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "找不到配置文件" in missing.stderr


def test_the_docs_name_only_files_that_exist():
    text = DOCS.read_text(encoding="utf-8")
    for path in sorted(set(re.findall(r"\bdeploy/[\w./-]+[\w]", text))):
        assert (REPO / path).exists(), f"docs/deploy.md names {path}, which is not in the repository"
    for shipped in [*UNITS.iterdir(), GUNICORN_CONF, NGINX_SITE, ENV_TEMPLATE, MANAGE_SH]:
        assert shipped.name in text, f"docs/deploy.md does not mention {shipped.name}"
