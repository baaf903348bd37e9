"""The names of the tree's levels: the one place that says 社区 or 村(居).

A street-level node is a 街道, a 镇 or a 乡 (``Node.township``); the levels below it are named
after it:

========  ======  ===========
level     街道     镇 / 乡
========  ======  ===========
street    街道     镇 / 乡
community 社区     村(居)
grid      网格     村民小组
building  楼栋     户
========  ======  ===========

``Levels`` holds the four labels and ``rewrite`` turns a phrase written with the urban words
("社区书记户户到", "各社区包户覆盖情况") into the rural ones; for a 街道 it returns the phrase
unchanged, so urban pages stay byte for byte what they were. Get the labels

- of a node, a path or a household: ``for_node``, ``for_path``, ``for_household``;
- of a street as the import chooses it: ``for_street``;
- of a user (his scope's top node): ``for_user(user or scope)``, kept on the scope, so worked
  out once per request (the scope lives on ``request.user``);
- in every template: ``levels`` (the context processor ``context``, lazy: a page that names no
  level asks nothing), and ``{% load level_words %}{% level_text "…社区…" %}`` for a phrase.

A view about one street's data (the import preview of a 镇, a campaign's dashboard) may put its
own ``levels`` into its context: a view's context wins over the context processor's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.functional import SimpleLazyObject

from core.scope import scope_of

from .models import Node, NodeKind, TownshipKind

_CACHE_ATTRIBUTE = "_levels"


@dataclass(frozen=True)
class Levels:
    """The labels of the four levels under one kind of top node."""

    township: str  # TownshipKind value of the top node
    street: str
    community: str
    grid: str
    building: str

    @property
    def rural(self) -> bool:
        return self.township != TownshipKind.STREET

    def label(self, kind) -> str:
        """The label of a NodeKind (or its value: "community")."""
        return getattr(self, str(kind))

    def __getitem__(self, kind) -> str:
        return self.label(kind)

    def as_dict(self) -> dict[str, str]:
        return {kind: self.label(kind) for kind in NodeKind.values}

    def rewrite(self, text: str) -> str:
        """``text`` written with the urban level words, in this kind's words.

        Whole words only, longest first: 街道办事处 → 镇人民政府, 街道 → 镇, 社区 → 村(居),
        网格 → 村民小组, 楼栋 → 户. A 网格员 stays a 网格员 (villages have grid workers too).
        """
        if not self.rural or not text:
            return text
        words = _rural_words(self.street)
        return _WORDS.sub(lambda m: words.get(m.group(0), m.group(0)), text)


URBAN = Levels(TownshipKind.STREET, "街道", "社区", "网格", "楼栋")
TOWN = Levels(TownshipKind.TOWN, "镇", "村(居)", "村民小组", "户")
TOWNSHIP = Levels(TownshipKind.TOWNSHIP, "乡", "村(居)", "村民小组", "户")
_BY_TOWNSHIP = {levels.township: levels for levels in (URBAN, TOWN, TOWNSHIP)}

# Kept as they are (alternatives are tried in order: the kept words come first).
_KEPT = ("网格员", "网格化")
_WORDS = re.compile("|".join(map(re.escape, (*_KEPT, "街道办事处", "街道", "社区", "网格", "楼栋"))))


def _rural_words(street: str) -> dict[str, str]:
    return {
        "街道办事处": f"{street}人民政府",
        "街道": street,
        "社区": "村(居)",
        "网格": "村民小组",
        "楼栋": "户",
    }


def of_township(township) -> Levels:
    """The Levels of a TownshipKind value ("street", "town", "township"); urban for anything else."""
    return _BY_TOWNSHIP.get(township, URBAN)


def for_street(street) -> Levels:
    """The Levels under a street-level node (None: urban, as a new street is)."""
    if street is None:
        return URBAN
    return of_township(street.township)


def _townships(pks) -> set[str]:
    return set(Node.objects.filter(pk__in=pks, kind=NodeKind.STREET).values_list("township", flat=True))


def _street_pk(path: str) -> int | None:
    head = (path or "").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def for_path(path: str) -> Levels:
    """The Levels of the tree a materialized path is in (one query for its top node)."""
    pk = _street_pk(path)
    if pk is None:
        return URBAN
    townships = _townships([pk])
    return of_township(townships.pop()) if townships else URBAN


def for_node(node) -> Levels:
    """The Levels of the tree a node is in: its own kind for a street, else its top node's."""
    if node is None:
        return URBAN
    if node.kind == NodeKind.STREET:
        return for_street(node)
    return for_path(node.path)


def for_household(household) -> Levels:
    """The Levels of a household's street (no query when its street is already loaded)."""
    if household is None:
        return URBAN
    if "street" in household._state.fields_cache:
        return for_street(household.street)
    townships = _townships([household.street_id])
    return of_township(townships.pop()) if townships else URBAN


def _all_same(townships) -> Levels:
    """One kind for all the top nodes: theirs; none or a mix (a district's superuser): urban."""
    return of_township(next(iter(townships))) if len(townships) == 1 else URBAN


def for_user(who) -> Levels:
    """The Levels of a user's (or a Scope's) world: the top node of the subtree he sees.

    Node-wide users and grid workers: the street above their paths; cadres who see only the
    households assigned to them: the street of their cadre's node; superusers: the kind of every
    street when they are all of one kind. Nobody, or a mix of kinds: urban. Worked out once per
    scope (so once per request) and kept on it.
    """
    scope = scope_of(who)  # request.scope is a lazy object: get/setattr reach the Scope behind it
    cached = getattr(scope, _CACHE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    levels = _resolve(scope)
    setattr(scope, _CACHE_ATTRIBUTE, levels)
    return levels


def _resolve(scope) -> Levels:
    user = scope.user
    if user is None or not getattr(user, "is_authenticated", False):
        return URBAN
    paths = scope.paths
    if paths is None:
        return _all_same(set(Node.objects.filter(kind=NodeKind.STREET).values_list("township", flat=True)))
    if not paths:
        node = getattr(scope.cadre, "scope", None)
        if node is None:
            return URBAN
        paths = (node.path,)
    pks = {_street_pk(path) for path in paths} - {None}
    # The cadre's own node is loaded with his scope: no query when it is the street itself.
    node = getattr(scope.cadre, "scope", None) if scope.cadre is not None else None
    if node is not None and node.kind == NodeKind.STREET and pks == {node.pk}:
        return for_street(node)
    return _all_same(_townships(pks)) if pks else URBAN


def for_request(request) -> Levels:
    """The Levels of the request's user (``request.scope``, else ``request.user``)."""
    scope = getattr(request, "scope", None)
    if scope is not None:
        return for_user(scope)
    user = getattr(request, "user", None)
    return URBAN if user is None else for_user(user)


def context(request) -> dict:
    """Context processor: ``levels``, the Levels of the request's user, worked out on first use."""
    return {"levels": SimpleLazyObject(lambda: for_request(request))}
