"""平面图 pages: the street admin uploads, replaces or deletes a community's or grid's plan image
(households.plans holds the rules), and everyone who may see the node gets the image through
``plan_image`` — the only way to it: the files are not public media.

Out-of-scope nodes answer 404, exactly as a missing id; other roles than the street admin get 403
on the upload and delete pages (visitplan/access.py).
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from core.scope import scope_of

from . import levels as level_names
from .models import Node, NodePlan
from .plans import (
    MAX_SIDE,
    PLAN_KINDS,
    PlanError,
    delete_plan,
    may_manage_plans,
    plan_image_url,
    save_plan,
)

ACCEPT = "image/png,image/jpeg,image/webp"
# How long a browser keeps a plan image: its URL changes with each upload (plans.plan_image_url).
IMAGE_MAX_AGE = 86400


class PlanForm(forms.Form):
    image = forms.FileField(
        label="平面图",
        error_messages={"required": "请选择平面图文件", "empty": "上传的文件是空的，请重新选择平面图"},
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )


def _node(user, pk, *, ancestors) -> Node:
    """The community or grid ``pk`` if the user may see it; 404 otherwise (missing or not his)."""
    try:
        return Node.objects.visible_to(user, ancestors=ancestors).get(pk=pk, kind__in=PLAN_KINDS)
    except (Node.DoesNotExist, ValueError, TypeError):
        raise Http404("没有找到该社区或网格") from None


def _managed_node(request, pk) -> Node:
    """The node whose plan the street admin manages: 403 for other roles, 404 outside his node."""
    if not may_manage_plans(request.user):
        raise PermissionDenied("只有街道管理员可以上传平面图")
    node = _node(request.user, pk, ancestors=False)
    if not may_manage_plans(request.user, node):
        raise PermissionDenied("只有本街道的街道管理员可以上传平面图")
    return node


def _map_url(node) -> str | None:
    """The 网格图 of the node (reports), when that page exists."""
    try:
        return reverse("reports:map_grid", args=[node.pk])
    except NoReverseMatch:
        return None


@login_required
def plan_upload(request, pk):
    """上传平面图 (GET: the form and the current plan; POST: a new file replaces it)."""
    node = _managed_node(request, pk)
    plan = NodePlan.objects.filter(node=node).select_related("uploaded_by").first()  # the node is scoped
    form = PlanForm(request.POST, request.FILES) if request.method == "POST" else PlanForm()
    if request.method == "POST" and form.is_valid():
        try:
            plan = save_plan(node, form.cleaned_data["image"], request.user)
        except PlanError as exc:
            form.add_error("image", exc.message)
        else:
            spots = plan.spots.count()
            kept = f"，已摆放的 {spots} 栋楼位置保留" if spots else ""
            messages.success(request, f"已保存{node.name}的平面图（{plan.width}×{plan.height} 像素）{kept}")
            return redirect(_map_url(node) or reverse("households:plan_upload", args=[node.pk]))
    levels = level_names.for_node(node)
    return render(
        request,
        "households/plan_upload.html",
        {
            "node": node,
            "node_level": levels.label(node.kind),
            "path_names": " / ".join(n.name for n in node.ancestors()),
            "plan": plan,
            "plan_url": plan_image_url(plan) if plan else "",
            "spots": plan.spots.count() if plan else 0,
            "form": form,
            "map_url": _map_url(node),
            "max_mb": settings.PLAN_MAX_UPLOAD_MB,
            "max_side": MAX_SIDE,
            "accept": ACCEPT,
        },
    )


@require_POST
@login_required
def plan_delete(request, pk):
    """删除平面图: the image and the buildings placed on it; asks for the confirmation box."""
    node = _managed_node(request, pk)
    back = reverse("households:plan_upload", args=[node.pk])
    if request.POST.get("confirm") != "on":
        messages.error(request, "请勾选“确认删除”后再删除平面图")
        return redirect(back)
    spots = delete_plan(node)
    if spots is None:
        messages.info(request, f"{node.name}没有平面图")
    else:
        placed = f"及其上的 {spots} 个楼栋位置" if spots else ""
        messages.success(request, f"已删除{node.name}的平面图{placed}")
    return redirect(back)


@login_required
def plan_image(request, pk):
    """The plan image of a community or grid the user may see, as uploaded (its checked type).
    403 for a user who sees no node at all (a department handler: his are the issues routed to him)."""
    if scope_of(request.user).paths == ():
        raise PermissionDenied("您的账号不属于任何社区或网格")
    node = _node(request.user, pk, ancestors=True)
    plan = NodePlan.objects.filter(node=node).first()  # the node is scoped
    if plan is None or not plan.image:
        raise Http404("该社区或网格没有平面图")
    try:
        handle = plan.image.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404("平面图文件不存在") from None
    response = FileResponse(handle, content_type=plan.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = f"private, max-age={IMAGE_MAX_AGE}"
    response["Content-Disposition"] = "inline"
    return response
