"""The offline install bundle (scripts/bundle.py, ``make bundle``): built from HEAD, it installs into a
fresh virtual environment with pip's network switched off, passes ``check --deploy`` and serves the
login page and a hashed static file from gunicorn.

Slow (a build of ~25 s, an install of ~20 s, here on 2 cores): the bundle is built once per module.
The figures (bundle size, build and install time) are printed (pytest -s) and written to
bench/out/bundle.json.
"""

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.support.skipping import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "bench" / "out" / "bundle.json"
# The environment variables a child may keep; settings, databases and pip's own come from the test.
KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_ROOT", "PYENV_VERSION")

figures: dict = {}


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k in KEEP_ENV}
    env.update(extra)
    return env


def _system_python():
    """The machine's python3.11 (not this test's venv), with venv and ensurepip."""
    for name in ("python3.11", "python3"):
        exe = shutil.which(name)
        if not exe:
            continue
        probe = subprocess.run(
            [exe, "-c", "import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))"],
            env=_clean_env(),
            capture_output=True,
        )
        if probe.returncode == 0:
            return exe
    return None


def _git_head():
    if not shutil.which("git"):
        return False
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    require_or_skip(_git_head(), "git and a git checkout (the bundle is HEAD's git archive)")
    require_or_skip(sys.version_info[:2] == (3, 11), "Python 3.11 running the tests (the bundle's wheels)")
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "bundle.py"), "--out", str(out)], check=True)
    figures["build_seconds"] = round(time.monotonic() - started, 1)
    (archive,) = out.glob("visitplan-*.tar.gz")
    figures["bundle_bytes"] = archive.stat().st_size
    return archive


def test_bundle_holds_head_wheels_static_and_sums(bundle, tmp_path):
    tag = subprocess.run(["git", "describe", "--tags", "--exact-match"], cwd=ROOT, capture_output=True, text=True)
    short = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    version = tag.stdout.strip() if tag.returncode == 0 else short.stdout.strip()
    assert bundle.name == f"visitplan-{version}-py3.11-{_platform()}.tar.gz"
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        members = tar.getmembers()
        tar.extractall(tmp_path, filter="data")
    top = bundle.name.removesuffix(".tar.gz")
    assert names == sorted(names), "entries are not sorted"
    assert all(n == top or n.startswith(top + "/") for n in names)
    assert len({m.mtime for m in members}) == 1 and {m.uid for m in members} == {0}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    root = tmp_path / top

    # The source is HEAD's committed files, all of them and nothing else beside the bundle's own.
    bundled = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    own = {p for p in bundled if p.split("/")[0] in ("wheels", "staticfiles")} | {
        "install.sh",
        "MANIFEST",
        "SHA256SUMS",
    }
    head_files = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "-z", "HEAD"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    assert bundled - own == {p for p in head_files.split("\0") if p}

    # A wheel for each runtime requirement, and only wheels.
    wheels = sorted((root / "wheels").iterdir())
    assert wheels and all(w.suffix == ".whl" for w in wheels)
    have = {w.name.split("-")[0].lower().replace("_", "-") for w in wheels}
    for line in (root / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            dist = line.split("==")[0].split("[")[0].strip().lower().replace("_", "-")
            assert dist in have, f"requirements.txt 的 {dist} 在 wheels/ 中没有"

    # collectstatic with the production storage: the manifest, hashed names and their .gz/.br.
    manifest = json.loads((root / "staticfiles" / "staticfiles.json").read_text())
    paths = manifest["paths"]
    assert "css/app.css" in paths and "js/" in "".join(paths)
    hashed = paths["css/app.css"]
    assert hashed != "css/app.css"
    assert (root / "staticfiles" / hashed).is_file()
    assert (root / "staticfiles" / (hashed + ".gz")).is_file()
    assert (root / "staticfiles" / (hashed + ".br")).is_file()

    # SHA256SUMS covers every other file and checks.
    listed = {line.split("  ", 1)[1] for line in (root / "SHA256SUMS").read_text().splitlines()}
    assert listed == bundled - {"SHA256SUMS"}
    subprocess.run(["sha256sum", "--quiet", "--check", "SHA256SUMS"], cwd=root, check=True)
    assert (root / "install.sh").stat().st_mode & 0o111

    # install.sh refuses a bundle whose files were changed, before it installs anything.
    with (root / "requirements.txt").open("a") as f:
        f.write("# changed\n")
    refused = subprocess.run(
        ["sh", "install.sh"], cwd=root, env=_clean_env(PYTHON=sys.executable), capture_output=True, text=True
    )
    assert refused.returncode != 0 and "SHA256SUMS" in refused.stderr, refused.stdout + refused.stderr
    assert not (root / ".venv").exists()


def _platform():
    import sysconfig

    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "127.0.0.1", "X-Forwarded-Proto": "https", **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _network_off():
    """A command prefix that runs its command in a new network namespace (no network at all), where
    the machine allows it (root here and in CI); else none: pip's own settings still forbid the index."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def test_installs_offline_and_serves(bundle, tmp_path):
    python = _system_python()
    require_or_skip(python is not None, "python3.11 with venv and ensurepip (python3 -m venv)")
    require_or_skip(shutil.which("sha256sum") is not None, "sha256sum (coreutils)")
    with tarfile.open(bundle) as tar:
        tar.extractall(tmp_path, filter="data")
    root = tmp_path / bundle.name.removesuffix(".tar.gz")
    venv = root / ".venv"

    # pip's network off: no index (flag and variable), an index address nothing answers on, no pip
    # configuration of this machine (its local mirrors), and where possible no network at all.
    offline = _network_off()
    pip_env = _clean_env(
        PYTHON=python,
        PIP_NO_INDEX="1",
        PIP_INDEX_URL="http://127.0.0.1:9/simple/",
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_CACHE_DIR="1",
    )
    started = time.monotonic()
    done = subprocess.run([*offline, "sh", str(root / "install.sh")], env=pip_env, capture_output=True, text=True)
    figures["install_seconds"] = round(time.monotonic() - started, 1)
    figures["install_network_namespace"] = bool(offline)
    assert done.returncode == 0, done.stdout + done.stderr
    freeze = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "freeze"], env=pip_env, capture_output=True, text=True
    )
    installed = {line.split("==")[0].lower() for line in freeze.stdout.splitlines()}
    assert {"django", "gunicorn", "whitenoise", "psycopg", "celery", "lxml"} <= installed
    # The venv is the system Python's, not this test's: nothing from the project's own .venv.
    cfg = (venv / "pyvenv.cfg").read_text()
    assert str(ROOT / ".venv") not in cfg

    # Production-like settings (the Makefile's `security` values), SQLite in tmp.
    app_env = _clean_env(
        DJANGO_SETTINGS_MODULE="visitplan.settings",
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="visit.example.gov.cn,127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL="memory://",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        MEDIA_ROOT=str(tmp_path / "media"),
    )
    py = str(venv / "bin" / "python")
    for args in (["check", "--deploy", "--fail-level", "WARNING"], ["migrate", "--noinput", "-v0"]):
        ran = subprocess.run([py, "manage.py", *args], cwd=root, env=app_env, capture_output=True, text=True)
        assert ran.returncode == 0, f"manage.py {' '.join(args)}:\n{ran.stdout}{ran.stderr}"

    port = _free_port()
    conf = root / "deploy" / "gunicorn.conf.py"
    cmd = [str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2"]
    cmd += ["--config", str(conf)] if conf.is_file() else ["--chdir", str(root), "visitplan.wsgi:application"]
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(cmd, cwd=root, env=app_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, body = _get(port, "/login/")
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer in 60 s"
                time.sleep(0.3)
        assert status == 200, body[:500]
        page = body.decode()
        manifest = json.loads((root / "staticfiles" / "staticfiles.json").read_text())["paths"]
        linked = [h for n, h in manifest.items() if n.endswith((".css", ".js")) and f"/static/{h}" in page]
        assert linked, "the login page links no hashed stylesheet or script"
        status, headers, body = _get(port, f"/static/{linked[0]}", {"Accept-Encoding": "br"})
        assert status == 200
        assert "immutable" in headers.get("Cache-Control", ""), headers
        assert headers.get("Content-Encoding") == "br", headers
        assert body == (root / "staticfiles" / (linked[0] + ".br")).read_bytes()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()

    figures["bundle_mb"] = round(figures["bundle_bytes"] / 1e6, 1)
    figures["wheels"] = len(list((root / "wheels").iterdir()))
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nbundle: {json.dumps(figures)}")
