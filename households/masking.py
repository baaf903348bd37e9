"""Residents' identifiers are shown masked unless the role may see them in full.

- ID numbers and phones: masked for every role; 显示完整信息 (a POST, logged) shows them to a role
  with 查看完整信息 (``reveal_family``).
- The door number (门牌/房号): in full for whoever may open the household's page, masked for the
  others (``may_see_address``): an issue page shows it as the household page does.
- 拨打: the household's own cadre (包户), and the street admin / community secretary of its node,
  get its phone number through a logged POST (``may_call``, ``reveal_phone``).
"""

from core.scope import scope_of

FULL_PII_PERMISSION = "households.view_full_pii"


def can_view_full_pii(user) -> bool:
    return user.is_authenticated and user.has_perm(FULL_PII_PERMISSION)


def mask_id_number(value: str) -> str:
    """370303********123X: region and the last four stay, the birth date is hidden."""
    if not value:
        return ""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """138****5678; landlines keep the area code and the last four."""
    if not value:
        return ""
    digits = value.replace("-", "")
    if len(digits) == 11 and digits.startswith("1"):
        return digits[:3] + "****" + digits[-4:]
    if len(value) <= 4:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 8 else value[:2] + "****"


def mask_room(room: str) -> str:
    """1204 → 12**: the building and unit stay readable, the door is not given away in full."""
    if not room:
        return ""
    keep = len(room) // 2
    return room[:keep] + "*" * (len(room) - keep)


def shown_id_number(user, value: str) -> str:
    return value if can_view_full_pii(user) else mask_id_number(value)


def shown_phone(user, value: str) -> str:
    return value if can_view_full_pii(user) else mask_phone(value)


def may_see_address(user, household) -> bool:
    """The door number in full: for a user who may open the household's page (the household pages
    reach a household through ``Household.objects.visible_to`` and show its address), masked
    (``mask_room``) for one who sees only something of it, such as an issue routed to his
    department. The one rule for every page that shows a household's address."""
    from .models import Household

    if not getattr(user, "is_authenticated", False):
        return False
    return Household.objects.visible_to(user).filter(pk=household.pk).exists()


def _in_node(scope, household) -> bool:
    if scope.everything:
        return True
    return any(household.path == p or household.path.startswith(p + ".") for p in scope.paths or ())


def may_call(user, household) -> bool:
    """拨打: may ``user`` have the household's phone number to call it?

    The cadre the household is assigned to (包户到人, whatever his role), and the street admin or
    community secretary of its node; a role with 查看完整信息 within its node (it sees phones in
    full anyway). Not leaders or department handlers as such: only for a household assigned to them.
    """
    from .roles import SECRETARY, STREET_ADMIN

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    scope = scope_of(user)
    if scope.everything:
        return True
    if scope.roles & {STREET_ADMIN, SECRETARY} or can_view_full_pii(user):
        if _in_node(scope, household):
            return True
    assigned = scope.assigned_households
    return assigned is not None and assigned.filter(household_id=household.pk).exists()


def call_url(user, household) -> str:
    """The address of the 拨打 POST for a household with a phone that ``user`` may call, else ""."""
    from django.urls import reverse

    if not household.phone or not may_call(user, household):
        return ""
    return reverse("households:call", args=[household.pk])


def reveal_phone(request, household) -> str:
    """The household's phone number for 拨打, logged (访问日志) like any reveal.

    Raises PermissionDenied for a user who may not call it (nothing is logged: nothing was shown);
    answers "" for a household without a phone (nothing logged either).
    """
    from django.core.exceptions import PermissionDenied

    if not may_call(request.user, household):
        raise PermissionDenied("只有该户的包户干部、所在社区书记或街道管理员可以拨打该户电话")
    if not household.phone:
        return ""
    what = f"拨打电话：{household.community.name} {household.grid.name} {household.address} {household.head_name}户"
    log_reveal(request, household, residents=1, what=what)
    return household.phone


def masked_family(user, household, *, reveal=False) -> dict:
    """The family card as a page shows it to ``user``: the ID numbers and the phone, and the members
    (each with ``id_shown``).

    Masked by default for every role. Only ``reveal=True`` (the 显示完整信息 button, see
    ``reveal_family``, which logs it) shows them in full, and only to a role with 查看完整信息.
    ``can_reveal`` / ``reveal_url`` let the page offer the button (households/_reveal.html);
    ``call_url`` the 拨打 button (households/_call.html), for a user who may call the household.
    """
    from django.urls import reverse

    may = can_view_full_pii(user)
    full = reveal and may
    members = list(household.members.all())
    for m in members:
        m.id_shown = m.id_number if full else mask_id_number(m.id_number)
    return {
        "id_shown": household.id_number if full else mask_id_number(household.id_number),
        "phone_shown": household.phone if full else mask_phone(household.phone),
        "members": members,
        "revealed": full,
        "can_reveal": may and not full,
        "reveal_url": reverse("households:reveal", args=[household.pk]) if may else "",
        "call_url": call_url(user, household),
    }


def revealed_residents(household, members) -> int:
    """Residents whose identifiers a reveal shows in full: the head and each member with an ID number."""
    return 1 + sum(1 for m in members if m.id_number)


def log_reveal(request, household, *, residents, what=None):
    """One access-log row (查看完整信息) for ``household``, by the request's user, from its IP."""
    from .access_log import access_log_record
    from .models import AccessKind

    text = (
        what
        or f"查看完整信息：{household.community.name} {household.grid.name} {household.address} {household.head_name}户"
    )
    return access_log_record(
        request, kind=AccessKind.REVEAL, what=text, rows=1, residents=residents, household=household
    )


def reveal_family(request, household) -> dict:
    """``masked_family`` with the values in full, for a role with 查看完整信息; logged.

    Raises PermissionDenied for the other roles (nothing is logged: nothing was shown).
    """
    from django.core.exceptions import PermissionDenied

    if not can_view_full_pii(request.user):
        raise PermissionDenied("您没有查看完整信息（身份证号、电话）的权限")
    family = masked_family(request.user, household, reveal=True)
    log_reveal(request, household, residents=revealed_residents(household, family["members"]))
    return family
