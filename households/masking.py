"""Residents' identifiers are shown masked unless the role may see them in full."""

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


def masked_family(user, household, *, reveal=False) -> dict:
    """The family card as a page shows it to ``user``: the ID numbers and the phone, and the members
    (each with ``id_shown``).

    Masked by default for every role. Only ``reveal=True`` (the 显示完整信息 button, see
    ``reveal_family``, which logs it) shows them in full, and only to a role with 查看完整信息.
    ``can_reveal`` / ``reveal_url`` let the page offer the button (households/_reveal.html).
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
