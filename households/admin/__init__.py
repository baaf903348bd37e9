"""The households admin: the grid tree, focus groups, households and members, the access log.

Beside it: ``register_import`` (导入居民底册: upload, preview, 确认导入) and ``pii`` (ID numbers and
phones masked, 显示完整信息 one record at a time).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.shortcuts import redirect
from django.urls import reverse

from core.admin import SafeModelAdmin, SafeTabularInline

from ..column_aliases import office_tables
from ..exporting import register_export_response
from ..levels import for_user as levels_for_user
from ..models import CHILD_KIND as _CHILD_KIND
from ..models import (
    AccessLog,
    Building,
    ColumnAlias,
    Community,
    FocusGroup,
    Grid,
    Household,
    Member,
    Node,
    NodeKind,
    Street,
    subtree_q_any,
)
from ..paginator import EstimatedCountPaginator
from ..scoping import scope_paths
from ..search import search_households
from .pii import PIIAdminMixin, PIIFieldsMixin


class ScopedNodeAdmin(SafeModelAdmin):
    """One admin page per level of the tree; every list goes through Node.objects.visible_to."""

    list_display = ("name", "parent", "code", "path")
    search_fields = ("name", "code")
    ordering = ("path",)
    readonly_fields = ("path",)
    fields = ("name", "parent", "code", "order", "path")

    def get_queryset(self, request):
        return Node.objects.visible_to(request.user).filter(kind=self.model.KIND).select_related("parent")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            parent_kind = {v: k for k, v in _CHILD_KIND.items()}.get(self.model.KIND)
            kwargs["queryset"] = Node.objects.visible_to(request.user, ancestors=False).filter(kind=parent_kind)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        if self.model.KIND == NodeKind.STREET:
            return ("name", "township", "code", "order", "path")
        return self.fields


# 亲情卡 of a whole community or grid: the cards page (visits:cards, named only: visits is above us).
CARD_PARAMETER = {NodeKind.COMMUNITY: "community", NodeKind.GRID: "grid"}


@admin.action(description="打印所选社区或网格的亲情卡", permissions=["view"])
def print_contact_cards(modeladmin, request, queryset):
    count = queryset.count()
    levels = levels_for_user(request.user)  # 村(居)、村民小组 in a 镇
    if count != 1:
        modeladmin.message_user(
            request,
            levels.rewrite(f"亲情卡一次打印一个社区或网格的：请只勾选一个（现在勾选了 {count} 个）"),
            messages.WARNING,
        )
        return None
    node = queryset.get()
    parameter = CARD_PARAMETER.get(node.kind)
    if parameter is None:
        modeladmin.message_user(
            request,
            f"“{node.name}”是{levels.label(node.kind)}："
            + levels.rewrite("亲情卡按社区或网格打印，请勾选一个社区或网格"),
            messages.WARNING,
        )
        return None
    return redirect(f"{reverse('visits:cards')}?{parameter}={node.pk}")


@admin.register(Node)
class NodeAdmin(SafeModelAdmin):
    """The whole tree in one list; also serves the node autocomplete of other forms (e.g. a cadre's scope)."""

    list_display = ("name", "kind", "parent", "path")
    list_filter = ("kind",)
    search_fields = ("name", "code")
    ordering = ("path",)
    readonly_fields = ("path",)
    list_select_related = ("parent",)
    actions = [print_contact_cards]

    def get_queryset(self, request):
        return Node.objects.visible_to(request.user)

    def get_search_results(self, request, queryset, search_term):
        if request.path.endswith("/autocomplete/"):
            # Choosing a node for something: only inside one's own subtree.
            queryset = queryset & Node.objects.visible_to(request.user, ancestors=False)
        return super().get_search_results(request, queryset, search_term)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = Node.objects.visible_to(request.user, ancestors=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Street)
class StreetAdmin(ScopedNodeAdmin):
    list_display = ("name", "township", "code", "path")


@admin.register(Community)
class CommunityAdmin(ScopedNodeAdmin):
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    actions = [print_contact_cards]


@admin.register(Grid)
class GridAdmin(ScopedNodeAdmin):
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    actions = [print_contact_cards]


@admin.register(Building)
class BuildingAdmin(ScopedNodeAdmin):
    pass


@admin.register(FocusGroup)
class FocusGroupAdmin(SafeModelAdmin):
    list_display = ("name", "aliases", "order")
    list_editable = ("aliases", "order")
    search_fields = ("name", "aliases")


class MemberInline(PIIFieldsMixin, SafeTabularInline):
    model = Member
    extra = 0
    fields = ("name", "relation", "id_number", "birth_year", "health", "work")
    pii_fields = ("id_number",)

    def pii_owner(self, request, obj):
        return Household._meta, getattr(obj, "pk", None)  # obj is the household being edited


class CommunityFilter(admin.SimpleListFilter):
    title = "社区"
    parameter_name = "community"

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.title = levels_for_user(request.user).community  # 村(居) in a 镇

    def lookups(self, request, model_admin):
        return Node.objects.visible_to(request.user).filter(kind=NodeKind.COMMUNITY).values_list("pk", "name")

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(community_id=self.value())
        return queryset


class GridFilter(admin.SimpleListFilter):
    title = "网格"
    parameter_name = "grid"

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.title = levels_for_user(request.user).grid  # 村民小组 in a 镇

    def lookups(self, request, model_admin):
        grids = Node.objects.visible_to(request.user).filter(kind=NodeKind.GRID).select_related("parent")
        community = request.GET.get("community")
        if community:
            grids = grids.filter(parent_id=community)
        return [(g.pk, f"{g.parent.name} {g.name}") for g in grids]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(grid_id=self.value())
        return queryset


@admin.register(Household)
class HouseholdAdmin(PIIAdminMixin, SafeModelAdmin):
    list_display = (
        "address_display",
        "community",
        "grid",
        "head_name",
        "id_number_masked",
        "phone_masked",
        "size",
        "tag_list",
    )
    list_display_links = ("address_display", "head_name")
    list_select_related = ("community", "grid", "building")
    list_filter = (CommunityFilter, GridFilter, "tags")
    search_fields = ("head_name",)  # the search itself is get_search_results below
    search_help_text = "输入户主姓名（或姓名开头）、门牌号，或完整的身份证号、电话"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    inlines = [MemberInline]
    filter_horizontal = ("tags",)
    readonly_fields = ("path", "created_at", "updated_at")
    fieldsets = (
        ("地址", {"fields": ("street", "community", "grid", "building", "unit", "room")}),
        ("户主", {"fields": ("head_name", "id_number", "phone", "size", "tags")}),
        ("家庭情况", {"fields": ("living_conditions", "income_source", "notes")}),
        ("系统", {"classes": ("collapse",), "fields": ("path", "created_at", "updated_at")}),
    )
    actions = ["export_selected"]
    change_list_template = "admin/households/household/change_list.html"

    def get_queryset(self, request):
        return Household.objects.visible_to(request.user).prefetch_related(
            Prefetch("tags", queryset=FocusGroup.objects.only("id", "name"))
        )

    def get_search_results(self, request, queryset, search_term):
        return search_households(queryset, search_term, request), False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kinds = {
            "street": NodeKind.STREET,
            "community": NodeKind.COMMUNITY,
            "grid": NodeKind.GRID,
            "building": NodeKind.BUILDING,
        }
        if db_field.name in kinds:
            kwargs["queryset"] = Node.objects.visible_to(request.user, ancestors=db_field.name == "street").filter(
                kind=kinds[db_field.name]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_urls(self):
        from django.urls import path

        urls = [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="households_household_export",
            )
        ]
        try:
            from .register_import import get_import_urls
        except ImportError:
            pass
        else:
            urls += get_import_urls(self)
        return urls + super().get_urls()

    @admin.display(description="地址")
    def address_display(self, obj):
        return obj.address

    @admin.display(description="重点人群")
    def tag_list(self, obj):
        return "、".join(t.name for t in obj.tags.all())

    def reveal_household(self, obj):
        return obj

    def reveal_residents(self, obj):
        return 1 + obj.members.exclude(id_number="").count()

    @admin.action(description="导出所选居民户（底册格式）", permissions=["view"])
    def export_selected(self, request, queryset):
        return register_export_response(request, queryset, what="居民底册（所选）")

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        cl_qs = self.get_changelist_instance(request).get_queryset(request)
        return register_export_response(request, cl_qs, what="居民底册（当前筛选）")


@admin.register(Member)
class MemberAdmin(PIIAdminMixin, SafeModelAdmin):
    list_display = ("name", "relation", "household", "birth_year", "health", "work", "id_number_masked")
    list_select_related = ("household__building",)
    search_fields = ("name",)
    raw_id_fields = ("household",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        return Member.objects.visible_to(request.user)

    pii_fields = ("id_number",)

    def reveal_household(self, obj):
        return obj.household

    def reveal_residents(self, obj):
        return 1 if obj.id_number else 0


@admin.register(AccessLog)
class AccessLogAdmin(SafeModelAdmin):
    """The access log, read-only for everybody, superusers included: no add, change or delete, no
    bulk delete. Rows leave only through ``manage.py purge_access_logs`` (after the retention)."""

    list_display = ("at", "username", "kind", "what", "rows", "residents", "ip")
    list_filter = ("kind",)
    search_fields = ("username", "what", "ip")
    date_hierarchy = "at"
    list_select_related = ("user",)
    fields = ("at", "kind", "user", "username", "ip", "what", "rows", "residents", "household")
    readonly_fields = fields
    actions = None

    def get_queryset(self, request):
        """The log of the users under the reader's node (by their cadre's scope): a street admin
        does not read another street's exports."""
        qs = super().get_queryset(request)
        paths = scope_paths(request.user)
        if paths is None:
            return qs
        return qs.filter(subtree_q_any(paths, "user__cadre__scope__path")) if paths else qs.none()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}


class ColumnAliasForm(forms.ModelForm):
    table = forms.ChoiceField(label="表格")
    field = forms.ChoiceField(label="对应字段", required=False, help_text="选“忽略该列”：导入时不读这一列")

    class Meta:
        model = ColumnAlias
        fields = ("table", "street", "header", "field")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tables = office_tables()
        self.fields["table"].choices = [(t.name, t.label) for t in tables]
        self.fields["field"].choices = [("", "（忽略该列）")] + [
            (t.label, [(f.key, f.label) for f in t.fields]) for t in tables
        ]


@admin.register(ColumnAlias)
class ColumnAliasAdmin(SafeModelAdmin):
    """表头对照: the column names a street's spreadsheets use, on top of those the product knows.
    A street admin keeps his streets' own; names for all streets are the superuser's."""

    form = ColumnAliasForm
    list_display = ("header", "field_label", "table_label", "street", "created_by", "created_at")
    list_filter = ("table", ("street", admin.RelatedOnlyFieldListFilter))
    search_fields = ("header",)
    list_select_related = ("street", "created_by")

    @admin.display(description="对应字段")
    def field_label(self, obj):
        tables = {t.name: t for t in office_tables()}
        table = tables.get(obj.table)
        if not obj.field:
            return "（忽略该列）"
        return next((f.label for f in table.fields if f.key == obj.field), obj.field) if table else obj.field

    @admin.display(description="表格")
    def table_label(self, obj):
        return next((t.label for t in office_tables() if t.name == obj.table), obj.table)

    def get_queryset(self, request):
        return ColumnAlias.objects.visible_to(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "street":
            kwargs["queryset"] = Node.objects.visible_to(request.user, ancestors=False).filter(kind=NodeKind.STREET)
            kwargs["required"] = not request.user.is_superuser
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _own(self, request, obj):
        return obj is None or request.user.is_superuser or obj.street_id is not None

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._own(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._own(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


from . import districts  # noqa: E402, F401  区（县）: registered in its own module
