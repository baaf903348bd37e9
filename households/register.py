"""Placeholder: the register's row rules (filled in below)."""


def address_key(community, grid, building, unit, room):
    return "|".join(str(p or "").strip() for p in (community, grid, building, unit, room))
