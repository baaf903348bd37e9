"""Who may reach which URL: the project's one declaration (``settings.ACCESS_RULES`` names this module).

Every URL pattern of the project (``visitplan/urls.py`` and what it includes) has an entry in
``REGISTRY`` under its full name (``namespace:name``), saying which roles may open it (GET), which
may write through it (POST) and, when its path carries an object id, what kind of object that id
names (scoped by the user's node: another node's object answers 404, the same as a missing id, so
ids cannot be probed). The admin site is one entry, ``NAMESPACES["admin"]``: there the admin's own
permission system decides (``households.roles.role_permissions()`` per role, each ModelAdmin's
``has_*_permission`` and ``get_queryset``).

The views enforce these rules themselves (``login_required``, ``PermissionDenied``, the
``visible_to`` entry points); ``tests/test_permission_matrix.py`` walks the URL conf and checks every
view against its entry, for every role, with objects inside and outside the user's node.
``core.access.AccessMiddleware`` adds deny by default: a resolved view that is not declared here
answers 404, and a method the entry does not allow answers 405 — a new URL is unreachable until
someone has written down who may use it. ``Rule`` and the lookup are that generic machinery
(core/access.py); this module only declares.

Conventions (what the views do today, and what the matrix asserts):

- anonymous users are sent to the login page (``/login/?next=…``; the admin to its own login);
- a role without access to a page gets 403 (``PermissionDenied``);
- an object outside the user's node gets 404, exactly as a missing id;
- a write that the role may not make answers 403 / 404 / 405, a redirect with an error message
  (the issue workflow: ``issues.services`` refuses the step) or the form again with its error,
  and changes nothing;
- in the admin, another node's object gets the admin's answer for a missing id (a redirect to
  the index with "不存在"; 404 in the custom views), exactly as a missing id.
"""

from core.access import ANONYMOUS, Rule
from households.roles import (
    ALL_ROLES,
    CADRE,
    DEPARTMENT_HANDLER,
    DISTRICT_ROLES,
    LEADER,
    SECRETARY,
    STREET_ADMIN,
    STREET_ROLES,
)

EVERYONE = frozenset(ALL_ROLES)  # every logged-in role
# households.roles.NODE_WIDE_ROLES, and the district's readers (they read every street of their district:
# the dashboard of a street's campaign is counted for that street, reports.views._reader).
NODE_WIDE = frozenset({STREET_ADMIN, LEADER, SECRETARY, *DISTRICT_ROLES})
# The street's own people: a district's readers have no cadre, so they visit nobody.
STREET_PEOPLE = frozenset(STREET_ROLES)

# Kinds of object a URL id can name (the matrix test builds one inside and one outside each
# role's node for each kind).
HOUSEHOLD = "household"  # households.Household, through households.scoping.get_household_for_user
VISIT = "visit"  # visits.Visit.objects.visible_to
ISSUE = "issue"  # issues.scoping.get_issue_for_user
PHONE_CHECK = "phone_check"  # reports.PhoneCheck.objects.visible_to
NOTIFICATION = "notification"  # issues.notifications: the user's own only
JOB = "job"  # core.models.BackgroundJob, through core.jobs.get_job_for_user: the user's own only
CAMPAIGN = "campaign"  # visitplan.Campaign.objects.visible_to (the campaigns of the user's street)
# 民情地图 (reports.maps.rules.node_for): a node of the user's subtree, Node.objects.visible_to(ancestors=False);
# the 网格图 takes a grid or a community (NODE).
BUILDING = "building"  # a 楼栋
COMMUNITY = "community"  # a 社区
NODE = "node"  # a community or grid: households.Node.objects.visible_to (its 平面图, the 网格图)


ADMIN = Rule(
    admin=True,
    note="Django admin: staff only (others go to the admin login); the admin's permissions "
    "(households.roles.role_permissions(), ModelAdmin.has_*_permission) and each ModelAdmin's "
    "get_queryset (visible_to) decide; another node's object is handled as a missing one.",
)

# The issue workflow steps, POST only; which role may take which step is issues.services.ACTION_ROLES
# (plus the department and level rules there). Leaders only read: no step is theirs.
_ISSUE_STEPS = frozenset({STREET_ADMIN, SECRETARY, DEPARTMENT_HANDLER, CADRE})
# households.change_household (households.roles.role_permissions()): who may edit a 一户一策 plan.
_HOUSEHOLD_EDITORS = frozenset({STREET_ADMIN, SECRETARY, CADRE})
# issues.add_issue: who may register an issue on the register page.
_ISSUE_REGISTRARS = frozenset({STREET_ADMIN, SECRETARY, CADRE})
# households.view_full_pii: who may see ID numbers and phones in full (households.masking).
_FULL_PII = frozenset({STREET_ADMIN})
# reports.supervision.may_supervise: the street office records findings and phone checks.
_SUPERVISORS = frozenset({STREET_ADMIN})
# reports.evaluation.may_evaluate: the street office and its leaders read the 综合评议.
_EVALUATORS = frozenset({STREET_ADMIN, LEADER})
# reports.bulletin.may_read: the monthly 督查通报 is the street's, for its admins and leaders.
_BULLETIN_READERS = frozenset({STREET_ADMIN, LEADER})
# reports.maps.rules: the 楼栋图 and 网格图 of one's own node (grid workers: their grid), a community's
# 楼栋图 for the node-wide roles, 调整位置 for the street admin of the node's whole street.
_MAP_READERS = frozenset({STREET_ADMIN, LEADER, SECRETARY, CADRE})
_MAP_PLACERS = frozenset({STREET_ADMIN})
# visitplan.rulebook_pages.forms.may_edit_rules: the street admin of the campaign's whole street.
_RULE_EDITORS = frozenset({STREET_ADMIN})
# reports.district.reader_district: the 区 (县)'s leaders and admins read its streets side by side.
_DISTRICT_READERS = frozenset(DISTRICT_ROLES)
# households.plans.may_manage_plans: the street admin of the node's whole street uploads its 平面图.
_PLAN_EDITORS = frozenset({STREET_ADMIN})

REGISTRY: dict[str, Rule] = {
    # -------------------------------------------------------------------------------- visitplan
    "home": Rule(get=EVERYONE, note="overview; a cadre with households in the current campaign is sent to visits:mine"),
    "login": Rule(get=EVERYONE | {ANONYMOUS}, post=EVERYONE | {ANONYMOUS}, public=True),
    "logout": Rule(post=EVERYONE | {ANONYMOUS}, public=True, note="POST only (Django's LogoutView)"),
    "password_change": Rule(
        get=EVERYONE, post=EVERYONE, note="one's own password (Django's PasswordChangeView, the password validators)"
    ),
    "password_change_done": Rule(get=EVERYONE),
    "service_worker": Rule(
        get=EVERYONE | {ANONYMOUS}, public=True, note="the field app's service worker (visits.offline); no data in it"
    ),
    "web_manifest": Rule(get=EVERYONE | {ANONYMOUS}, public=True, note="the field app's manifest; no data in it"),
    "healthz": Rule(
        get=EVERYONE | {ANONYMOUS},
        public=True,
        note="运行状态 for the monitoring (core.health): states, counts and times only; no personal data, "
        "no host names or paths",
    ),
    "visitplan:rulebook": Rule(
        get=EVERYONE, scope=CAMPAIGN, note="活动规则, read-only: everyone who sees the campaign (Campaign.visible_to)"
    ),
    "visitplan:rulebook_edit": Rule(
        get=_RULE_EDITORS,
        post=_RULE_EDITORS,
        scope=CAMPAIGN,
        note="one section of the rulebook per POST (update_rules, logged), with the campaign's version; a street "
        "admin whose scope is not the campaign's whole street gets 403",
    ),
    # -------------------------------------------------------------------------------- households
    "households:list": Rule(get=EVERYONE, note="Household.objects.visible_to"),
    "households:export": Rule(get=EVERYONE, note="the list's filter, re-scoped and logged (AccessLog)"),
    "households:detail": Rule(get=EVERYONE, scope=HOUSEHOLD, note="ID numbers and phones masked for every role"),
    "households:reveal": Rule(
        post=_FULL_PII, scope=HOUSEHOLD, note="显示完整信息: POST only, households.view_full_pii, logged (AccessLog)"
    ),
    "households:call": Rule(
        post=frozenset({STREET_ADMIN, SECRETARY, CADRE, DEPARTMENT_HANDLER}),
        scope=HOUSEHOLD,
        note="拨打: POST only, answers the phone number, logged (AccessLog); households.masking.may_call: the "
        "household's own cadre (包户), the street admin / secretary of its node; 403 for the others (a leader "
        "only for a household assigned to him)",
    ),
    "households:plan_upload": Rule(
        get=_PLAN_EDITORS,
        post=_PLAN_EDITORS,
        scope=NODE,
        note="平面图 of a community or grid: the street admin of its street (households.plans.may_manage_plans), "
        "in his subtree (visible_to, ancestors=False); the file checked by its bytes (save_plan)",
    ),
    "households:plan_delete": Rule(post=_PLAN_EDITORS, scope=NODE, note="删除平面图: POST only, with 确认删除"),
    "households:plan_image": Rule(
        get=frozenset({STREET_ADMIN, LEADER, SECRETARY, CADRE, *DISTRICT_ROLES}),
        scope=NODE,
        note="the plan image, for everyone who sees the node (Node.visible_to with its ancestors); nosniff, "
        "private cache; never public media. A user who sees no node at all (the department handler) gets 403",
    ),
    # -------------------------------------------------------------------------------- visits
    "visits:mine": Rule(get=EVERYONE),
    "visits:followups": Rule(get=EVERYONE),
    "visits:todo": Rule(get=EVERYONE, note="each user's own 待办: only what waits for him, through visible_to"),
    "visits:cards": Rule(
        get=EVERYONE,
        post=EVERYONE,
        note="?cadre= / ?grid= / ?community= of another cadre or a whole node only for node-wide roles (under their "
        "node; 404 otherwise); POST 已发放 records the cards of the same choice (visits.cards)",
    ),
    "visits:household": Rule(get=EVERYONE, scope=HOUSEHOLD),
    "visits:visit": Rule(
        get=STREET_PEOPLE,
        post=STREET_PEOPLE,
        scope=HOUSEHOLD,
        note="every cadre visits the households assigned to him; leaders, secretaries and grid workers "
        "any household of their node (visits.rules.may_visit); others 403",
    ),
    "visits:followup": Rule(
        get=STREET_PEOPLE,
        post=STREET_PEOPLE,
        scope=HOUSEHOLD,
        note="回头看: only the follow-ups due on the user's own list (visits.services.due_followups)",
    ),
    "visits:detail": Rule(get=EVERYONE, scope=VISIT),
    "visits:offline": Rule(get=EVERYONE, note="本机记录: a shell the phone fills from its own store"),
    "visits:offline_state": Rule(
        get=EVERYONE,
        note="the field app's state: the user's id, a CSRF token, the pages of his own current assignments only",
    ),
    # -------------------------------------------------------------------------------- reports
    "reports:dashboard": Rule(get=NODE_WIDE),
    "reports:district": Rule(
        get=_DISTRICT_READERS,
        note="区级看板 (reports.district): the streets of the reader's district side by side (superusers choose "
        "?district=); everyone else 403",
    ),
    "reports:unvisited": Rule(get=NODE_WIDE),
    "reports:behind": Rule(get=NODE_WIDE),
    "reports:cadre": Rule(get=NODE_WIDE, note="a cadre outside the reader's node answers 404"),
    "reports:issues": Rule(get=NODE_WIDE, note="the issues one dashboard figure counts, scoped like it"),
    "reports:visits": Rule(get=NODE_WIDE),
    "reports:followups": Rule(get=NODE_WIDE),
    "reports:findings": Rule(get=NODE_WIDE, post=_SUPERVISORS),
    "reports:phone_checks": Rule(get=NODE_WIDE, post=_SUPERVISORS),
    "reports:phone_check": Rule(get=_SUPERVISORS, post=_SUPERVISORS, scope=PHONE_CHECK),
    "reports:summary": Rule(get=NODE_WIDE),
    "reports:evaluation": Rule(
        get=_EVALUATORS, note="综合评议 (reports.evaluation.may_evaluate): the cadres of the reader's node, visible_to"
    ),
    "reports:evaluation_export": Rule(
        get=_EVALUATORS, note="the same rows as xlsx: an export job (asks may_evaluate again), logged when downloaded"
    ),
    "reports:bulletin": Rule(
        get=_BULLETIN_READERS,
        note="督查通报 (reports.bulletin.may_read): the street admins and leaders; rows by visible_to",
    ),
    "reports:bulletin_export": Rule(get=_BULLETIN_READERS, note="the page's rows as xlsx, logged (AccessLog)"),
    "reports:ledgers": Rule(get=EVERYONE, note="each ledger scoped to what the user may see"),
    "reports:ledger_visits": Rule(get=EVERYONE),
    "reports:ledger_hardship": Rule(get=EVERYONE),
    "reports:ledger_monthly": Rule(get=EVERYONE, note="non-node-wide roles get their own row only"),
    "reports:ledger_supervision": Rule(get=EVERYONE, note="roles without a node-wide scope get no community"),
    "reports:my_exports": Rule(get=EVERYONE, note="我的导出: the user's own background jobs only"),
    "reports:export_job": Rule(get=EVERYONE, scope=JOB, note="an export job's progress, its download link"),
    "reports:export_download": Rule(get=EVERYONE, scope=JOB, note="the job's file, its user only, logged (AccessLog)"),
    "reports:hardship_list": Rule(get=EVERYONE),
    "reports:hardship_plan": Rule(get=EVERYONE, post=_HOUSEHOLD_EDITORS, scope=HOUSEHOLD),
    "reports:map_building": Rule(
        get=_MAP_READERS,
        scope=BUILDING,
        note="楼栋图: a building of the reader's subtree (a grid worker's grid); ?by= / ?group= colour the rooms",
    ),
    "reports:map_community": Rule(
        get=NODE_WIDE - set(DISTRICT_ROLES),
        scope=COMMUNITY,
        note="a community's 楼栋图, side by side (reports.maps.rules.WIDE_ROLES: the street's, not the district's)",
    ),
    "reports:map_grid": Rule(
        get=_MAP_READERS, scope=NODE, note="网格图 of a grid or a community of the reader's subtree (ECharts, no tiles)"
    ),
    "reports:map_spots": Rule(
        post=_MAP_PLACERS,
        scope=NODE,
        note="保存位置: JSON, the buildings' spots on the node's plan; the street admin of the node's whole "
        "street (403 otherwise), buildings under the node only, x / y on the plan (0–1), one transaction",
    ),
    # -------------------------------------------------------------------------------- issues
    "issues:ledger": Rule(get=EVERYONE),
    "issues:review": Rule(get=EVERYONE, note="read by all in scope; the accept/return forms only for reviewers"),
    "issues:mine": Rule(get=EVERYONE),
    "issues:new": Rule(get=_ISSUE_REGISTRARS, post=_ISSUE_REGISTRARS, note="?household= scoped (404 outside)"),
    "issues:export": Rule(get=EVERYONE),
    "issues:detail": Rule(get=EVERYONE, scope=ISSUE),
    "issues:merge": Rule(get=EVERYONE, post=_SUPERVISORS, scope=ISSUE, note="issues.services.ACTION_ROLES['merge']"),
    "issues:act": Rule(post=_ISSUE_STEPS, scope=ISSUE, note="per step: issues.services.ACTION_ROLES"),
    # -------------------------------------------------------------------------------- notifications
    "notifications:list": Rule(get=EVERYONE),
    "notifications:read_all": Rule(post=EVERYONE),
    "notifications:open": Rule(post=EVERYONE, scope=NOTIFICATION),
}

# Whole namespaces whose own permission system decides.
NAMESPACES: dict[str, Rule] = {"admin": ADMIN}
