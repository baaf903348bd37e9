from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from households.models import FocusGroup, Household
from households.roles import user_roles
from households.scoping import user_cadre

from .models import Assignment, Campaign


@login_required
def home(request):
    """The landing page: who I am, what I cover, the campaign's stages."""
    cadre = user_cadre(request.user)
    households = Household.objects.visible_to(request.user)
    campaign = Campaign.objects.visible_to(request.user).prefetch_related("stages").first()
    focus = (
        FocusGroup.objects.annotate(n=Count("households", filter=Q(households__in=households)))
        .filter(n__gt=0)
        .order_by("order")
    )
    mine = 0
    if cadre and campaign:
        mine = Assignment.objects.filter(campaign=campaign, cadre=cadre).count()
    return render(
        request,
        "home.html",
        {
            "cadre": cadre,
            "roles": sorted(user_roles(request.user)),
            "household_count": households.count(),
            "focus": focus,
            "campaign": campaign,
            "my_assignments": mine,
            "today": timezone.localdate(),
        },
    )
