"""The notifications page (/notifications/): the user's list, open one, mark all read."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ..reminders import issue_path
from .services import notification_mark_all_read, notification_mark_read, notifications_for, unread_count

PAGE_SIZE = 30


@login_required
def notification_list(request):
    qs = notifications_for(request.user).only("id", "title", "body", "created_at", "read_at", "issue_id")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "issues/notifications.html", {"page": page, "unread": unread_count(request.user)})


@login_required
@require_POST
def notification_open(request, pk):
    """Mark it read and go to the issue page (POST: reading changes state)."""
    notification = notification_mark_read(user=request.user, notification_id=pk)
    target = issue_path(notification.issue_id) if notification.issue_id else ""
    return redirect(target or "notifications:list")


@login_required
@require_POST
def notification_read_all(request):
    count = notification_mark_all_read(user=request.user)
    messages.success(request, f"已将 {count} 条通知标为已读" if count else "没有未读通知")
    return redirect("notifications:list")
