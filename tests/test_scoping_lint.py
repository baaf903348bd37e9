"""Lint: view modules reach scoped models only through their scoping entry point.

The scoping rule: "every queryset a user sees goes through one place per model (e.g.
``Household.objects.visible_to(user)``)". A scoped model is one whose default manager has
``visible_to`` (found through django.apps, so a model that gains one is covered at once). In a
view module — pages (``*/views.py``, ``*/<pages>/views.py``) and the admin (``*/admin.py``, the
modules of an ``*/admin/`` package) — every use of ``<ScopedModel>.objects`` must
be ``.objects.visible_to(...)`` (or ``.objects.none()``, which returns nothing). Helpers such as
``households.scoping.get_household_for_user`` live outside view modules and are the other way in.

A use that is right for another reason says so on its line: ``# scoping: <reason>``. The uses in
files this test's author does not own are listed in ``ALLOWED`` with the reason found when the
lint was written; each is listed with its reason. A new use fails here; a fixed one must be removed
from ``ALLOWED`` (the test says so).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
VIEW_GLOBS = ("*/views.py", "*/*/views.py", "*/views/*.py", "*/admin.py", "*/admin/*.py")
SKIP_PARTS = {".venv", "tests", "migrations", "node_modules", "bench"}
SAFE_METHODS = {"visible_to", "none"}  # none(): an empty queryset, nothing to scope
MANAGERS = {"objects", "_default_manager", "_base_manager"}
EXEMPT = re.compile(r"#\s*scoping:\s*\S")

# Existing direct uses, per (file, "Model.objects.method"): how many, and why they are not a leak
# today. Each should become visible_to(...) or carry a "# scoping:" comment.
ALLOWED = {
    ("issues/views.py", "Issue.objects.filter"): (
        1,
        "_paginate: re-reads the rows of a page whose ids were sliced from an already scoped queryset "
        "(Issue.objects.filter(pk__in=ids)); safe only as long as every caller passes a visible_to queryset",
    ),
    ("issues/views.py", "Issue.objects.select_related"): (
        1,
        "_detail_issue: the base queryset handed to get_issue_for_user(queryset=...), which applies visible_to",
    ),
    ("issues/views.py", "Household.objects.select_related"): (
        1,
        "issue_new: re-reads (with joins) a household that get_household_for_user just returned",
    ),
    ("visits/views.py", "Household.objects.select_related"): (
        1,
        "_household: re-reads (with joins) a household that get_household_for_user just returned",
    ),
    ("visits/views.py", "Assignment.objects.filter"): (
        2,
        "my_households: assignments filtered by cadre=<the user's own cadre>, used as a subquery of a visible_to "
        "household queryset; household_page: the assignments of a household already checked by "
        "get_household_for_user (the contact cards choose theirs in visits/cards.py, through the same rule)",
    ),
    ("visitplan/views.py", "Assignment.objects.filter"): (
        2,
        "home: exists()/count() of the user's own cadre's assignments (cadre=user_cadre(user)); no rows shown",
    ),
    ("issues/admin/__init__.py", "Issue.objects.overdue"): (
        2,
        "OverdueFilter.queryset and IssueAdmin.get_queryset: the overdue rule as a pk subquery intersected with "
        "the admin's visible_to queryset (filter(pk__in=…) / Exists(…pk=OuterRef)); never listed by itself",
    ),
    ("issues/admin/holidays.py", "Issue.objects.open"): (
        1,
        "coverage_rows: per year, the number of open issues whose deadline is provisional (暂定), for the "
        "holiday-override coverage page; counts only, no issue rows — but of every street (the working-day "
        "calendar is shared)",
    ),
}


@dataclass(frozen=True)
class Use:
    path: str
    line: int
    model: str
    method: str
    source: str

    @property
    def chain(self) -> str:
        return f"{self.model}.objects.{self.method}"

    def __str__(self):
        return f"{self.path}:{self.line}: {self.chain} — {self.source.strip()}"


def scoped_model_names() -> set[str]:
    """Models whose default manager offers visible_to (proxies included)."""
    return {m.__name__ for m in apps.get_models() if hasattr(m._default_manager, "visible_to")}


def view_modules() -> list[Path]:
    found = set()
    for pattern in VIEW_GLOBS:
        for path in ROOT.glob(pattern):
            if not SKIP_PARTS & set(path.relative_to(ROOT).parts):
                found.add(path)
    return sorted(found)


def _aliases(tree, models) -> dict[str, str]:
    """Local names that stand for a scoped model (``from x import Household as H``)."""
    names = {m: m for m in models}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in models:
                    names[alias.asname or alias.name] = alias.name
    return names


def _model_of(node, aliases) -> str | None:
    """``Household`` / ``H`` / ``models.Household`` → "Household"."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute) and node.attr in aliases.values():
        return node.attr
    return None


def direct_uses(source: str, path: str, models: set[str]) -> list[Use]:
    """Every ``<ScopedModel>.objects`` not followed by an allowed method and not exempted."""
    tree = ast.parse(source)
    lines = source.splitlines()
    aliases = _aliases(tree, models)
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    uses = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr in MANAGERS):
            continue
        model = _model_of(node.value, aliases)
        if model is None:
            continue
        parent = parents.get(node)
        method = parent.attr if isinstance(parent, ast.Attribute) and parent.value is node else "<manager>"
        if method in SAFE_METHODS:
            continue
        text = lines[node.lineno - 1]
        if EXEMPT.search(text):
            continue
        uses.append(Use(path, node.lineno, model, method, text))
    return sorted(uses, key=lambda u: (u.line, u.chain))


def all_direct_uses() -> list[Use]:
    models = scoped_model_names()
    uses = []
    for module in view_modules():
        uses += direct_uses(module.read_text(encoding="utf-8"), str(module.relative_to(ROOT)), models)
    return uses


# ------------------------------------------------------------------------------------------------ the tests


def test_it_finds_the_scoped_models():
    models = scoped_model_names()
    for name in ("Household", "Member", "Node", "Issue", "Visit", "FollowUp", "Cadre", "Campaign", "Assignment",
                 "Finding", "PhoneCheck"):  # fmt: skip
        assert name in models, name
    assert "Department" not in models and "FocusGroup" not in models


def test_it_looks_at_every_view_module():
    paths = {str(p.relative_to(ROOT)) for p in view_modules()}
    for expected in ("households/views.py", "visits/views.py", "issues/views.py", "issues/notifications/views.py",
                     "reports/views.py", "reports/ledgers/views.py", "reports/hardship/views.py", "visitplan/views.py",
                     "households/admin/__init__.py", "households/admin/register_import.py", "households/admin/pii.py",
                     "issues/admin/__init__.py", "issues/admin/holidays.py", "visitplan/admin.py"):  # fmt: skip
        assert expected in paths, expected


def test_the_detector_flags_direct_queries_and_honours_exemptions():
    source = """
from households.models import Household as H
from issues import models
from visits.models import Visit

def view(request, pk):
    a = H.objects.filter(pk=pk)
    b = models.Issue.objects.get(pk=pk)
    c = Visit.objects.all()
    d = H.objects.visible_to(request.user).get(pk=pk)
    e = Visit.objects.none()
    f = Visit.objects.filter(pk=pk)  # scoping: re-reads a visit checked above
    g = Visit.objects.filter(pk=pk)  # scoping:
    h = H._default_manager.first()
    manager = Visit.objects
"""
    uses = direct_uses(source, "x/views.py", {"Household", "Issue", "Visit"})
    assert [(u.line, u.chain) for u in uses] == [
        (7, "Household.objects.filter"),
        (8, "Issue.objects.get"),
        (9, "Visit.objects.all"),
        (13, "Visit.objects.filter"),  # an exemption needs its reason
        (14, "Household.objects.first"),
        (15, "Visit.objects.<manager>"),
    ]


def test_view_modules_query_scoped_models_only_through_visible_to():
    uses = all_direct_uses()
    counts = Counter((u.path, u.chain) for u in uses)
    new = []
    for key, n in sorted(counts.items()):
        allowed, _reason = ALLOWED.get(key, (0, ""))
        if n > allowed:
            new += [str(u) for u in uses if (u.path, u.chain) == key]
    assert not new, (
        "view modules query a scoped model directly; use Model.objects.visible_to(user) (or a helper such as "
        "households.scoping.get_household_for_user), or say why on the line with '# scoping: <reason>':\n"
        + "\n".join(new)
    )
    fixed = [f"{path}: {chain} (allowed {ALLOWED[(path, chain)][0]}, found {counts.get((path, chain), 0)})"
             for path, chain in ALLOWED if counts.get((path, chain), 0) < ALLOWED[(path, chain)][0]]  # fmt: skip
    assert not fixed, "fewer direct uses than ALLOWED says — lower the count or remove the entry:\n" + "\n".join(fixed)


def function_of(use: Use) -> str | None:
    """The name of the innermost function the use is in (None at module or class level)."""
    tree = ast.parse((ROOT / use.path).read_text(encoding="utf-8"))
    found = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= use.line <= node.end_lineno:
            if found is None or node.lineno > found.lineno:
                found = node
    return found.name if found else None


def test_the_allowed_list_today(capsys):
    """Prints the direct uses that ALLOWED lets through, with their reasons (the to-do list of scoping work):
    each use is one ALLOWED lets through, and its reason names the function it is in — a reason
    that names another place no longer explains the use."""
    uses = all_direct_uses()
    with capsys.disabled():
        print(
            f"\nscoping lint: {len(view_modules())} view modules, {len(uses)} allowed direct uses of scoped managers:"
        )
        for u in uses:
            reason = ALLOWED.get((u.path, u.chain), (0, "NOT ALLOWED"))[1]
            print(f"  {u}\n      reason: {reason}")
    not_allowed = [str(u) for u in uses if (u.path, u.chain) not in ALLOWED]
    assert not not_allowed, "direct uses without an ALLOWED entry and its reason:\n" + "\n".join(not_allowed)
    unexplained = []
    for u in uses:
        function, reason = function_of(u), ALLOWED[(u.path, u.chain)][1]
        if function is None or not re.search(rf"\b{re.escape(function)}\b", reason):
            unexplained.append(f"{u}\n      in {function or 'module level'}, but the reason says: {reason}")
    assert not unexplained, "ALLOWED reasons that do not name the function of the use:\n" + "\n".join(unexplained)


@pytest.mark.parametrize("path", ["visitplan/access.py"])
def test_my_own_modules_have_no_direct_uses(path):
    source = (ROOT / path).read_text(encoding="utf-8")
    assert not direct_uses(source, path, scoped_model_names())
