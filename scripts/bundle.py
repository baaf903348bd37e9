#!/usr/bin/env python3
"""离线安装包 · The offline install bundle (``make bundle``; docs/deploy.md, step 3).

Builds ``dist/visitplan-<version>-py<X.Y>-<platform>.tar.gz`` with one folder of the same name in it:

- the source of the commit HEAD (``git archive``: committed files only, as released);
- ``wheels/``: a wheel of every runtime requirement (requirements.txt and what it pulls in) for the
  Python running this script and its platform, so ``pip install --no-index`` needs no network;
- ``staticfiles/``: ``collectstatic`` of that source with the production storage (hashed names,
  their .gz and .br, staticfiles.json), ready for nginx and WhiteNoise;
- ``install.sh``: checks SHA256SUMS, makes ``.venv`` and installs from ``wheels/`` only;
- ``MANIFEST`` (what was built from what) and ``SHA256SUMS`` (every other file).

Building needs the package registry (pip download); installing the bundle does not. Run it with
the Python the servers will run (the wheels are for this interpreter's version and platform).
Reproducible-ish: entries sorted, owner root, every timestamp the commit's time, no caches.
"""

import argparse
import gzip
import hashlib
import io
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INSTALL_SH = """#!/bin/sh
# 离线安装 · Offline install of this bundle: checks SHA256SUMS, creates the virtual environment
# (.venv here, or $VENV) with python3 (or $PYTHON, which must be Python {py}), and installs
# requirements.txt from wheels/ only: no package index, no network, no pip configuration of this
# machine (its index and find-links settings are ignored). Then: docs/deploy.md from step 4.
set -eu
cd "$(dirname "$0")"
PYTHON="${{PYTHON:-python3}}"
VENV="${{VENV:-.venv}}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != ({major}, {minor}))'; then
  echo "错误：此安装包需要 Python {py}（wheels/ 按它制作），而 $PYTHON 是 $("$PYTHON" -V 2>&1)。" >&2
  echo "Error: this bundle needs Python {py}; set PYTHON=/path/to/python{py}." >&2
  exit 1
fi
if ! sha256sum --quiet --check SHA256SUMS; then
  echo "错误：安装包文件不完整或被改动（SHA256SUMS 校验失败），请重新拷贝。" >&2
  exit 1
fi

"$PYTHON" -m venv "$VENV"
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_CONSTRAINT PIP_REQUIREMENT
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/python" -m pip install --quiet --no-index --find-links wheels -r requirements.txt
"$VENV/bin/python" -m pip check
echo "已安装到 $VENV · installed into $VENV"
"""


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, **kwargs)


def git(*args):
    return run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def version():
    """The tag on HEAD, else the short commit id."""
    tag = subprocess.run(
        ["git", "describe", "--tags", "--exact-match", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return tag.stdout.strip() if tag.returncode == 0 else git("rev-parse", "--short", "HEAD")


def platform_tag():
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def export_source(dest: Path):
    """HEAD's files, as ``git archive`` gives them."""
    archive = run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")


def collect_wheels(src: Path, wheels: Path):
    """A wheel for every runtime requirement: downloaded where one exists for this Python and
    platform, else built from the sdist."""
    wheels.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    req = str(src / "requirements.txt")
    got = subprocess.run([*pip, "download", "-r", req, "-d", str(wheels), "--only-binary=:all:"])
    if got.returncode != 0:
        print("bundle: some requirement has no wheel here; building wheels (pip wheel)", file=sys.stderr)
        run([*pip, "wheel", "-r", req, "-w", str(wheels)])
    others = sorted(p.name for p in wheels.iterdir() if p.suffix != ".whl")
    if others:
        raise SystemExit(f"bundle: wheels/ has files that are not wheels: {others}")


def collect_static(src: Path):
    """collectstatic of the exported source, with its own settings and production values."""
    before = set(src.rglob("*"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "visitplan.settings",
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "localhost",
        "STATIC_ROOT": str(src / "staticfiles"),
        "DATABASE_URL": "sqlite:///:memory:",
        "CELERY_BROKER_URL": "memory://",  # the filesystem broker would make var/ in the bundle
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=src, env=env)
    # Nothing but staticfiles/ may come of it (no var/, no caches).
    for path in sorted(set(src.rglob("*")) - before, key=lambda p: len(p.parts)):
        if path.exists() and path.relative_to(src).parts[0] != "staticfiles":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if not (src / "staticfiles" / "staticfiles.json").is_file():
        raise SystemExit("bundle: collectstatic wrote no staticfiles.json (is the production storage configured?)")


def sha256(path: Path):
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_of(top: Path):
    return sorted(p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file() or p.is_symlink())


def write_manifest(top: Path, name: str, ver: str, commit: str, commit_time: int):
    wheels = sorted((top / "wheels").iterdir())
    lines = [
        f"name: {name}",
        f"version: {ver}",
        f"commit: {commit}",
        f"commit_time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(commit_time))}",
        f"python: {sys.version_info.major}.{sys.version_info.minor} ({sys.implementation.name})",
        f"platform: {platform_tag()}",
        f"static_files: {sum(1 for p in (top / 'staticfiles').rglob('*') if p.is_file())}",
        f"wheels: {len(wheels)}",
        *(f"  {w.name}" for w in wheels),
        "install: sh install.sh   (then docs/deploy.md from step 4)",
    ]
    (top / "MANIFEST").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sums = [f"{sha256(top / rel)}  {rel}" for rel in files_of(top) if rel != "SHA256SUMS"]
    (top / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf-8")


def write_tar(top: Path, out: Path, mtime: int):
    """Sorted entries, root-owned, one timestamp, gzip without a date: the same input gives the same bytes."""
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            paths = [top, *sorted(top.rglob("*"), key=lambda p: p.relative_to(top).as_posix())]
            for path in paths:
                info = tar.gettarinfo(str(path), arcname=(Path(top.name) / path.relative_to(top)).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = mtime
                if info.isdir():
                    info.mode = 0o755
                    tar.addfile(info)
                elif info.isreg():
                    info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
                    with path.open("rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    tmp.replace(out)


def build(out_dir: Path) -> Path:
    started = time.monotonic()
    ver = version()
    commit = git("rev-parse", "HEAD")
    commit_time = int(git("log", "-1", "--format=%ct", "HEAD"))
    if git("status", "--porcelain", "--untracked-files=no"):
        print("bundle: the working tree has uncommitted changes; the bundle holds HEAD only", file=sys.stderr)
    name = f"visitplan-{ver}-py{sys.version_info.major}.{sys.version_info.minor}-{platform_tag()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir.resolve() / f"{name}.tar.gz"
    with tempfile.TemporaryDirectory(prefix="visitplan-bundle-") as tmp:
        top = Path(tmp) / name
        top.mkdir()
        export_source(top)
        collect_wheels(top, top / "wheels")
        collect_static(top)
        (top / "install.sh").write_text(
            INSTALL_SH.format(
                py=f"{sys.version_info.major}.{sys.version_info.minor}",
                major=sys.version_info.major,
                minor=sys.version_info.minor,
            ),
            encoding="utf-8",
        )
        (top / "install.sh").chmod(0o755)
        write_manifest(top, name, ver, commit, commit_time)
        write_tar(top, out, commit_time)
    size = out.stat().st_size
    print(f"bundle: {out} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.0f} s")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="folder for the .tar.gz (default: dist/)")
    args = parser.parse_args(argv)
    build(Path(args.out))


if __name__ == "__main__":
    main()
