"""平面图 in a real browser, on a phone: the street admin uploads a plan (a refused SVG first), sees it
on the page, and a grid worker's browser shows the image his grid's map will draw on.
Screenshots: plan_upload_*.png."""

import struct
import zlib

import pytest
from django.db import connection

from households.models import NodePlan
from tests.support.browser import log_in, screenshot
from tests.support.images import SVG

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def db(fn):
    try:
        return fn()
    finally:
        connection.close()


def plan_picture(width=600, height=400) -> bytes:
    """A plan as an office draws one: grey ground, two white roads, six blocks of buildings."""
    ground, road, block = (229, 231, 235), (255, 255, 255), (203, 213, 225)
    blocks = [(60 + i * 170, 50 + j * 190, 120, 110) for i in range(3) for j in range(2)]
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            if 170 <= y < 200 or 220 <= x < 240:
                colour = road
            elif any(bx <= x < bx + bw and by <= y < by + bh for bx, by, bw, bh in blocks):
                colour = block
            else:
                colour = ground
            row += bytes(colour)
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def fits(page, width=360):
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_street_admin_uploads_a_plan_on_his_phone(live_server, browser_page, world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    svg = tmp_path / "平面图.svg"
    svg.write_bytes(SVG)
    plan = tmp_path / "第1网格平面图.png"
    plan.write_bytes(plan_picture())
    grid = world.grid_a
    upload = f"{live_server.url}/households/nodes/{grid.pk}/plan/"
    page = browser_page

    log_in(page, live_server, "admin")
    page.goto(upload)
    assert "上传平面图" in page.inner_text("main") and fits(page)
    screenshot(page, "plan_upload_empty")

    page.set_input_files("input[type=file]", str(svg))
    page.click("form.form-card button[type=submit]")
    page.wait_for_load_state()
    assert "SVG 矢量图可能含有脚本" in page.inner_text(".field .error") and fits(page)
    screenshot(page, "plan_upload_refused")
    assert not db(lambda: NodePlan.objects.exists())

    page.set_input_files("input[type=file]", str(plan))
    page.click("form.form-card button[type=submit]")
    page.wait_for_load_state()
    assert "已保存第1网格的平面图（600×400 像素）" in page.inner_text("main")
    page.goto(upload)  # (the upload goes on to the 网格图 when that page exists)
    assert page.evaluate("document.querySelector('.plan-frame img').naturalWidth") == 600
    assert "更换平面图" in page.inner_text("main") and fits(page)
    screenshot(page, "plan_upload_done")
    page.click("details summary")
    screenshot(page, "plan_upload_delete", selector=".plan-delete")

    # The grid worker's browser gets the image (his map draws on it), not the upload page.
    page.context.clear_cookies()
    log_in(page, live_server, "grid_a")
    answer = page.goto(f"{live_server.url}/households/nodes/{grid.pk}/plan/image")
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert page.goto(upload).status == 403
