"""平面图: the upload checked by its bytes (households.plans), its pages and the scoped image."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from households.models import BuildingSpot, Node, NodeKind, NodePlan
from households.plans import (
    BROKEN_MESSAGE,
    MAX_SIDE,
    SVG_MESSAGE,
    TYPE_MESSAGE,
    PlanError,
    delete_plan,
    image_info,
    save_plan,
)
from households.roles import STREET_ADMIN
from tests.support.images import SVG, jpeg_bytes, png_bytes, webp_bytes
from tests.support.world import make_user
from visitplan.models import Tier

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PLAN_MAX_UPLOAD_MB = 5
    return Path(settings.MEDIA_ROOT)


def upload(data, name="平面图.png", content_type="image/png"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def stored(media, plan) -> Path:
    return media / plan.image.name


# ------------------------------------------------------------------------------------------ the bytes


@pytest.mark.parametrize(
    ("data", "content_type", "size"),
    [
        (png_bytes(40, 30), "image/png", (40, 30)),
        (jpeg_bytes(24, 16), "image/jpeg", (24, 16)),
        (webp_bytes(20, 10), "image/webp", (20, 10)),  # lossless (VP8L)
        (webp_bytes(1024, 768, kind="VP8"), "image/webp", (1024, 768)),
        (webp_bytes(7999, 3000, kind="VP8X"), "image/webp", (7999, 3000)),
    ],
)
def test_the_type_and_size_come_from_the_header(data, content_type, size):
    info = image_info(data)

    assert (info.content_type, (info.width, info.height)) == (content_type, size)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (SVG, SVG_MESSAGE),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", SVG_MESSAGE),
        ("这是一份文字说明，不是图片".encode(), TYPE_MESSAGE),
        (b"GIF89a\x01\x00\x01\x00", TYPE_MESSAGE),
        (png_bytes(40, 30)[:-20], BROKEN_MESSAGE),  # cut before IEND
        (png_bytes(40, 30)[:30], BROKEN_MESSAGE),  # cut in IHDR
        (jpeg_bytes(24, 16)[:-2], BROKEN_MESSAGE),  # no EOI after the scan
        (jpeg_bytes(24, 16)[:40], BROKEN_MESSAGE),  # cut before the frame
        (webp_bytes(20, 10)[:-3], BROKEN_MESSAGE),  # shorter than its RIFF length
        (png_bytes(MAX_SIDE + 1, 1), f"平面图的宽和高都不能超过 {MAX_SIDE} 像素（现为 {MAX_SIDE + 1}×1）"),
        (webp_bytes(100, 9000, kind="VP8X"), "不能超过 8000 像素"),
    ],
)
def test_what_is_not_a_whole_png_jpeg_or_webp_is_refused(data, message):
    with pytest.raises(PlanError) as refused:
        image_info(data)

    assert message in refused.value.message
    assert refused.value.message.startswith(("平面图", "上传"))


# ------------------------------------------------------------------------------------------ save_plan


@pytest.mark.parametrize(
    ("data", "content_type", "extension", "size"),
    [
        (png_bytes(40, 30), "image/png", ".png", (40, 30)),
        (jpeg_bytes(24, 16), "image/jpeg", ".jpg", (24, 16)),
        (webp_bytes(20, 10), "image/webp", ".webp", (20, 10)),
    ],
)
def test_a_plan_is_stored_by_what_its_bytes_are(world, media, data, content_type, extension, size):
    # The name and the browser's type say GIF: neither is believed.
    plan = save_plan(world.grid_a, upload(data, "图.gif", "image/gif"), world.admin)

    plan.refresh_from_db()
    assert (plan.content_type, plan.width, plan.height) == (content_type, *size)
    assert plan.image.name.startswith(f"plans/{world.grid_a.pk}/") and plan.image.name.endswith(extension)
    assert stored(media, plan).read_bytes() == data
    assert plan.uploaded_by == world.admin


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (SVG, "平面图.png", "SVG 矢量图可能含有脚本"),
        ("第1网格 平面图".encode(), "平面图.jpg", TYPE_MESSAGE),
        (png_bytes(40, 30)[:-20], "平面图.png", "平面图文件不完整"),
        (b"", "平面图.png", "上传的文件是空的"),
    ],
)
def test_a_refused_upload_stores_nothing(world, media, data, name, message):
    with pytest.raises(PlanError, match=message):
        save_plan(world.grid_a, upload(data, name), world.admin)

    assert not NodePlan.objects.exists()
    assert not (media / "plans").exists() or not any((media / "plans").rglob("*.*"))


def test_an_oversize_file_is_refused_before_it_is_read(world, settings):
    big = png_bytes(40, 30) + b"\x00" * (5 * 1024 * 1024)

    with pytest.raises(PlanError, match=r"平面图不能超过 5 MB（该文件 5\.0 MB）"):
        save_plan(world.grid_a, upload(big), world.admin)
    settings.PLAN_MAX_UPLOAD_MB = 6  # the setting is the limit (what follows IEND is never shown)
    assert save_plan(world.grid_a, upload(big), world.admin).width == 40


def test_only_a_community_or_a_grid_has_a_plan(world):
    building = Node.objects.get(kind=NodeKind.BUILDING, parent=world.grid_a)
    for node in (world.street, building):
        with pytest.raises(PlanError, match="只有社区和网格可以上传平面图"):
            save_plan(node, upload(png_bytes()), world.admin)
    assert save_plan(world.c1, upload(png_bytes()), world.admin).node == world.c1


def test_a_new_plan_replaces_the_file_and_keeps_the_spots(world, media, django_capture_on_commit_callbacks):
    first = save_plan(world.grid_a, upload(png_bytes(40, 30)), world.admin)
    building = Node.objects.get(kind=NodeKind.BUILDING, parent=world.grid_a)
    BuildingSpot.objects.create(plan=first, building=building, x=0.25, y=0.75)
    old_file = stored(media, first)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = save_plan(world.grid_a, upload(jpeg_bytes(80, 64), "新图.jpg"), world.admin)

    assert len(callbacks) == 1
    assert second.pk == first.pk and NodePlan.objects.count() == 1
    second.refresh_from_db()
    assert (second.content_type, second.width, second.height) == ("image/jpeg", 80, 64)
    assert list(second.spots.values_list("building", "x", "y")) == [(building.pk, 0.25, 0.75)]
    assert not old_file.exists()  # gone once the change was committed
    assert stored(media, second).read_bytes() == jpeg_bytes(80, 64)


def test_a_refused_replacement_leaves_the_plan_as_it_was(world, media):
    plan = save_plan(world.grid_a, upload(png_bytes(40, 30)), world.admin)

    with pytest.raises(PlanError):
        save_plan(world.grid_a, upload(SVG), world.admin)

    plan.refresh_from_db()
    assert (plan.content_type, plan.width) == ("image/png", 40)
    assert stored(media, plan).exists()


def test_deleting_a_plan_deletes_its_spots_and_its_file(world, media, django_capture_on_commit_callbacks):
    plan = save_plan(world.grid_a, upload(png_bytes()), world.admin)
    building = Node.objects.get(kind=NodeKind.BUILDING, parent=world.grid_a)
    BuildingSpot.objects.create(plan=plan, building=building, x=0.5, y=0.5)
    path = stored(media, plan)

    with django_capture_on_commit_callbacks(execute=True):
        assert delete_plan(world.grid_a) == 1

    assert not NodePlan.objects.exists() and not BuildingSpot.objects.exists()
    assert not path.exists()
    assert delete_plan(world.grid_a) is None


# ------------------------------------------------------------------------------------------ the pages


@pytest.fixture
def outsider(world):
    """The street admin of a second street."""
    st2 = Node.objects.create(kind=NodeKind.STREET, name="外街街道")
    cx = Node.objects.create(kind=NodeKind.COMMUNITY, name="外街社区", parent=st2)
    grid_x = Node.objects.create(kind=NodeKind.GRID, name="外街网格", parent=cx)
    user = make_user("outsider", STREET_ADMIN, scope=st2, tier=Tier.STREET_STAFF, staff=True)
    user.grid_x = grid_x
    return user


def upload_url(node):
    return reverse("households:plan_upload", args=[node.pk])


def image_url(node):
    return reverse("households:plan_image", args=[node.pk])


def test_the_street_admin_uploads_a_plan(client, world, media):
    client.force_login(world.admin)
    page = client.get(upload_url(world.grid_a))
    assert page.status_code == 200
    text = page.content.decode()
    assert "上传平面图" in text and 'accept="image/png,image/jpeg,image/webp"' in text
    assert "湖田街道 / 湖田社区 / 第1网格（网格）" in text

    response = client.post(upload_url(world.grid_a), {"image": upload(png_bytes(40, 30))}, follow=True)

    plan = NodePlan.objects.get(node=world.grid_a)
    assert (plan.width, plan.height, plan.uploaded_by) == (40, 30, world.admin)
    first, *_ = response.redirect_chain
    assert first[1] == 302
    assert "已保存第1网格的平面图（40×30 像素）" in response.content.decode()
    again = client.get(upload_url(world.grid_a)).content.decode()
    assert "更换平面图" in again and "40×30 像素" in again and image_url(world.grid_a) in again


def test_a_refused_file_shows_its_reason_on_the_form(client, world):
    client.force_login(world.admin)

    response = client.post(upload_url(world.grid_a), {"image": upload(SVG, "平面图.svg", "image/svg+xml")})

    assert response.status_code == 200
    text = response.content.decode()
    assert 'class="error"' in text and "平面图须为 PNG、JPEG 或 WebP 图片" in text
    assert not NodePlan.objects.exists()
    empty = client.post(upload_url(world.grid_a), {})
    assert "请选择平面图文件" in empty.content.decode()


@pytest.mark.parametrize("who", ["secretary", "worker_a", "leader", "handler"])
def test_other_roles_cannot_upload_or_delete(client, world, who):
    save_plan(world.grid_a, upload(png_bytes(40, 30)), world.admin)
    client.force_login(getattr(world, who))

    assert client.get(upload_url(world.grid_a)).status_code == 403
    assert client.post(upload_url(world.grid_a), {"image": upload(png_bytes(10, 10))}).status_code == 403
    delete = reverse("households:plan_delete", args=[world.grid_a.pk])
    assert client.post(delete, {"confirm": "on"}).status_code == 403
    plan = NodePlan.objects.get()
    assert (plan.width, plan.height) == (40, 30)


def test_another_streets_admin_neither_uploads_nor_sees(client, world, outsider):
    save_plan(world.grid_a, upload(png_bytes(40, 30)), world.admin)
    client.force_login(outsider)

    assert client.get(upload_url(world.grid_a)).status_code == 404
    assert client.post(upload_url(world.grid_a), {"image": upload(png_bytes(10, 10))}).status_code == 404
    assert client.post(reverse("households:plan_delete", args=[world.grid_a.pk]), {"confirm": "on"}).status_code == 404
    assert client.get(image_url(world.grid_a)).status_code == 404
    assert NodePlan.objects.get().width == 40
    # His own street's grid is his to plan.
    assert client.post(upload_url(outsider.grid_x), {"image": upload(png_bytes(10, 10))}).status_code == 302


def test_the_image_is_served_to_those_who_see_the_node(client, world, media):
    data = png_bytes(40, 30)
    save_plan(world.grid_a, upload(data), world.admin)
    save_plan(world.grid_b, upload(jpeg_bytes(16, 8)), world.admin)
    save_plan(world.c1, upload(webp_bytes(20, 10)), world.admin)
    client.force_login(world.worker_a)  # the grid worker of 第1网格

    response = client.get(image_url(world.grid_a))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, max-age=86400"
    assert client.get(image_url(world.c1))["Content-Type"] == "image/webp"  # his community, above his grid
    assert client.get(image_url(world.grid_b)).status_code == 404  # the other grid: not his
    assert client.get(image_url(world.grid_c)).status_code == 404  # no plan (and not his)
    building = Node.objects.get(kind=NodeKind.BUILDING, parent=world.grid_a)
    assert client.get(image_url(building)).status_code == 404  # a building has no plan
    client.force_login(world.handler)  # sees the issues routed to him, no node
    assert client.get(image_url(world.grid_a)).status_code == 403
    client.logout()
    assert client.get(image_url(world.grid_a)).status_code == 302


def test_a_missing_plan_or_file_is_404(client, world, media):
    client.force_login(world.admin)
    assert client.get(image_url(world.grid_a)).status_code == 404
    plan = save_plan(world.grid_a, upload(png_bytes()), world.admin)
    stored(media, plan).unlink()
    assert client.get(image_url(world.grid_a)).status_code == 404


def test_the_street_admin_deletes_a_plan_when_he_confirms(client, world, media):
    plan = save_plan(world.grid_a, upload(png_bytes()), world.admin)
    client.force_login(world.admin)
    delete = reverse("households:plan_delete", args=[world.grid_a.pk])

    assert "删除平面图" in client.get(upload_url(world.grid_a)).content.decode()
    unconfirmed = client.post(delete, {}, follow=True)
    assert "请勾选“确认删除”后再删除平面图" in unconfirmed.content.decode()
    assert NodePlan.objects.filter(pk=plan.pk).exists()
    assert client.get(delete).status_code == 405

    response = client.post(delete, {"confirm": "on"}, follow=True)

    assert "已删除第1网格的平面图" in response.content.decode()
    assert not NodePlan.objects.exists()
