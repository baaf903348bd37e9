"""平面图: the plan image of a community or a grid, on which its buildings are placed for the 网格图.

The street admin of the node's street uploads it (``may_manage_plans``); ``save_plan`` checks the
file by its bytes, not its name: PNG, JPEG or WebP by magic number (an SVG can carry script: never
accepted), within ``settings.PLAN_MAX_UPLOAD_MB``, its width and height read from the header
(``image_info``: PNG IHDR, JPEG SOFn, WebP VP8 / VP8L / VP8X — no image library decodes an upload),
each at most ``MAX_SIDE`` pixels, and the file whole (a PNG's chunks up to IEND, a JPEG's EOI after
its scan, a WebP's RIFF length). A new plan replaces the old in the same ``NodePlan`` row, so the
buildings placed on it (``BuildingSpot``, fractions of the image) stay; the old file is deleted once
the change is committed.

The file lives in the default storage under ``plans/<node>/`` and is served only by the scoped
view (households.plan_views.plan_image), never as public media.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse

from core.scope import scope_of

from .models import Node, NodeKind, NodePlan
from .roles import STREET_ADMIN

# The levels that have a plan: a community's and a grid's buildings are placed on it.
PLAN_KINDS = (NodeKind.COMMUNITY, NodeKind.GRID)
# Wider or taller images are refused: a plan drawn on a phone needs no more, and a decoder in the
# browser would spend hundreds of MB on a 20000 × 20000 bitmap that fits in 5 MB.
MAX_SIDE = 8000

TYPE_MESSAGE = "平面图须为 PNG、JPEG 或 WebP 图片"
SVG_MESSAGE = TYPE_MESSAGE + "；SVG 矢量图可能含有脚本，不能上传，请导出为 PNG 后上传"
BROKEN_MESSAGE = "平面图文件不完整或已损坏（可能上传中断），请重新导出图片后上传"


class PlanError(Exception):
    """The upload cannot be the plan; ``message`` says why, in Chinese."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    extension: str
    width: int
    height: int


def max_upload_bytes() -> int:
    return settings.PLAN_MAX_UPLOAD_MB * 1024 * 1024


# ------------------------------------------------------------------------------------------ the bytes


def image_info(data: bytes) -> ImageInfo:
    """The type and size of a PNG, JPEG or WebP image from its bytes; PlanError otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        width, height = _png_size(data)
        info = ImageInfo("image/png", ".png", width, height)
    elif data.startswith(b"\xff\xd8\xff"):
        width, height = _jpeg_size(data)
        info = ImageInfo("image/jpeg", ".jpg", width, height)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        width, height = _webp_size(data)
        info = ImageInfo("image/webp", ".webp", width, height)
    else:
        head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) or b"<svg" in head:
            raise PlanError(SVG_MESSAGE)
        raise PlanError(TYPE_MESSAGE + "（该文件不是这几种图片，请另存为 PNG 或 JPEG 后上传）")
    if not (info.width and info.height):
        raise PlanError(BROKEN_MESSAGE)
    if info.width > MAX_SIDE or info.height > MAX_SIDE:
        raise PlanError(f"平面图的宽和高都不能超过 {MAX_SIDE} 像素（现为 {info.width}×{info.height}），请缩小后上传")
    return info


def _png_size(data: bytes) -> tuple[int, int]:
    """IHDR's width and height; every chunk must be there up to IEND."""
    at = 8
    size = None
    while True:
        if at + 12 > len(data):
            raise PlanError(BROKEN_MESSAGE)
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        end = at + 12 + length
        if end > len(data):
            raise PlanError(BROKEN_MESSAGE)
        if size is None:
            if kind != b"IHDR" or length != 13:
                raise PlanError(BROKEN_MESSAGE)
            size = struct.unpack(">II", data[at + 8 : at + 16])
        if kind == b"IEND":
            return size
        at = end


# JPEG markers that start a frame (SOF0–SOF15 but DHT C4, JPG C8 and DAC CC) and carry its size.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers without a length: TEM, RST0–7, SOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """The frame's width and height (its SOFn segment); the scan must end with EOI."""
    at = 2
    size = None
    while True:
        while at < len(data) and data[at] == 0xFF and at + 1 < len(data) and data[at + 1] == 0xFF:
            at += 1  # fill bytes
        if at + 2 > len(data) or data[at] != 0xFF:
            raise PlanError(BROKEN_MESSAGE)
        marker = data[at + 1]
        if marker in _STANDALONE:
            at += 2
            continue
        if marker == 0xD9:  # EOI before any scan
            raise PlanError(BROKEN_MESSAGE)
        if at + 4 > len(data):
            raise PlanError(BROKEN_MESSAGE)
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if length < 2 or at + 2 + length > len(data):
            raise PlanError(BROKEN_MESSAGE)
        if marker in _SOF:
            if length < 7:
                raise PlanError(BROKEN_MESSAGE)
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            size = (width, height)
        elif marker == 0xDA:  # SOS: the entropy-coded scan follows, up to EOI at the end
            if size is None or data.rfind(b"\xff\xd9") < at + 2 + length:
                raise PlanError(BROKEN_MESSAGE)
            return size
        at += 2 + length


def _webp_size(data: bytes) -> tuple[int, int]:
    """The canvas of a WebP: its first chunk (VP8 lossy, VP8L lossless, VP8X extended)."""
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 > len(data) or len(data) < 30:
        raise PlanError(BROKEN_MESSAGE)
    kind = data[12:16]
    (chunk_size,) = struct.unpack("<I", data[16:20])
    body = data[20 : 20 + chunk_size]
    if len(body) < chunk_size:
        raise PlanError(BROKEN_MESSAGE)
    if kind == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        (bits,) = struct.unpack("<I", body[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(body) >= 10:
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return width, height
    raise PlanError(BROKEN_MESSAGE)


def _read(uploaded_file) -> bytes:
    """The upload's bytes, refused over the size limit before it is read whole."""
    limit = max_upload_bytes()
    size = getattr(uploaded_file, "size", None)
    if size is not None and size > limit:
        raise PlanError(
            f"平面图不能超过 {settings.PLAN_MAX_UPLOAD_MB} MB（该文件 {size / 1024 / 1024:.1f} MB），请压缩后上传"
        )
    if hasattr(uploaded_file, "seek"):
        uploaded_file.seek(0)
    data = uploaded_file.read(limit + 1)
    if len(data) > limit:
        raise PlanError(f"平面图不能超过 {settings.PLAN_MAX_UPLOAD_MB} MB，请压缩后上传")
    if not data:
        raise PlanError("上传的文件是空的，请重新选择平面图")
    return data


# ------------------------------------------------------------------------------------------ who and where


def may_manage_plans(user, node: Node | None = None) -> bool:
    """The street admin (or a superuser) of the node's whole street uploads and deletes its plan;
    without ``node``: whether the user is someone who may manage plans at all."""
    if not (user.is_authenticated and user.is_active):
        return False
    scope = scope_of(user)
    if not (user.is_superuser or STREET_ADMIN in scope.roles):
        return False
    if node is None or scope.paths is None:
        return True
    street = node.path.split(".")[0]
    return any(street == p or street.startswith(p + ".") for p in scope.paths)


def plan_image_url(plan: NodePlan) -> str:
    """Where a page shows the plan: the scoped view, with the upload's time so that a replaced
    image is fetched again (the view lets the browser keep it a day)."""
    url = reverse("households:plan_image", args=[plan.node_id])
    return f"{url}?v={int(plan.uploaded_at.timestamp())}" if plan.uploaded_at else url


# ------------------------------------------------------------------------------------------ writing


def save_plan(node: Node, uploaded_file, by) -> NodePlan:
    """Store ``uploaded_file`` as the plan of ``node`` (a community or a grid), replacing the old
    one in the same row (its buildings' spots stay). PlanError when the file cannot be the plan."""
    if node.kind not in PLAN_KINDS:
        raise PlanError("只有社区和网格可以上传平面图")
    data = _read(uploaded_file)
    info = image_info(data)
    storage = NodePlan._meta.get_field("image").storage
    new_name = None
    try:
        with transaction.atomic():
            plan = NodePlan.objects.select_for_update().filter(node=node).first()
            old_name = plan.image.name if plan is not None else ""
            if plan is None:
                plan = NodePlan(node=node)
            plan.image.save(f"plan{info.extension}", ContentFile(data), save=False)
            new_name = plan.image.name
            plan.content_type = info.content_type
            plan.width, plan.height = info.width, info.height
            plan.uploaded_by = by
            plan.save()
            if old_name and old_name != new_name:
                transaction.on_commit(lambda: storage.delete(old_name), robust=True)
    except BaseException:
        if new_name:
            storage.delete(new_name)  # the row never pointed at it
        raise
    return plan


def delete_plan(node: Node) -> int | None:
    """Delete the plan of ``node`` and the spots on it; how many spots went (None: there was no
    plan). The file goes once the deletion is committed."""
    with transaction.atomic():
        plan = NodePlan.objects.select_for_update().filter(node=node).first()
        if plan is None:
            return None
        spots = plan.spots.count()
        name = plan.image.name
        storage = plan.image.storage
        plan.delete()
        if name:
            transaction.on_commit(lambda: storage.delete(name), robust=True)
    return spots
