"""Pages on a weak 3G signal, and their accessibility: bytes on the wire, load times and axe-core findings.

Runs against a running server with the demo data (``manage.py seed_demo``; passwords demo12345):

    .venv/bin/python bench/bench_pages.py --url http://127.0.0.1:8000 [--runs 3] [--json out.json]

For each page (as the role that uses it) in Debian Chromium, with Chromium's network emulation at
400 ms latency, 400 kbit/s down and 200 kbit/s up (a weak 3G signal in a stairwell):

- cold: a fresh browser context (empty cache): bytes on the wire (the encoded body and headers of
  every response), requests, DOMContentLoaded and load times, and for the dashboard the time at
  which its key figures are visible;
- repeat: the same page opened again in the same context: requests that went to the network and
  their bytes (a page whose static files are cached fetches only its HTML);
- axe-core 4.14 (tests/support/vendor) findings by impact, at 390 px.

Times are medians of ``--runs`` cold loads. The figures are what the closing note of the
figures in bench/README.md compare, before (the previous commit's tree) and after.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.axe import audit  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.network import Wire, timing  # noqa: E402

PASSWORD = "demo12345"
PHONE = {"width": 390, "height": 844}


def pages(url_of):
    """(name, username, path) of the pages measured; ids found through the pages themselves."""
    return [
        ("login", None, "/login/"),
        ("我的包户", "grid_hutian_1", "/visits/"),
        ("待办", "grid_hutian_1", "/visits/todo/"),
        ("户页", "grid_hutian_1", url_of("household")),
        ("走访表", "grid_hutian_1", url_of("visit")),
        ("回头看", "grid_hutian_1", "/visits/followups/"),
        ("居民户", "grid_hutian_1", "/households/"),
        ("诉求台账", "sec_hutian", "/issues/"),
        ("诉求详情", "sec_hutian", url_of("issue")),
        ("待审核", "sec_hutian", "/issues/review/"),
        ("我的诉求", "dept_minzheng_1", "/issues/mine/"),
        ("通知", "admin", "/notifications/"),
        ("统计看板", "admin", "/reports/"),
        ("后台首页", "admin", "/admin/"),
        ("后台居民户", "admin", "/admin/households/household/"),
    ]


def log_in(page, base, username):
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def find_paths(browser, base):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    log_in(page, base, "grid_hutian_1")
    page.goto(f"{base}/visits/")
    html = page.content()
    household = re.search(r'href="(/visits/h/\d+/)"', html).group(1)
    log_in(page, base, "sec_hutian")
    page.goto(f"{base}/issues/")
    issue = re.search(r'href="(/issues/\d+/)"', page.content()).group(1)
    context.close()
    found = {"household": household, "visit": household + "visit/", "issue": issue}
    return found.__getitem__


def measure(browser, base, name, username, path, runs):
    cold = []
    findings = None
    for _ in range(runs):
        context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True)
        page = context.new_page()
        if username:
            log_in(page, base, username)
        # Cold: nothing of the site in the cache but the login page's own files; clear them too.
        wire = Wire(page)
        wire.clear_cache()
        wire.reset()
        page.goto(f"{base}{path}", wait_until="load")
        page.wait_for_timeout(500)  # the DevTools events of the last responses may trail the load event
        t = timing(page)
        # The dashboard's key figures are its first content (the tiles): the first contentful paint.
        figures_ms = t["fcp"] if name == "统计看板" else None
        cold.append({"bytes": wire.bytes, "requests": wire.requests, "dcl": t["dcl"], "load": t["load"],
                     "fcp": t["fcp"] or 0, "figures": figures_ms})  # fmt: skip
        # Repeat: the same page again in the same context.
        wire.reset()
        page.goto(f"{base}{path}", wait_until="load")
        page.wait_for_timeout(500)
        repeat = {"bytes": wire.bytes, "requests": wire.requests}
        if findings is None:
            findings = audit(page)
        context.close()
    row = {
        "page": name,
        "user": username or "-",
        "path": path,
        "cold_bytes": statistics.median(c["bytes"] for c in cold),
        "cold_requests": statistics.median(c["requests"] for c in cold),
        "dcl_ms": round(statistics.median(c["dcl"] for c in cold)),
        "load_ms": round(statistics.median(c["load"] for c in cold)),
        "fcp_ms": round(statistics.median(c["fcp"] for c in cold)),
        "repeat_requests": repeat["requests"],
        "repeat_bytes": repeat["bytes"],
        "axe": {
            impact: sum(f.nodes for f in findings if f.impact == impact)
            for impact in ("critical", "serious", "moderate", "minor")
        },  # fmt: skip
        "axe_rules": sorted({f"{f.impact}:{f.rule}" for f in findings}),
    }
    if cold[0]["figures"] is not None:
        row["figures_ms"] = round(statistics.median(c["figures"] for c in cold if c["figures"] is not None))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", help="page names, comma-separated")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        url_of = find_paths(browser, args.url)
        wanted = set(args.only.split(",")) if args.only else None
        for name, username, path in pages(url_of):
            if wanted and name not in wanted:
                continue
            try:
                row = measure(browser, args.url, name, username, path, args.runs)
            except Exception as exc:  # a page missing in an older tree
                print(f"{name:8} {path}: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            rows.append(row)
            axe = row["axe"]
            extra = f" figures {row['figures_ms']} ms" if "figures_ms" in row else ""
            print(
                f"{name:8} cold {row['cold_bytes'] / 1024:7.1f} KB {row['cold_requests']:3.0f} req "
                f"FCP {row['fcp_ms']:6d} ms DCL {row['dcl_ms']:6d} ms load {row['load_ms']:6d} ms{extra} | repeat {row['repeat_requests']} req "
                f"{row['repeat_bytes'] / 1024:.1f} KB | axe crit {axe['critical']} ser {axe['serious']} "
                f"mod {axe['moderate']} min {axe['minor']} {' '.join(row['axe_rules'])}"
            )
        browser.close()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
