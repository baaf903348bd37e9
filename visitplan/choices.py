"""How a cadre is named where someone chooses one (转给, the 亲情卡 page, the account page): with his
tier, community and grid, sorted so that a street's long list reads in order."""

from __future__ import annotations

import re

from .sheets.roster import ScopeNames


def _natural(text: str):
    """Sort key that puts 第2网格 before 第10网格."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def cadre_choices(cadres):
    """[(cadre, label)] for a list to choose a cadre from: "汪鑫（网格员 · 幸福社区 / 第1网格）", sorted by
    community, grid and name (the street's own cadres first): every community has a 第1网格."""
    cadres = list(cadres)
    names = ScopeNames.for_nodes({c.scope_id for c in cadres})

    def place(cadre):
        return names.label.get(cadre.scope_id, "").replace("/", " / ")

    def key(cadre):
        path = cadre.scope.path
        return (path.split(".")[0], "." in path, _natural(place(cadre)), _natural(cadre.name), cadre.pk)

    return [(c, f"{c.name}（{c.get_tier_display()} · {place(c)}）") for c in sorted(cadres, key=key)]
