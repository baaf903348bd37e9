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


def masked_family(user, household) -> dict:
    """The family card as a page shows it to ``user``: ID number and phone masked unless the role
    may see them, and the members (each with ``id_shown``)."""
    full = can_view_full_pii(user)
    members = list(household.members.all())
    for m in members:
        m.id_shown = m.id_number if full else mask_id_number(m.id_number)
    return {
        "id_shown": household.id_number if full else mask_id_number(household.id_number),
        "phone_shown": household.phone if full else mask_phone(household.phone),
        "members": members,
    }
