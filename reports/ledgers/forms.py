"""The filters of the ledger downloads: campaigns and communities limited to the user's."""

from django import forms
from django.utils import timezone

from core.params import MAX_DATE, MIN_DATE, date_in_range
from households.levels import for_user
from households.models import Node, NodeKind
from visitplan.models import Campaign


def visible_campaigns(user):
    return Campaign.objects.visible_to(user).select_related("street")


def visible_communities(user):
    return Node.objects.visible_to(user, ancestors=False).filter(kind=NodeKind.COMMUNITY).order_by("path")


class LedgerFilterForm(forms.Form):
    """The filters of the downloads; campaigns and communities limited to the user's."""

    campaign = forms.ModelChoiceField(
        label="走访活动", queryset=Campaign.objects.none(), required=False,
        error_messages={"invalid_choice": "没有找到该走访活动"},
    )  # fmt: skip
    community = forms.ModelChoiceField(
        label="社区", queryset=Node.objects.none(), required=False, error_messages={"invalid_choice": "没有找到该社区"}
    )
    date_from = forms.DateField(
        label="开始日期", required=False, error_messages={"invalid": "开始日期格式应为 YYYY-MM-DD"}
    )
    date_to = forms.DateField(
        label="结束日期", required=False, error_messages={"invalid": "结束日期格式应为 YYYY-MM-DD"}
    )

    def __init__(self, query, *, user):
        # The page's parameters are from / to; Python names them date_from / date_to.
        data = {
            "campaign": query.get("campaign", ""),
            "community": query.get("community", ""),
            "date_from": query.get("from", ""),
            "date_to": query.get("to", ""),
        }
        super().__init__(data)
        self.user = user
        self.fields["campaign"].queryset = visible_campaigns(user)
        self.fields["community"].queryset = visible_communities(user)
        community = for_user(user).community  # households.levels: 村(居) in a 镇
        self.fields["community"].label = community
        self.fields["community"].error_messages["invalid_choice"] = f"没有找到该{community}"

    def clean(self):
        data = super().clean()
        for name, label in (("date_from", "开始日期"), ("date_to", "结束日期")):
            if data.get(name) and not date_in_range(data[name]):
                self.add_error(name, f"{label}超出可选范围（{MIN_DATE.year}—{MAX_DATE.year}年）")
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("开始日期不能晚于结束日期")
        if not self.errors and data.get("campaign") is None:
            data["campaign"] = visible_campaigns(self.user).current(on=timezone.localdate())
        return data

    def first_error(self):
        return next((e for errors in self.errors.values() for e in errors), "筛选条件有误")
