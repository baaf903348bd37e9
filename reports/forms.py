"""Forms of the supervision pages. They parse input; ``reports.supervision`` decides."""

from django import forms
from django.utils import timezone

from issues.models import Issue
from visitplan.models import Cadre
from visits.models import Satisfaction, Visit

from .models import CheckMethod, FindingKind

YES_NO = [("yes", "是"), ("no", "否")]


class FindingForm(forms.Form):
    kind = forms.ChoiceField(label="问题类型", choices=FindingKind.choices, widget=forms.RadioSelect)
    method = forms.ChoiceField(label="检查方式", choices=CheckMethod.choices, widget=forms.RadioSelect)
    visit = forms.IntegerField(
        label="走访记录编号", required=False, min_value=1, help_text="针对某次走访（不入户、虚假入户、征求意见不实）"
    )
    issue = forms.IntegerField(
        label="诉求编号", required=False, min_value=1, help_text="针对某条诉求（不整改、虚假整改、整改不彻底）"
    )
    cadre = forms.ModelChoiceField(
        label="责任干部", required=False, queryset=Cadre.objects.none(), help_text="不针对具体记录时选择干部"
    )
    evidence = forms.CharField(
        label="情况说明", widget=forms.Textarea(attrs={"rows": 3, "placeholder": "核查经过、居民原话、证据"})
    )
    found_on = forms.DateField(label="发现日期", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, *args, user, campaign, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.campaign = user, campaign
        self.fields["cadre"].queryset = Cadre.objects.visible_to(user).filter(active=True).order_by("tier", "name")
        self.fields["cadre"].label_from_instance = lambda c: f"{c.name}（{c.get_tier_display()}·{c.scope.name}）"
        self.initial.setdefault("found_on", timezone.localdate())

    def clean_visit(self):
        pk = self.cleaned_data.get("visit")
        if pk is None:
            return None
        visit = (
            Visit.objects.visible_to(self.user)
            .filter(pk=pk, campaign=self.campaign)
            .select_related("household__community", "cadre")
            .first()
        )
        if visit is None:
            raise forms.ValidationError(f"本次活动中没有编号为 {pk} 的走访记录")
        return visit

    def clean_issue(self):
        pk = self.cleaned_data.get("issue")
        if pk is None:
            return None
        issue = Issue.objects.visible_to(self.user).filter(pk=pk).select_related("community").first()
        if issue is None:
            raise forms.ValidationError(f"没有编号为 {pk} 的诉求")
        return issue

    def clean(self):
        data = super().clean()
        given = [k for k in ("visit", "issue", "cadre") if data.get(k)]
        if not given and not self.errors:
            raise forms.ValidationError("请填写走访记录编号、诉求编号或选择责任干部（至少一项）")
        return data

    def service_kwargs(self):
        d = self.cleaned_data
        return {"kind": d["kind"], "method": d["method"], "evidence": d["evidence"], "found_on": d["found_on"],
                "visit": d.get("visit"), "issue": d.get("issue"), "cadre": d.get("cadre")}  # fmt: skip


class PhoneCheckDrawForm(forms.Form):
    community = forms.ModelChoiceField(label="社区", queryset=None, empty_label="请选择社区")
    size = forms.IntegerField(label="抽查户数", min_value=1, max_value=50, initial=10)

    def __init__(self, *args, communities, levels=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["community"].queryset = communities
        if levels is not None:  # households.levels: 村(居) in a 镇
            self.fields["community"].label = levels.community
            self.fields["community"].empty_label = f"请选择{levels.community}"

    def service_kwargs(self):
        return {"community": self.cleaned_data["community"], "size": self.cleaned_data["size"]}


class PhoneCheckForm(forms.Form):
    reached = forms.ChoiceField(label="是否接通", choices=YES_NO, widget=forms.RadioSelect)
    was_visited = forms.ChoiceField(
        label="居民是否确认被走访", choices=YES_NO, required=False, widget=forms.RadioSelect
    )
    reported_minutes = forms.IntegerField(label="居民所说走访时长（分钟）", required=False, min_value=0, max_value=600)
    satisfaction = forms.ChoiceField(label="满意度", required=False, choices=[("", "未评价")] + list(Satisfaction.choices),
                                     widget=forms.RadioSelect)  # fmt: skip
    note = forms.CharField(label="通话记录", required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("reached") == "yes" and not data.get("was_visited"):
            self.add_error("was_visited", "接通后请记录居民是否确认被走访")
        return data

    def service_kwargs(self):
        d = self.cleaned_data
        reached = d["reached"] == "yes"
        return {"reached": reached, "was_visited": {"yes": True, "no": False}.get(d.get("was_visited")),
                "reported_minutes": d.get("reported_minutes"), "satisfaction": d.get("satisfaction", ""), "note": d.get("note", ""),
                "called_on": timezone.localdate()}  # fmt: skip
