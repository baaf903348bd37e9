"""干部名册 as a sheet: import and export.

The natural key is 登录账号 when given, else (姓名, 工作范围). 工作范围 is resolved only among the
nodes the importing user may hand out (``Node.objects.visible_to(user, ancestors=False)``), so
nobody files a cadre outside his scope; a 街道班子成员 with a blank 工作范围 works for the whole
street, when the user hands out one street. A cadre's login account gets the role of its tier.

``FIELDS`` are the columns as an office's roster names them (office table "roster"): the
template's header, then the usual other names.
"""

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from core.tables import Field
from households.levels import for_user as levels_for_user
from households.models import Node
from households.roles import ALL_ROLES, CADRE, LEADER, SECRETARY, sync_role_groups

from ..accounts import end_login
from ..models import Cadre, Department, Tier
from .base import Column, SheetResource
from .reading import as_text, yes_no

TABLE = "roster"

# The roster's columns: the template's header (the resource's column), then other names offices use.
FIELDS = (
    Field("name", "姓名", ("干部姓名", "人员姓名", "包户干部姓名", "包户人"), required=True),
    Field("tier", "层级", ("干部层级", "类别", "干部类别", "人员类别", "层次"), required=True),
    Field("unit", "工作单位", ("单位", "单位名称", "所在单位")),
    Field("department", "所属部门", ("部门", "部门名称", "责任单位", "挂包部门")),
    Field("position", "职务", ("职位", "岗位", "职务/岗位", "职务(岗位)")),
    Field("phone", "联系电话", ("手机号", "电话", "联系方式", "手机号码", "手机", "电话号码", "联系手机")),
    Field("scope", "工作范围", ("包联范围", "负责区域", "所在网格", "包联社区", "包联网格", "负责范围", "包保范围"),
          required=True),
    Field("user", "登录账号", ("账号", "用户名", "系统账号", "登录名", "账户")),
    Field("active", "在岗", ("是否在岗", "状态", "在岗状态")),
    Field("takes_households", "参与包户", ("是否包户", "是否参与包户")),
)  # fmt: skip

# What a 状态 column (an alias of 在岗) says besides 是/否.
ACTIVE_WORDS = ("在岗", "在职")
INACTIVE_WORDS = ("离岗", "不在岗", "离职", "调离", "退休")

# Accepted spellings of each tier besides its number (1-6) and its label.
TIER_ALIASES = {
    Tier.LEADER: ("街道班子成员", "班子成员"),
    Tier.DEPARTMENT: ("市/区直部门挂包单位", "部门挂包单位", "挂包单位", "部门干部"),
    Tier.STREET_STAFF: ("街道干部（包村居组）", "街道干部(包村居组)", "街道干部"),
    Tier.SECRETARY: ("社区书记",),
    Tier.COMMITTEE: ("两委成员/社区工作者", "两委成员", "社区工作者"),
    Tier.GRID_WORKER: ("网格员",),
}

# The role (Django group) a cadre's login account gets for the tier (households/roles.py).
ROLE_OF_TIER = {Tier.LEADER: LEADER, Tier.SECRETARY: SECRETARY}
DEFAULT_ROLE = CADRE


def role_for_tier(tier) -> str:
    return ROLE_OF_TIER.get(tier, DEFAULT_ROLE)


# ---------------------------------------------------------------------------------------------
# The grid tree by name


def _normalize_scope(text: str) -> str:
    """ "湖田社区 / 第1网格", "湖田社区／第1网格" and "/湖田社区/第1网格/" all mean "湖田社区/第1网格"."""
    return re.sub(r"\s*[/／]\s*", "/", text.strip()).strip("/")


class ScopeNames:
    """Node ↔ its name path: "湖田社区/第1网格" below the street, or the street's own name.

    ``nodes`` is the queryset of nodes that may be named (for an import: the nodes the user may
    hand out). The full path from the street ("湖田街道/湖田社区/第1网格") is accepted too; it is
    what tells two streets apart for someone who sees several.
    """

    def __init__(self, nodes, levels=None):
        # households.levels: a 镇's messages say 村(居), 村民小组
        self.levels = levels
        rows = list(nodes.order_by().values_list("pk", "path", "name"))
        names = {path: name for _pk, path, name in rows}
        above = {".".join(path.split(".")[:i]) for _pk, path, _name in rows for i in range(1, path.count(".") + 1)}
        above -= names.keys()
        if above:
            names.update(Node.objects.filter(path__in=above).values_list("path", "name"))
        self.streets = {path.split(".")[0] for _pk, path, _name in rows}
        # The street itself when it is the only one and may be named (a blank 工作范围 of a leader).
        street_pks = [pk for pk, path, _name in rows if "." not in path]
        self.sole_street = street_pks[0] if len(self.streets) == 1 and len(street_pks) == 1 else None
        self.label = {}  # pk → what an export writes
        self._by_key = {}  # normalized name path → {pk, …}
        for pk, path, _name in rows:
            parts = path.split(".")
            chain = [names.get(".".join(parts[:i]), "") for i in range(1, len(parts) + 1)]
            absolute = "/".join(chain)
            relative = "/".join(chain[1:]) or chain[0]
            self.label[pk] = absolute if len(self.streets) > 1 else relative
            for key in {absolute, relative}:
                self._by_key.setdefault(_normalize_scope(key), set()).add(pk)

    def resolve(self, text: str):
        """(node pk, None) or (None, reason)."""
        pks = self._by_key.get(_normalize_scope(text), set())
        if len(pks) == 1:
            return next(iter(pks)), None
        levels = self.levels
        if levels is not None and levels.rural:
            street, community, grid = levels.street, levels.community, levels.grid
            if pks:
                return None, f"工作范围“{text}”在多个{street}中都有，请在前面加上{street}名称，如“某某{street}/{text}”"
            return None, (
                f"找不到工作范围“{text}”，或它不在您的管辖范围内；请填写{street}名称，或“{community}”“{community}/{grid}”，"
                f"如“张家村/第1村民小组”"
            )
        if pks:
            return None, f"工作范围“{text}”在多个街道中都有，请在前面加上街道名称，如“某某街道/{text}”"
        return None, (
            f"找不到工作范围“{text}”，或它不在您的管辖范围内；请填写街道名称，或“社区”“社区/网格”，如“湖田社区/第1网格”"
        )

    @classmethod
    def for_nodes(cls, pks):
        return cls(Node.objects.filter(pk__in=list(pks)))


# ---------------------------------------------------------------------------------------------
# The sheet


def _tier_lookup():
    lookup = {}
    for tier in Tier:
        lookup[str(tier.value)] = tier
        lookup[tier.label] = tier
        for alias in TIER_ALIASES.get(tier, ()):
            lookup[alias] = tier
    return lookup


class CadreResource(SheetResource):
    name = Column("name", "姓名")
    tier = Column("tier", "层级")
    unit = Column("unit", "工作单位")
    department = Column("department", "所属部门")
    position = Column("position", "职务")
    phone = Column("phone", "联系电话")
    scope = Column("scope", "工作范围")
    user = Column("user", "登录账号")
    active = Column("active", "在岗")
    takes_households = Column("takes_households", "参与包户")

    TABLE = TABLE
    FIELDS = FIELDS
    TITLE = "干部名册"

    class Meta:
        model = Cadre
        name = "干部名册"
        fields = (
            "name",
            "tier",
            "unit",
            "department",
            "position",
            "phone",
            "scope",
            "user",
            "active",
            "takes_households",
        )
        # The real lookup is CadreResource.find: 登录账号 when given, else (姓名, 工作范围).
        import_id_fields = ("name", "scope")
        use_transactions = True
        skip_unchanged = True
        report_skipped = True

    def __init__(self, user=None, **kwargs):
        super().__init__(user=user, **kwargs)
        self.scope_names = None
        self._memberships = set()  # (user id, role) already held
        self._with_roles = set()  # user ids holding any role
        self._groups = {}

    # -- values, for export, the preview and the unchanged check

    def value_name(self, obj):
        return obj.name

    def value_tier(self, obj):
        return Tier(obj.tier).label if obj.tier else ""

    def value_unit(self, obj):
        return obj.unit

    def value_department(self, obj):
        return obj.department.name if obj.department_id else ""

    def value_position(self, obj):
        return obj.position

    def value_phone(self, obj):
        return obj.phone

    def value_scope(self, obj):
        if not obj.scope_id:
            return ""
        label = self.scope_names.label.get(obj.scope_id) if self.scope_names else None
        if label is None:  # a node outside the names loaded (not in a normal import or export)
            label = ScopeNames.for_nodes([obj.scope_id]).label.get(obj.scope_id, "")
        return label

    def value_user(self, obj):
        if obj.user_id:
            return obj.user.username
        return getattr(obj, "_pending_username", "")

    def value_active(self, obj):
        return yes_no(obj.active)

    def value_takes_households(self, obj):
        return yes_no(obj.takes_households)

    # -- export

    def get_queryset(self):
        qs = Cadre.objects.all() if self.user is None else Cadre.objects.visible_to(self.user)
        return qs

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("user", "department")

    def export(self, queryset=None, **kwargs):
        if queryset is None:
            queryset = self.get_queryset()
        scope_ids = set(queryset.order_by().values_list("scope_id", flat=True).distinct())
        self.scope_names = ScopeNames.for_nodes(scope_ids)
        return super().export(queryset=queryset, **kwargs)

    # -- import

    def prepare(self, dataset, user):
        User = get_user_model()
        self.scope_names = ScopeNames(Node.objects.visible_to(user, ancestors=False), levels=levels_for_user(user))
        self.departments = {d.name: d for d in Department.objects.all()}
        self.tiers = _tier_lookup()
        cadres = list(Cadre.objects.visible_to(user).select_related("user", "department"))
        self.by_username = {c.user.username: c for c in cadres if c.user_id}
        self.by_name_scope = {}
        for c in cadres:
            self.by_name_scope.setdefault((c.name, c.scope_id), []).append(c)
        usernames = set()
        if "登录账号" in dataset.headers:
            usernames = {as_text(v) for v in dataset["登录账号"]} - {""}
        # Accounts in the file that are not (yet) a visible cadre's: new, unlinked, or someone else's.
        self.accounts = {u.username: u for u in User.objects.filter(username__in=usernames - self.by_username.keys())}
        self.cadre_of_account = dict(
            Cadre.objects.filter(user__in=self.accounts.values()).values_list("user__username", "pk")
        )
        user_ids = [c.user_id for c in self.by_username.values()] + [u.pk for u in self.accounts.values()]
        self._memberships = set(
            User.groups.through.objects.filter(user_id__in=user_ids, group__name__in=ALL_ROLES).values_list(
                "user_id", "group__name"
            )
        )
        self._with_roles = {user_id for user_id, _role in self._memberships}

    def check_row(self, checked, row):
        name = self.text(checked, row, "姓名", "name", required=True)

        tier = None
        raw_tier = row.get("层级")
        tier_text = as_text(raw_tier)
        if not tier_text:
            checked.error("层级", "层级不能为空")
        else:
            tier = self.tiers.get(tier_text) or self.tiers.get(re.sub(r"\s+", "", tier_text))
            if tier is None:
                choices = "、".join(f"{t.value} {t.label}" for t in Tier)
                checked.error("层级", f"层级“{tier_text}”无法识别，可填：{choices}（填名称或数字均可）")
            else:
                checked.values["tier"] = tier

        self.text(checked, row, "工作单位", "unit")
        if "所属部门" in row:
            dept_name = as_text(row["所属部门"])
            if not dept_name:
                checked.values["department"] = None
            elif dept_name in self.departments:
                checked.values["department"] = self.departments[dept_name]
            else:
                checked.error("所属部门", f"没有名为“{dept_name}”的责任单位，请先在“责任单位”中添加或改正名称")
        self.text(checked, row, "职务", "position")
        self.phone(checked, row)

        scope_id = None
        scope_text = as_text(row.get("工作范围"))
        if not scope_text:
            if tier == Tier.LEADER and self.scope_names.sole_street is not None:
                # A street leader's roster row often leaves it blank: he works for the whole street.
                checked.values["scope_id"] = scope_id = self.scope_names.sole_street
            else:
                checked.error("工作范围", "工作范围不能为空")
        else:
            scope_id, reason = self.scope_names.resolve(scope_text)
            if reason:
                checked.error("工作范围", reason)
            else:
                checked.values["scope_id"] = scope_id

        username = self._check_username(checked, row)
        checked.extra.update(username=username, name=name, scope_id=scope_id)
        if name and scope_id is not None:
            self.find(checked, username, name, scope_id)

        # After find(): a blank 在岗/参与包户 keeps an existing cadre's value.
        self.flag(checked, row, "在岗", "active", default=True, yes=ACTIVE_WORDS, no=INACTIVE_WORDS)
        self.flag(checked, row, "参与包户", "takes_households", default=True)

        department = checked.values.get("department", checked.instance.department if checked.instance else None)
        if tier == Tier.DEPARTMENT and department is None and "所属部门" not in checked.errors:
            checked.error("所属部门", f"层级为“{Tier.DEPARTMENT.label}”时必须填写所属部门")

    def _check_username(self, checked, row):
        if "登录账号" not in row:
            return ""
        username = as_text(row["登录账号"])
        if not username:
            return ""
        User = get_user_model()
        limit = User._meta.get_field(User.USERNAME_FIELD).max_length
        if len(username) > limit:
            checked.error("登录账号", f"登录账号不能超过 {limit} 个字符")
            return ""
        try:
            User.username_validator(username)
        except ValidationError:
            checked.error("登录账号", f"登录账号“{username}”只能包含字母、数字、汉字和 @ . + - _")
            return ""
        if username in self.cadre_of_account:
            checked.error("登录账号", f"登录账号“{username}”已属于您管辖范围以外的干部，不能在此导入")
            return ""
        return username

    def find(self, checked, username, name, scope_id):
        """The existing cadre of the row: by 登录账号 when given, else by (姓名, 工作范围)."""
        if username:
            cadre = self.by_username.get(username)
            if cadre is None:
                # An account not linked yet: the same person may be on the list without one.
                unlinked = [c for c in self.by_name_scope.get((name, scope_id), []) if not c.user_id]
                cadre = unlinked[0] if len(unlinked) == 1 else None
            checked.instance = cadre
            checked.extra["account"] = self.accounts.get(username)
            return
        same = self.by_name_scope.get((name, scope_id), [])
        if len(same) > 1:
            checked.error("姓名", f"该工作范围内有 {len(same)} 名干部叫“{name}”，请填写登录账号以区分")
        elif same:
            checked.instance = same[0]

    def check_duplicates(self, rows):
        first_account, first_name = {}, {}
        for c in rows:
            username, name, scope_id = (c.extra.get(k) for k in ("username", "name", "scope_id"))
            if username:
                if username in first_account:
                    c.error("登录账号", f"与第 {first_account[username]} 行的登录账号相同，每个账号只能出现一次")
                else:
                    first_account[username] = c.number
            if name and scope_id is not None:
                key = (name, scope_id)
                if not username and key in first_name:
                    c.error(
                        "姓名", f"与第 {first_name[key]} 行是同一工作范围内的同名干部；如确是两人，请填写登录账号以区分"
                    )
                first_name.setdefault(key, c.number)

    def apply(self, instance, checked):
        # What the account's role depends on, before the row changes it (see _role_missing).
        instance._tier_before, instance._user_before = instance.tier, instance.user_id
        super().apply(instance, checked)
        username = checked.extra.get("username")
        if username and not instance.user_id:
            account = checked.extra.get("account")
            if account is not None:
                instance.user = account
            else:
                instance._pending_username = username

    def skip_row(self, instance, original, row, import_validation_errors=None):
        return super().skip_row(instance, original, row, import_validation_errors) and not self._role_missing(instance)

    def before_save_instance(self, instance, row, **kwargs):
        username = getattr(instance, "_pending_username", "")
        if username and not instance.user_id:
            account = get_user_model()(username=username)
            account.set_unusable_password()
            account.save()
            instance.user = account

    def after_save_instance(self, instance, row, **kwargs):
        # The departure rule: a cadre the roster marks 不在岗 can no longer log in.
        end_login(instance, by=self.user)
        role = self._role_missing(instance)
        if role:
            instance.user.groups.add(self._group(role))
            self._memberships.add((instance.user_id, role))
            self._with_roles.add(instance.user_id)

    def _role_missing(self, instance):
        """The role the cadre's account should get now for its tier, or None.

        An account gets the tier's role when it holds no role yet (a new account, or one linked
        now), or when the row changes the tier (a grid worker made 社区书记). An account that
        already has its roles keeps them as they are: re-importing an exported roster changes no
        one's role (a 部门经办人 listed as 部门挂包 cadre does not also become 干部/网格员).
        Roles are only added, never taken away, and the importing user's own account is left
        alone: nobody raises his own role by importing a file.
        """
        if not instance.tier:
            return None
        if instance.user_id:
            user_id = instance.user_id
        elif getattr(instance, "_pending_username", ""):
            user_id = None  # a new account holds nothing yet
        else:
            return None
        if user_id is not None and self.user is not None and user_id == self.user.pk:
            return None
        role = role_for_tier(instance.tier)
        if (user_id, role) in self._memberships:
            return None
        has_roles = user_id in self._with_roles
        tier_changed = getattr(instance, "_tier_before", instance.tier) != instance.tier
        if not has_roles or tier_changed:
            return role
        return None

    def _group(self, role):
        if role not in self._groups:
            group = Group.objects.filter(name=role).first()
            if group is None:
                sync_role_groups()
                group = Group.objects.get(name=role)
            self._groups[role] = group
        return self._groups[role]
