from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.utils import timezone

from households.models import FocusGroup, Household
from households.roles import LEADER, STREET_ADMIN, user_roles
from households.scoping import user_cadre

from .models import Assignment, Campaign
from .scope import district_of

# Roles whose landing page is this overview, even when they have households of their own.
OVERVIEW_ROLES = frozenset({STREET_ADMIN, LEADER})


@login_required
def home(request):
    """The landing page: who I am, what I cover, the campaign's stages. A cadre with households
    to visit in the current campaign lands on "my households" instead (``?overview=1`` stays here)."""
    if district_of(request.user) is not None and not request.GET.get("overview"):
        return redirect("reports:district")  # a district's reader lands on the 区级看板
    cadre = user_cadre(request.user)
    today = timezone.localdate()
    campaign = Campaign.objects.visible_to(request.user).current(today)
    if (
        cadre is not None
        and campaign is not None
        and not request.GET.get("overview")
        and not user_roles(request.user) & OVERVIEW_ROLES
        and Assignment.objects.filter(campaign=campaign, cadre=cadre).exists()
    ):
        return redirect("visits:mine")
    households = Household.objects.visible_to(request.user)
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
            "today": today,
        },
    )
