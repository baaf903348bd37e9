"""包户名单 as a sheet: export only; no resident ID numbers or phones."""

from import_export import resources
from import_export.fields import Field

from households.levels import for_user

from ..models import Assignment


class AssignmentResource(resources.ModelResource):
    """包户名单: who visits which household. No resident ID numbers or phones."""

    campaign = Field(column_name="走访活动", readonly=True)
    community = Field(column_name="社区", readonly=True)
    grid = Field(column_name="网格", readonly=True)
    address = Field(column_name="地址", readonly=True)
    head_name = Field(column_name="户主姓名", readonly=True)
    cadre = Field(column_name="包户干部", readonly=True)
    tier = Field(column_name="层级", readonly=True)
    unit = Field(column_name="工作单位", readonly=True)
    cadre_phone = Field(column_name="联系电话(干部)", readonly=True)
    source = Field(column_name="来源", readonly=True)

    TITLE = "包户名单"

    class Meta:
        model = Assignment
        name = "包户名单"
        fields = (
            "campaign",
            "community",
            "grid",
            "address",
            "head_name",
            "cadre",
            "tier",
            "unit",
            "cadre_phone",
            "source",
        )

    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        if user is not None:  # a 镇's list names the levels 村(居), 村民小组 (households.levels)
            levels = for_user(user)
            self.fields["community"].column_name = levels.community
            self.fields["grid"].column_name = levels.grid

    def get_queryset(self):
        qs = Assignment.objects.all() if self.user is None else Assignment.objects.visible_to(self.user)
        return qs.order_by("campaign", "household__path", "household__unit", "household__room", "tier", "pk")

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related(
            "campaign", "household__community", "household__grid", "household__building", "cadre"
        )

    def after_export(self, queryset, dataset, **kwargs):
        dataset.title = self.TITLE

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("包户名单只能导出；包户到人请在“走访活动”中分配")

    def dehydrate_campaign(self, obj):
        return str(obj.campaign)

    def dehydrate_community(self, obj):
        return obj.household.community.name

    def dehydrate_grid(self, obj):
        return obj.household.grid.name

    def dehydrate_address(self, obj):
        return obj.household.address

    def dehydrate_head_name(self, obj):
        return obj.household.head_name

    def dehydrate_cadre(self, obj):
        return obj.cadre.name

    def dehydrate_tier(self, obj):
        return obj.get_tier_display()

    def dehydrate_unit(self, obj):
        return obj.cadre.unit

    def dehydrate_cadre_phone(self, obj):
        return obj.cadre.phone

    def dehydrate_source(self, obj):
        return obj.get_source_display()
