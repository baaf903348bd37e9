"""The permission matrix's world (``mw``, tests/fixtures/matrix.py): its places and roles, and what a
request to one of its URLs names and sends.

The world is the small street (``world``) plus one object of every kind in each place that
matters, and a second street that is outside everyone's node.

Places (``KEYS``): ``a`` — 湖田社区 第1网格 (household ha, every role's own but the handler's);
``b`` — 湖田社区 第2网格 (hb); ``c`` — 南纬社区 (hc, the department handler's assigned household);
``x`` — 外街街道, a second street nobody of the first street may see (nor the district readers: the
first street is in 张店区, 外街街道 in another district). ``HOME[role]`` is the place
whose objects a role may reach; ``OUT[role]`` the places it may not. Names of the second street
start with ``外街`` (``OUTSIDE_MARKER``): no page of any role of the first street may show them.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.urls import reverse
from django.utils import timezone

from core.access import ANONYMOUS
from households.roles import (
    CADRE,
    DEPARTMENT_HANDLER,
    DISTRICT_ADMIN,
    DISTRICT_LEADER,
    LEADER,
    SECRETARY,
    STREET_ADMIN,
)
from tests.support.images import png_bytes
from tests.support.visits import VISIT_DAY
from visitplan.access import (
    BUILDING,
    CAMPAIGN,
    COMMUNITY,
    HOUSEHOLD,
    ISSUE,
    JOB,
    NODE,
    NOTIFICATION,
    PHONE_CHECK,
    VISIT,
)

if TYPE_CHECKING:  # the URL conf is walked when a test imports it, not when the matrix world is built
    from tests.support.urlconf import Pattern

OUTSIDE_MARKER = "外街"

# The roles of the matrix, each with the world's user of that role.
ROLES = (STREET_ADMIN, LEADER, SECRETARY, CADRE, DEPARTMENT_HANDLER, DISTRICT_LEADER, DISTRICT_ADMIN, ANONYMOUS)
USER_OF = {
    STREET_ADMIN: "admin",
    LEADER: "leader",
    SECRETARY: "secretary",
    CADRE: "worker_a",
    DEPARTMENT_HANDLER: "handler",
    DISTRICT_LEADER: "district_leader",
    DISTRICT_ADMIN: "district_admin",
}
SHORT = {STREET_ADMIN: "admin", LEADER: "leader", SECRETARY: "secretary", CADRE: "grid_worker",
         DEPARTMENT_HANDLER: "dept_handler", DISTRICT_LEADER: "district_leader", DISTRICT_ADMIN: "district_admin",
         ANONYMOUS: "anonymous"}  # fmt: skip

KEYS = ("a", "b", "c", "x")
HOME = {STREET_ADMIN: "a", LEADER: "a", SECRETARY: "a", CADRE: "a", DEPARTMENT_HANDLER: "c", DISTRICT_LEADER: "a",
        DISTRICT_ADMIN: "a", ANONYMOUS: "a"}  # fmt: skip
OUT = {
    STREET_ADMIN: ("x",),
    LEADER: ("x",),
    DISTRICT_LEADER: ("x",),  # 外街街道 is another district's
    DISTRICT_ADMIN: ("x",),
    SECRETARY: ("c", "x"),  # 南纬社区 is another community
    CADRE: ("b", "c", "x"),  # 第2网格 is another grid
    DEPARTMENT_HANDLER: ("a", "b", "x"),  # nothing assigned or routed to the department there
    ANONYMOUS: ("x",),
}
MISSING_ID = 987654321

# Household head names per place: a role must not see the names of its OUT places.
HEAD_NAMES = {"a": "张甲", "b": "李乙", "c": "王丙", "x": "外街户主"}


# Places a role sees nothing of (no household, no issue): their residents' names must not appear.
# The department handler sees place a's issues routed to the department (mw.issue_routed …), so
# only b and x are dark to him.
DARK = {**OUT, DEPARTMENT_HANDLER: ("b", "x")}


def forbidden_markers(role):
    """Strings that must not appear in any page or export the role gets."""
    return tuple(HEAD_NAMES[k] for k in DARK.get(role, ())) + (OUTSIDE_MARKER,)


def objects_in_and_out(w, role, label):
    """(the object of ``label`` in the role's own place, {out place: object}) in the matrix world."""
    places = w.objects[label]
    if "u" in places:  # not scoped: one object for everyone
        return places["u"], {}
    home = places.get(HOME[role])
    out = {k: places[k] for k in OUT[role] if k in places and places[k] != home}
    return home, out


# ------------------------------------------------------------------------------------ the URLs' objects


def home_and_out(objects: dict, role):
    home = objects.get(HOME[role])
    return home, {k: objects[k] for k in OUT[role] if k in objects and objects[k] != home}


def app_objects(w, rule, role):
    """(in-scope object, {out place: object}) of the kind the URL's id names."""
    if rule.scope == HOUSEHOLD:
        return home_and_out(w.households, role)
    if rule.scope == VISIT:
        return home_and_out(w.visits, role)
    if rule.scope == ISSUE:
        return home_and_out(w.issues, role)
    if rule.scope == PHONE_CHECK:
        return home_and_out(w.phone_checks, role)
    if rule.scope == CAMPAIGN:  # every role of the first street sees its campaign; the second street's is out
        campaigns = w.objects["visitplan.campaign"]
        return campaigns["a"], {"x": campaigns["x"]}
    if rule.scope == NODE:  # the grids (each with a 平面图); the handler works street-wide: only x is another node's
        grids = w.objects["households.grid"]
        outs = ("x",) if role == DEPARTMENT_HANDLER else OUT[role]
        return grids[HOME[role]], {k: grids[k] for k in outs}
    if rule.scope in (BUILDING, COMMUNITY):  # 民情地图: buildings in a and x only; communities in a, c and x
        places = w.objects["households.building" if rule.scope == BUILDING else "households.community"]
        home = places.get(HOME[role], places["a"])  # the handler's c has no building: a is not his either
        return home, {k: places[k] for k in OUT[role] if k in places and places[k] != home}
    if rule.scope == NOTIFICATION:
        own = w.notes.get(role, w.notes[CADRE])
        other_role = LEADER if role != LEADER else CADRE
        return own, {"x": w.note_x, "other_user": w.notes[other_role]}
    if rule.scope == JOB:  # a background job is its user's alone
        own = w.jobs.get(role, w.jobs[CADRE])
        other_role = LEADER if role != LEADER else CADRE
        return own, {"x": w.job_x, "other_user": w.jobs[other_role]}
    raise AssertionError(f"no object builder for scope {rule.scope!r}")


def issue_action(issue):
    return "accept" if issue.status == "registered" else "post_plan"


def app_url(p: Pattern, obj=None, pk=None) -> str:
    kwargs = {}
    if "<int:pk>" in p.route:
        kwargs["pk"] = pk if pk is not None else obj.pk
    if "<slug:action>" in p.route:
        kwargs["action"] = issue_action(obj) if obj is not None else "accept"
    return reverse(p.name, kwargs=kwargs)


def visit_form(**overrides):
    data = {
        "key": str(uuid.uuid4()), "method": "in_person", "visited_on": VISIT_DAY.isoformat(), "started_at": "09:00",
        "ended_at": "09:40", "q_living": "楼道灯坏了", "h_living": "on", "checklist": ["know_family", "done_care"],
        "card_given": "on", "satisfaction": "satisfied", "notes": "矩阵测试",
        "issues-TOTAL_FORMS": "0", "issues-INITIAL_FORMS": "0", "issues-MIN_NUM_FORMS": "0", "issues-MAX_NUM_FORMS": "10",
    }  # fmt: skip
    data.update(overrides)
    return data


def followup_form(w, household):
    key = next(k for k, h in w.households.items() if h.pk == household.pk)
    fu = w.followups[key]
    return {"key": str(uuid.uuid4()), "method": "phone", "visited_on": timezone.localdate().isoformat(),
            f"solved_{fu.pk}": "yes", f"sat_{fu.pk}": "satisfied", f"note_{fu.pk}": "已解决",
            "issues-TOTAL_FORMS": "0", "issues-INITIAL_FORMS": "0"}  # fmt: skip


def rulebook_section(w, campaign):
    """The rulebook's 问题整改 section of ``campaign`` (the first street's for a missing id), with
    the days to a plan changed: what the street admin's save writes."""
    from visitplan.models import Campaign
    from visitplan.rulebook_pages.forms import section_post_data

    campaign = Campaign.objects.get(pk=(campaign or w.campaign).pk)
    return {**section_post_data(campaign, "issues"), "plan_days": "7"}


def issue_step(issue):
    issue.refresh_from_db()
    if issue_action(issue) == "accept":
        return {"version": issue.version, "note": "同意"}
    return {"version": issue.version, "plan": "三日内处理"}


def plan_upload():
    """A new 平面图 (a fresh file object for each request)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("平面图.png", png_bytes(30, 20), content_type="image/png")


def map_spots(w, node):
    """保存位置: the first building under the grid (place a's for a missing id) moved on the grid's 平面图."""
    import json

    from households.models import Node, NodeKind

    building = Node.objects.filter(parent=node or w.grid_a, kind=NodeKind.BUILDING).order_by("pk").first()
    spots = [{"building": building.pk, "x": 0.25, "y": 0.75}] if building is not None else []
    return {"spots": json.dumps({"spots": spots})}


def merge_into(w, issue):
    siblings = {w.issue_reg.pk: w.issue_reg2, w.issues["x"].pk: w.issue_x2}
    into = siblings.get(issue.pk, w.issue_reg2)
    issue.refresh_from_db()
    return {"into": into.pk, "version": issue.version, "note": "重复"}


# What a POST sends, by URL name: f(w, obj) -> data (obj: the URL's object, or None).
POST_BODY = {
    "login": lambda w, obj: {"username": "nobody", "password": "wrong-password"},
    "visits:visit": lambda w, obj: visit_form(),
    "visits:followup": lambda w, obj: followup_form(w, obj),
    "reports:findings": lambda w, obj: {"kind": "not_visited", "method": "online", "visit": w.visits["a"].pk,
                                         "evidence": "矩阵抽查", "found_on": timezone.localdate().isoformat()},
    "reports:phone_checks": lambda w, obj: {"community": w.c1.pk, "size": 1},
    "reports:phone_check": lambda w, obj: {"reached": "yes", "was_visited": "yes", "satisfaction": "satisfied", "note": "核实"},
    "reports:hardship_plan": lambda w, obj: {"situation": "因病致贫", "goal": "落实低保", "responsible": "张三 社区",
                                              "measures-TOTAL_FORMS": "0", "measures-INITIAL_FORMS": "0",
                                              "measures-MIN_NUM_FORMS": "0", "measures-MAX_NUM_FORMS": "30"},
    "issues:new": lambda w, obj: {"text": "路灯坏了", "category": "living", "severity": "general"},
    "visits:cards": lambda w, obj: {"given_on": VISIT_DAY.isoformat()},
    "issues:act": lambda w, obj: issue_step(obj),
    "issues:merge": lambda w, obj: merge_into(w, obj),
    "visitplan:rulebook_edit": lambda w, obj: rulebook_section(w, obj),
    "households:plan_upload": lambda w, obj: {"image": plan_upload()},
    "households:plan_delete": lambda w, obj: {"confirm": "on"},
    "reports:map_spots": lambda w, obj: map_spots(w, obj),
}  # fmt: skip
