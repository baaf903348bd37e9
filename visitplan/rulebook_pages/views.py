"""活动规则: the rulebook of a campaign, read by everyone who sees the campaign (``Campaign.visible_to``),
and its edit page for the street admin of the campaign's street (``forms.may_edit_rules``).

The read page: the document the campaign follows, each section's rules (the value in words, the
document's words, whether the product default stands or the street changed it), the questionnaire
and the checklist in full, and the change log. The edit page: one form per section; a save goes
through ``update_rules`` (logged, recomputed) and carries the version the page was rendered with.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from core.versioning import StaleEditError, stale_message
from households import levels

from ..models import Campaign, RuleChange
from ..rulebook import COLUMNS, LABELS, PRESET_CHOICES, PRESETS, rulebook_rows, rules_for, switch_preset
from .forms import SECTION_KEYS, may_edit_rules, save_rules, section_forms, service_domains
from .presets import DOCUMENTS, preset_of

DEFAULT_NOTE = "文件未作规定，沿用产品默认"
OWN_NOTE = "本街道调整"
LOG_LIMIT = 200

# Rules whose full text is further down the page.
SPELLED_OUT = {"questions": "questions", "checklist": "checklist"}


def _campaign(request, pk):
    """The campaign ``pk`` if the user may see it; 404 otherwise, exactly as for a missing one."""
    return get_object_or_404(Campaign.objects.visible_to(request.user).select_related("street"), pk=pk)


def _sections(campaign):
    """The page's sections: each rule with its value in words, the document's words and its mark."""
    preset = preset_of(campaign)
    preset_rules = preset.rules()
    # The columns (minutes, share, the leaders' month) are the office's own once they differ from the preset.
    own_columns = {name for name in COLUMNS if getattr(campaign, name) != getattr(preset_rules, name)}
    out = []
    for title, rows in rulebook_rows(campaign):
        for row in rows:
            name = row["name"]
            row["own"] = row["own"] or name in own_columns
            row["original"] = preset.sources.get(name, "")
            row["silent"] = preset.silent.get(name, DEFAULT_NOTE) if name in preset.silent else ""
            row["default_note"] = row["silent"] if row["defaulted"] else ""
            row["anchor"] = SPELLED_OUT.get(name, "")
        out.append({"title": title, "key": SECTION_KEYS[title], "rows": rows})
    return out


def _editor_rows(form, rows):
    """What the edit page draws for each rule of a section form: its kind of input, its bound
    field and its row of the read page (the document's words, the marks)."""
    out = []
    for name in form.names:
        field = form[name] if name in form.fields else None
        if field is None:
            kind = name  # classes, questions, checklist: drawn by the page
        elif isinstance(form.fields[name].widget, forms.CheckboxSelectMultiple):
            kind = "checks"
        elif isinstance(form.fields[name], forms.BooleanField):
            kind = "bool"
        else:
            kind = "field"
        out.append({"name": name, "kind": kind, "field": field, "rule": rows[name]})
    return out


def _log(request, campaign):
    return list(
        RuleChange.objects.visible_to(request.user).filter(campaign=campaign).select_related("user__cadre")[:LOG_LIMIT]
    )


def _preset_context(campaign):
    preset = preset_of(campaign)
    return {"preset": preset, "document_title": DOCUMENTS.get(preset.code, "")}


@login_required
def rulebook(request, pk):
    """The rulebook of one campaign, read-only."""
    campaign = _campaign(request, pk)
    rules = rules_for(campaign)
    domains = dict(service_domains())
    questions = [
        {"text": q.get("text", ""), "domains": [domains.get(d, d) for d in q.get("domains", [])]}
        for q in rules.question_list()
    ]
    return render(
        request,
        "visitplan/rulebook.html",
        {
            "campaign": campaign,
            **_preset_context(campaign),
            "sections": _sections(campaign),
            "questions": questions,
            "checklist": rules.checklist_groups(),
            "log": _log(request, campaign),
            "may_edit": may_edit_rules(request.user, campaign),
            "default_note": DEFAULT_NOTE,
            "own_note": levels.for_node(campaign.street).rewrite(OWN_NOTE),  # 本镇调整 in a town
        },
    )


def _switch_preset(request, campaign):
    """改按另一文件: the campaign follows another document (or the product default) from now on."""
    code = request.POST.get("preset", "")
    seen = request.POST.get("seen_version", "")
    if code not in PRESETS or not seen.isdigit():
        return HttpResponseBadRequest("请选择依据文件后重新提交")
    try:
        changed = switch_preset(campaign, code, user=request.user, version=int(seen))
    except StaleEditError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"已改按“{PRESETS[code].label}”，{len(changed)} 项规则随之改变")
    return redirect(reverse("visitplan:rulebook_edit", args=[campaign.pk]))


@login_required
def rulebook_edit(request, pk):
    """The street admin changes the rules of his street's campaign, one section at a time."""
    if not may_edit_rules(request.user):
        raise PermissionDenied("只有街道管理员可以修改活动规则")
    campaign = _campaign(request, pk)
    if not may_edit_rules(request.user, campaign):
        raise PermissionDenied("您的工作范围不是该活动的整个街道，不能修改其活动规则")
    rules = rules_for(campaign)
    key = None
    if request.method == "POST" and "preset" in request.POST:
        return _switch_preset(request, campaign)
    if request.method == "POST":
        key = request.POST.get("section", "")
        if key not in SECTION_KEYS.values():
            return HttpResponseBadRequest("未知的规则分组，请刷新本页后重新提交")
    editors = section_forms(campaign, rules, request.POST if key else None, only=key)
    bound = next((f for f in editors if f.key == key), None)
    stale = None
    if bound is not None:
        if bound.is_valid():
            try:
                changed = save_rules(campaign, bound.changes(), user=request.user, seen_version=bound.seen)
            except StaleEditError as exc:  # lost the race after the form's check: nothing was written
                messages.error(request, exc.message)
            except ValidationError as exc:  # the rulebook's own check (visitplan.rulebook.rule_errors)
                for message in exc.messages:
                    messages.error(request, message)
            else:
                if changed:
                    names = "、".join(LABELS.get(n, n) for n in changed)
                    messages.success(request, f"已保存，{len(changed)} 项规则已修改：{names}")
                else:
                    messages.info(request, f"“{bound.title}”没有改动，未作修改")
            return redirect(reverse("visitplan:rulebook_edit", args=[campaign.pk]) + f"#sec-{key}")
        stale = stale_message(bound)
    rows = {row["name"]: row for section in _sections(campaign) for row in section["rows"]}
    for form in editors:
        form.rows = _editor_rows(form, rows)
    return render(
        request,
        "visitplan/rulebook_edit.html",
        {
            "campaign": campaign,
            **_preset_context(campaign),
            "editors": editors,
            "bound": bound,
            "stale": stale,
            "log": _log(request, campaign),
            "default_note": DEFAULT_NOTE,
            "preset_choices": PRESET_CHOICES,
            "own_note": levels.for_node(campaign.street).rewrite(OWN_NOTE),  # 本镇调整 in a town
        },
    )
