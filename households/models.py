"""The grid tree (街道 → 社区 → 网格 → 楼栋) and the household register (居民底册).

Every node and every household carries a materialized path (``000001.000004.000019``)
so that "everything under this node" is one indexed prefix filter, the same on
SQLite and PostgreSQL.
"""

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q

from core.scope import scope_of
from core.tables import normalize_header
from core.versioning import VersionedModel

from .validators import validate_id_number, validate_phone

PATH_STEP = 6  # digits per level: node pk zero-padded, so prefixes never collide


def path_segment(pk: int) -> str:
    return f"{pk:0{PATH_STEP}d}"


def subtree_q(path: str, field: str = "path") -> Q:
    """The node at ``path`` and everything under it, on a path field (``household__path``…).

    The dot keeps a sibling whose segment merely starts with the same digits out (a pk past 999999
    has seven digits: ``….1000000`` is not under ``….100000``).
    """
    return Q(**{field: path}) | Q(**{f"{field}__startswith": path + "."})


def subtree_q_any(paths, field: str = "path") -> Q:
    """The union of the subtrees at ``paths``; no paths match nothing (never everything)."""
    q = Q(pk__in=[])
    for path in paths:
        q |= subtree_q(path, field)
    return q


class NodeKind(models.TextChoices):
    STREET = "street", "街道"
    COMMUNITY = "community", "社区"
    GRID = "grid", "网格"
    BUILDING = "building", "楼栋"


class TownshipKind(models.TextChoices):
    """What a street-level node is: an urban 街道, or a rural 镇 / 乡 (whose levels are 村(居) /
    村民小组 / 户: households.levels)."""

    STREET = "street", "街道"
    TOWN = "town", "镇"
    TOWNSHIP = "township", "乡"


class DistrictKind(models.TextChoices):
    DISTRICT = "district", "区"
    COUNTY = "county", "县"


class District(VersionedModel):
    """A 区 (县) above its streets and towns: a level of reading, not of the path tree.

    Street-level nodes stay the roots of the materialized paths (much code takes a path's first
    segment for its street); a street belongs to a district through ``Node.district``. The
    district's people (``DistrictMember``, roles 区级领导 / 区级管理员) see the paths of every
    street of it (visitplan.scope.UserScope). Decision: docs/decisions/0017-districts.md.
    """

    name = models.CharField("名称", max_length=100, unique=True)
    kind = models.CharField("区/县", max_length=16, choices=DistrictKind.choices, default=DistrictKind.DISTRICT)
    code = models.CharField("编码", max_length=32, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "区（县）"
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def street_paths(self) -> tuple[str, ...]:
        """The paths of the district's street-level nodes (its users' scope), in tree order."""
        return tuple(self.streets.order_by("path").values_list("path", flat=True))


class DistrictMember(models.Model):
    """A login account of a district's office (区级领导 / 区级管理员): the district it reads."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name="登录账号", on_delete=models.CASCADE, related_name="district_member"
    )
    district = models.ForeignKey(
        District, verbose_name="所属区（县）", on_delete=models.CASCADE, related_name="members"
    )

    class Meta:
        verbose_name = verbose_name_plural = "区（县）级账号"

    def __str__(self):
        return f"{self.district} · {self.user}"


CHILD_KIND = {
    NodeKind.STREET: NodeKind.COMMUNITY,
    NodeKind.COMMUNITY: NodeKind.GRID,
    NodeKind.GRID: NodeKind.BUILDING,
}


class NodeQuerySet(models.QuerySet):
    def under(self, node, include_self=True):
        if include_self:
            return self.filter(subtree_q(node.path))
        return self.filter(path__startswith=node.path + ".")

    def visible_to(self, who, *, ancestors=True):
        """The user's subtree; with ancestors=True also the nodes above it, so the tree can be shown.

        Choosing a node to act on (a cadre's scope, a parent) uses ancestors=False: nobody hands
        out a scope wider than their own.
        """
        paths = scope_of(who).paths
        if paths is None:
            return self.all()
        if not paths:
            return self.none()
        q = subtree_q_any(paths)
        if ancestors:
            for path in paths:
                parts = path.split(".")
                q |= Q(path__in=[".".join(parts[:i]) for i in range(1, len(parts))])
        return self.filter(q)


class Node(VersionedModel):
    """One node of the grid tree; the kind says which level it is."""

    kind = models.CharField("层级", max_length=16, choices=NodeKind.choices, db_index=True)
    name = models.CharField("名称", max_length=100)
    parent = models.ForeignKey(
        "self", verbose_name="上级", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField("路径", max_length=64, db_index=True, editable=False, default="")
    code = models.CharField("编码", max_length=32, blank=True)
    order = models.PositiveIntegerField("排序", default=0)
    # Meaningful on the top node only: it names the levels below it (households.levels).
    township = models.CharField(
        "街道/镇/乡",
        max_length=16,
        choices=TownshipKind.choices,
        default=TownshipKind.STREET,
        help_text="街道下设社区、网格；镇、乡下设村(居)、村民小组",
    )

    # Meaningful on the top node only: the 区 (县) the street or town belongs to (districts read it).
    district = models.ForeignKey(
        District,
        verbose_name="所属区（县）",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="streets",
    )

    # A building's place on the earth (the register's optional 经度 / 纬度 columns, WGS-84 degrees);
    # the 网格图 draws buildings by them when no plan image is placed (reports.maps, no tiles).
    longitude = models.DecimalField("经度", max_digits=9, decimal_places=6, null=True, blank=True)
    latitude = models.DecimalField("纬度", max_digits=9, decimal_places=6, null=True, blank=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        verbose_name = "组织节点"
        verbose_name_plural = "组织节点（街道/社区/网格/楼栋）"
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="node_unique_name_under_parent"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.kind != NodeKind.STREET and self.district_id:
            raise ValidationError({"district": "只有街道（镇、乡）属于区（县）：请在街道上设置所属区（县）"})
        if self.kind == NodeKind.STREET:
            if self.parent_id:
                raise ValidationError({"parent": "街道是最上级，不能有上级节点"})
        elif not self.kind:
            return  # the kind's own field error says so
        elif not self.parent_id or CHILD_KIND.get(self.parent.kind) != self.kind:
            expected = {v: k for k, v in CHILD_KIND.items()}.get(self.kind)
            raise ValidationError(
                {"parent": f"{self.get_kind_display()}的上级必须是{expected.label}" if expected else "上级节点不正确"}
            )

    @transaction.atomic
    def save(self, *args, **kwargs):
        renamed = bool(self.pk) and Node.objects.filter(pk=self.pk).exclude(name=self.name).exists()
        super().save(*args, **kwargs)
        new_path = (self.parent.path + "." if self.parent_id else "") + path_segment(self.pk)
        moved = bool(self.path) and new_path != self.path
        if new_path != self.path:
            old = self.path
            self.path = new_path
            Node.objects.filter(pk=self.pk).update(path=new_path)
            if old:
                _rewrite_paths(old, new_path)
        if moved:
            _rehome_households(self)
        if renamed or moved:
            _refresh_address_keys(self)

    def ancestors(self):
        parts = self.path.split(".")
        paths = [".".join(parts[:i]) for i in range(1, len(parts))]
        return list(Node.objects.filter(path__in=paths).order_by("path"))

    def ancestor_of_kind(self, kind):
        if self.kind == kind:
            return self
        for node in self.ancestors():
            if node.kind == kind:
                return node
        return None

    @property
    def full_name(self):
        return " / ".join([n.name for n in self.ancestors()] + [self.name])


def _rehome_households(node):
    """A node moved under another parent: its households follow it up the tree."""
    chain = [node] + list(reversed(node.ancestors()))  # node, parent, grandparent, …
    levels = {n.kind: n.pk for n in chain}
    field = {NodeKind.COMMUNITY: "community", NodeKind.GRID: "grid", NodeKind.BUILDING: "building"}.get(node.kind)
    if field is None:
        return
    above = {"street_id": levels.get(NodeKind.STREET)}
    if node.kind in (NodeKind.GRID, NodeKind.BUILDING):
        above["community_id"] = levels.get(NodeKind.COMMUNITY)
    if node.kind == NodeKind.BUILDING:
        above["grid_id"] = levels.get(NodeKind.GRID)
    # A household's address fields change under any open edit form: bump its version (optimistic lock).
    Household.objects.filter(**{field: node}).update(**above, version=F("version") + 1)


def _refresh_address_keys(node):
    """A renamed community, grid or building changes the natural key of its households."""
    households = Household.objects.filter(Q(community=node) | Q(grid=node) | Q(building=node)).select_related(
        "community", "grid", "building"
    )
    changed = []
    for h in households.iterator(chunk_size=2000):
        h.address_key = h.compute_address_key()
        changed.append(h)
    Household.objects.bulk_update(changed, ["address_key"], batch_size=1000)


def _rewrite_paths(old: str, new: str):
    from django.db.models import Value
    from django.db.models.functions import Concat, Substr

    cut = len(old) + 1
    Node.objects.filter(path__startswith=old + ".").update(path=Concat(Value(new), Substr("path", cut)))
    Household.objects.filter(subtree_q(old)).update(path=Concat(Value(new), Substr("path", cut)))


class _KindManager(models.Manager.from_queryset(NodeQuerySet)):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def get_queryset(self):
        return super().get_queryset().filter(kind=self.kind)

    def deconstruct(self):  # managers of proxies are not serialized into migrations
        return (False, "households.models._KindManager", None, (self.kind,), {})


class KindProxy(Node):
    """Base of the per-level proxies; each level gets its own admin page."""

    KIND = None

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "节点"

    def clean(self):
        self.kind = self.KIND  # before Node.clean checks the parent against the kind
        super().clean()

    def save(self, *args, **kwargs):
        self.kind = self.KIND
        super().save(*args, **kwargs)


class Street(KindProxy):
    KIND = NodeKind.STREET
    objects = _KindManager(NodeKind.STREET)

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "街道"


class Community(KindProxy):
    KIND = NodeKind.COMMUNITY
    objects = _KindManager(NodeKind.COMMUNITY)

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "社区"


class Grid(KindProxy):
    KIND = NodeKind.GRID
    objects = _KindManager(NodeKind.GRID)

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "网格"


class Building(KindProxy):
    KIND = NodeKind.BUILDING
    objects = _KindManager(NodeKind.BUILDING)

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "楼栋"


class FocusGroup(VersionedModel):
    """A focus group (重点人群); the vocabulary is editable in the admin."""

    name = models.CharField("名称", max_length=32, unique=True)
    aliases = models.CharField("别名", max_length=100, blank=True, help_text="导入时也认这些写法，用“、”分隔")
    order = models.PositiveSmallIntegerField("排序", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "重点人群"
        ordering = ["order", "id"]

    def __str__(self):
        return self.name


class HouseholdQuerySet(models.QuerySet):
    def under(self, node):
        return self.filter(subtree_q(node.path))

    def visible_to(self, who):
        """The one scoping entry point for households (see households/scoping.py)."""
        from .scoping import households_visible_to

        return households_visible_to(self, who)


class Household(VersionedModel):
    street = models.ForeignKey(Node, verbose_name="街道", on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(Node, verbose_name="社区", on_delete=models.PROTECT, related_name="+")
    grid = models.ForeignKey(Node, verbose_name="网格", on_delete=models.PROTECT, related_name="+")
    building = models.ForeignKey(
        Node, verbose_name="楼栋", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unit = models.CharField("单元", max_length=32, blank=True)
    room = models.CharField("门牌号", max_length=64, db_index=True)
    # Natural key within a street: community|grid|building|unit|room (see register.address_key).
    address_key = models.CharField("地址键", max_length=300, editable=False)
    path = models.CharField("路径", max_length=64, editable=False, db_index=True)

    head_name = models.CharField("户主姓名", max_length=50, db_index=True)
    id_number = models.CharField("身份证号", max_length=18, validators=[validate_id_number], db_index=True)
    phone = models.CharField("联系电话", max_length=20, blank=True, validators=[validate_phone])
    size = models.PositiveSmallIntegerField("家庭人口", default=1)
    tags = models.ManyToManyField(FocusGroup, verbose_name="重点人群", blank=True, related_name="households")
    living_conditions = models.TextField("居住情况", blank=True)
    income_source = models.CharField("收入来源", max_length=200, blank=True)
    notes = models.TextField("备注", blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = HouseholdQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "居民户"
        ordering = ["path", "unit", "room", "id"]
        permissions = [("view_full_pii", "查看完整信息（身份证号、电话）")]
        constraints = [
            models.UniqueConstraint(fields=["street", "address_key"], name="household_unique_address_in_street"),
        ]
        indexes = [
            # Serves the default ordering, so a page of the list is a top-N index scan, not a sort of the table.
            models.Index(fields=["path", "unit", "room", "id"], name="household_list_order"),
        ]

    def __str__(self):
        return f"{self.address} {self.head_name}"

    @property
    def address(self):
        parts = [self.building.name if self.building_id else "", self.unit, self.room]
        return "".join(p for p in parts if p)

    def compute_address_key(self):
        from .register import address_key

        building = self.building.name if self.building_id else ""
        return address_key(self.community.name, self.grid.name, building, self.unit, self.room)

    def save(self, *args, **kwargs):
        # Derived from the address: recomputed on every save (the version check is VersionedModel's).
        self.address_key = self.compute_address_key()
        self.path = (self.building or self.grid).path
        super().save(*args, **kwargs)


class MemberQuerySet(models.QuerySet):
    def visible_to(self, who):
        return self.filter(household__in=Household.objects.visible_to(who))


class Member(VersionedModel):
    household = models.ForeignKey(Household, verbose_name="户", on_delete=models.CASCADE, related_name="members")
    name = models.CharField("姓名", max_length=50)
    relation = models.CharField("与户主关系", max_length=20, blank=True)
    id_number = models.CharField("身份证号", max_length=18, blank=True, validators=[validate_id_number])
    birth_year = models.PositiveSmallIntegerField("出生年份", null=True, blank=True)
    health = models.CharField("健康状况", max_length=50, blank=True)
    work = models.CharField("工作/就学", max_length=100, blank=True)

    objects = MemberQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "家庭成员"
        ordering = ["household", "id"]

    def __str__(self):
        return self.name


class AccessKind(models.TextChoices):
    EXPORT = "export", "导出"
    REVEAL = "reveal", "查看完整信息"
    SEARCH = "search", "按身份证号/电话查询"


class AccessLog(models.Model):
    """The access log of residents' data: who exported it, or saw a household's ID numbers and phones
    in full (查看完整信息), when, from where, how many rows and residents.

    Append-only: a row is written once and never changed (``save`` refuses); the admin lists it
    read-only for every role, superusers included. Only ``manage.py purge_access_logs`` removes rows,
    and only those older than the retention (at least 183 days).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="用户", null=True, on_delete=models.SET_NULL)
    # The login name at the time, so the row still says who it was after the user is deleted.
    username = models.CharField("用户名", max_length=150, blank=True, editable=False)
    at = models.DateTimeField("时间", auto_now_add=True, db_index=True)
    kind = models.CharField("类型", max_length=16, choices=AccessKind.choices, default=AccessKind.EXPORT, db_index=True)
    what = models.CharField("内容", max_length=200)
    rows = models.PositiveIntegerField("行数", default=0)
    residents = models.PositiveIntegerField(
        "涉及居民数", default=0, help_text="导出：导出的行数；查看完整信息：户主及有身份证号的家庭成员人数"
    )
    household = models.ForeignKey(
        Household, verbose_name="户", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip = models.GenericIPAddressField("IP", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "访问日志（导出/查看完整信息）"
        ordering = ["-at"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.username or self.user} {self.get_kind_display()} {self.what}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("访问日志只能新增，不能修改")
        if not self.username and self.user_id is not None:
            self.username = self.user.get_username()
        if not self.residents and self.kind == AccessKind.EXPORT:
            # Existing exports pass rows only: each row of these files is one household / resident.
            self.residents = self.rows
        super().save(*args, **kwargs)


class HardshipPlan(VersionedModel):
    """一户一策: the plan of measures for one household in special hardship (特殊困难群体台账)."""

    household = models.OneToOneField(
        Household, verbose_name="户", on_delete=models.CASCADE, related_name="hardship_plan"
    )
    situation = models.TextField("困难情况")
    goal = models.CharField("帮扶目标", max_length=200, blank=True)
    responsible = models.CharField("帮扶责任人", max_length=100, help_text="姓名、单位")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="更新人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "一户一策帮扶方案"

    def __str__(self):
        return f"{self.household} 一户一策"


class HardshipMeasure(VersionedModel):
    plan = models.ForeignKey(HardshipPlan, verbose_name="方案", on_delete=models.CASCADE, related_name="measures")
    content = models.CharField("帮扶措施", max_length=300)
    unit = models.CharField("责任单位", max_length=100, blank=True)
    due_on = models.DateField("完成时限", null=True, blank=True)
    done_on = models.DateField("完成日期", null=True, blank=True)
    order = models.PositiveSmallIntegerField("排序", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "帮扶措施"
        ordering = ["plan", "order", "id"]

    def __str__(self):
        return self.content


# ---------------------------------------------------------------------------------------------
# Retention of the access log

MIN_ACCESS_LOG_RETENTION_DAYS = 183  # kept at least six months, whatever the settings say
DEFAULT_ACCESS_LOG_RETENTION_DAYS = 365


class RetentionTooShort(ValueError):
    pass


def access_log_retention_days() -> int:
    """settings.ACCESS_LOG_RETENTION_DAYS (default 365); RetentionTooShort below 183 days."""
    value = getattr(settings, "ACCESS_LOG_RETENTION_DAYS", DEFAULT_ACCESS_LOG_RETENTION_DAYS)
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise RetentionTooShort(f"ACCESS_LOG_RETENTION_DAYS 应为天数（整数），现为 {value!r}") from None
    if days < MIN_ACCESS_LOG_RETENTION_DAYS:
        raise RetentionTooShort(
            f"ACCESS_LOG_RETENTION_DAYS={days} 少于 {MIN_ACCESS_LOG_RETENTION_DAYS} 天：访问日志至少保存六个月，未删除任何记录"
        )
    return days


def access_log_cutoff(today, days):
    """The first moment kept: 00:00 (local time) of ``today`` minus ``days``; older rows may go."""
    import datetime

    from django.utils import timezone

    return timezone.make_aware(datetime.datetime.combine(today - datetime.timedelta(days=days), datetime.time.min))


def purge_access_logs(*, today, dry_run=False):
    """Delete the access-log rows older than the retention; returns (cutoff, number of rows)."""
    days = max(access_log_retention_days(), MIN_ACCESS_LOG_RETENTION_DAYS)
    cutoff = access_log_cutoff(today, days)
    old = AccessLog.objects.filter(at__lt=cutoff)
    if dry_run:
        return cutoff, old.count()
    deleted, _ = old.delete()
    return cutoff, deleted


class ColumnAliasQuerySet(models.QuerySet):
    def visible_to(self, who):
        """The names for all streets, and those of the streets the user works in (his node's
        street); superusers all. Who may add or change them is the admin's permission."""
        scope = scope_of(who)
        if scope.everything:
            return self
        streets = Node.objects.visible_to(scope).filter(kind=NodeKind.STREET)
        return self.filter(Q(street__isnull=True) | Q(street__in=streets))

    def for_table(self, table: str, street=None):
        """The names that apply to an import of ``table`` into ``street``: its own and the common ones."""
        q = Q(street__isnull=True)
        if street is not None:
            q |= Q(street=street)
        return self.filter(q, table=table)


class ColumnAlias(VersionedModel):
    """表头对照: a column name an office's spreadsheet uses, and the field it means (or none: ignore the
    column). Added by the street admin in the admin, or remembered from an import's column mapping;
    they come on top of the names the product knows (households.column_aliases)."""

    table = models.CharField("表格", max_length=16)
    street = models.ForeignKey(
        Node,
        verbose_name="街道",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        limit_choices_to={"kind": NodeKind.STREET},
        help_text="留空：所有街道通用",
    )
    header = models.CharField("表头写法", max_length=64, help_text="文件中的列名，如“户主名”")
    field = models.CharField("对应字段", max_length=32, blank=True, help_text="留空：导入时忽略该列")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="添加人", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", editable=False,
    )  # fmt: skip
    created_at = models.DateTimeField("添加时间", auto_now_add=True)

    objects = ColumnAliasQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "表头对照"
        ordering = ["table", "street", "header"]
        constraints = [
            models.UniqueConstraint(fields=["table", "street", "header"], name="column_alias_unique"),
            models.UniqueConstraint(
                fields=["table", "header"], condition=Q(street__isnull=True), name="column_alias_unique_common"
            ),
        ]

    def __str__(self):
        return f"{self.header} → {self.field or '（忽略）'}"

    def save(self, *args, **kwargs):
        self.header = normalize_header(self.header)
        super().save(*args, **kwargs)

    def clean(self):
        from django.core.exceptions import ValidationError

        from .column_aliases import office_tables

        tables = {t.name: t for t in office_tables()}
        table = tables.get(self.table)
        if table is None:
            raise ValidationError({"table": "请选择表格"})
        if self.field and self.field not in {f.key for f in table.fields}:
            raise ValidationError({"field": f"“{table.label}”没有这个字段"})
        self.header = normalize_header(self.header)
        if not self.header:
            raise ValidationError({"header": "请填写表头写法"})


# ---------------------------------------------------------------------------------------- 民情地图


def plan_upload_to(instance, filename):
    import uuid

    return f"plans/{instance.node_id}/{uuid.uuid4().hex}{filename[filename.rfind('.') :].lower()[:6]}"


class NodePlan(models.Model):
    """平面图: a plan image of a community or a grid, uploaded by the street admin, on which the
    buildings under the node are placed (``BuildingSpot``) for the 网格图. Served only through a
    scoped view, never as public media."""

    node = models.OneToOneField(Node, verbose_name="社区/网格", on_delete=models.CASCADE, related_name="plan")
    image = models.FileField("平面图", upload_to=plan_upload_to)
    content_type = models.CharField("图片类型", max_length=32)
    width = models.PositiveIntegerField("宽（像素）")
    height = models.PositiveIntegerField("高（像素）")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="上传人", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField("上传时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "平面图"

    def __str__(self):
        return f"{self.node}平面图"


class BuildingSpot(models.Model):
    """Where one building sits on a plan: ``x``, ``y`` as fractions (0–1) of the image's width and
    height from its top left corner, so the spot holds at any drawn size."""

    plan = models.ForeignKey(NodePlan, verbose_name="平面图", on_delete=models.CASCADE, related_name="spots")
    building = models.ForeignKey(Node, verbose_name="楼栋", on_delete=models.CASCADE, related_name="spots")
    x = models.FloatField("横向位置")
    y = models.FloatField("纵向位置")

    class Meta:
        verbose_name = verbose_name_plural = "楼栋位置"
        constraints = [
            models.UniqueConstraint(fields=["plan", "building"], name="building_spot_once_per_plan"),
            models.CheckConstraint(condition=Q(x__gte=0, x__lte=1, y__gte=0, y__lte=1), name="building_spot_on_plan"),
        ]

    def __str__(self):
        return f"{self.building} @ {self.x:.3f},{self.y:.3f}"
