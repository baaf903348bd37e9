"""The official ledgers as Excel files: 入户走访台账, 特殊困难群体台账（一户一策）, 月度大走访活动入户表
and 督查扣分表; and the 综合评议 (its rule and sheets are reports.evaluation's). (The 问题整改台账 is
``issues/exporting.py``'s; these follow its structure.)

Every export here:
- is scoped again through the model's ``visible_to`` whatever the view passed, so it never reaches
  past what the user may see;
- reads plain values from the database 2,000 rows at a time (``.values(...).iterator``), never
  model instances, and writes them with openpyxl's write-only mode to a temporary file: memory
  stays flat whatever the size;
- writes every text through ``core.spreadsheets.safe_cell`` (a text a spreadsheet would run as a
  formula is written as text) and dates as date cells;
- masks residents' ID numbers, phones and door numbers unless the role may see them in full;
- is logged (``AccessLog``: user, what, rows, IP).
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from core.spreadsheets import safe_cell
from households import hardship
from households.access_log import access_log_record
from households.levels import for_node as levels_for_node
from households.levels import for_user as levels_for_user
from households.masking import can_view_full_pii, mask_id_number, mask_phone
from households.models import Household, Node, NodeKind
from households.register import TAG_SEPARATOR
from households.scoping import is_node_wide, scope_paths
from issues.exporting import DATE_FORMAT, XLSX, format_address
from issues.forms import display_name
from issues.models import Issue
from visitplan.models import Cadre, Tier
from visitplan.rulebook import rules_for
from visits.models import Purpose, RaisedIssue, Satisfaction, Visit, VisitMethod
from visits.questionnaire import answered, checklist_codes

from .. import scoring
from ..models import CheckMethod, Finding, FindingKind, MonthlyCadreRow
from ..monthly import ensure_monthly_report, month_label

CHUNK_SIZE = 2000
TIME_FORMAT = "hh:mm"

TIER_LABELS = dict(Tier.choices)
METHOD_LABELS = dict(VisitMethod.choices)
PURPOSE_LABELS = dict(Purpose.choices)
SATISFACTION_LABELS = dict(Satisfaction.choices)
CHECK_METHOD_LABELS = dict(CheckMethod.choices)
FINDING_KIND_LABELS = dict(FindingKind.choices)


# ------------------------------------------------------------------------------------------------ writing


def header_sheet(workbook, title, headers, widths, levels=None):
    """A write-only sheet with its column widths, a frozen bold header row; ``levels``
    (households.levels) name the level columns: 村(居), 村民小组 in a 镇's ledger."""
    if levels is not None:
        headers = [levels.rewrite(h) for h in headers]
    sheet = workbook.create_sheet(title)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold, centred = Font(bold=True), Alignment(horizontal="center")
    header = []
    for title in headers:
        cell = WriteOnlyCell(sheet, title)
        cell.font, cell.alignment = bold, centred
        header.append(cell)
    sheet.append(header)
    return sheet


def _append(sheet, values):
    sheet.append([safe_cell(sheet, v) for v in values])


def _formatted(sheet, value, number_format):
    """A date or time as a real cell of that type (sortable in Excel); None stays empty."""
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value)
    cell.number_format = number_format
    return cell


def _batches(iterable, size):
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


@dataclass
class LedgerExport:
    """One ledger for one user, ready to write: ``write(fileobj, progress) -> rows`` (``progress``
    is called with the rows written so far, or None), ``rows`` how many rows it will have (for the
    progress bar and for deciding inline or background), ``what`` for the access log."""

    what: str
    filename: str
    rows: int
    write: Callable


def _response(request, *, write, what, filename):
    """Write the workbook with ``write(fileobj) -> rows`` to a temporary file, log it, stream it."""
    spool = tempfile.TemporaryFile()
    rows = write(spool)
    spool.seek(0)
    access_log_record(request, what=what, rows=rows)
    return FileResponse(spool, as_attachment=True, filename=filename, content_type=XLSX)


def _address(r, prefix, *, full):
    """楼栋单元门牌 (the grid has its own column); the door number masked unless ``full``."""
    return format_address("", r[f"{prefix}building__name"], r[f"{prefix}unit"], r[f"{prefix}room"], full=full)


# ------------------------------------------------------------------------------------------------ 入户走访台账

VISIT_SHEET = "入户走访台账"
VISIT_HEADERS = (
    "序号", "社区", "网格", "户主", "地址", "走访日期", "开始时间", "结束时间", "时长（分钟）", "走访方式", "类型",
    "走访干部", "干部层级", "工作单位", "入户必问（需要帮助的方面）", "三了解四掌握五到位（完成项数/12）", "亲情卡",
    "满意度", "时长不足原因", "民情日记", "收集诉求数",
)  # fmt: skip
VISIT_WIDTHS = (6, 12, 10, 10, 16, 12, 9, 9, 8, 8, 9, 10, 16, 16, 40, 14, 7, 9, 20, 40, 9)
VISIT_FIELDS = (
    "household__community__name",
    "household__grid__name",
    "household__building__name",
    "household__unit",
    "household__room",
    "household__head_name",
    "visited_on",
    "started_at",
    "ended_at",
    "duration_minutes",
    "method",
    "purpose",
    "cadre__name",
    "cadre__tier",
    "cadre__unit",
    "answers",
    "checklist",
    "card_given",
    "satisfaction",
    "short_reason",
    "notes",
    "issue_count",
)


def needs_help_summary(answers, rules) -> str:
    """入户必问: the questions of the campaign's sheet where the household needs help (by their
    domain heading), each with what was said (``visits.questionnaire.answered``)."""
    parts = []
    for heading, _question, text, needs_help in answered(answers, rules):
        if needs_help:
            parts.append(f"{heading}：{text}" if text else heading)
    return "；".join(parts)


def checklist_summary(checklist, rules) -> str:
    """三了解四掌握五到位 as '完成项数/项数' of the campaign's checklist; unknown codes do not count."""
    codes = checklist_codes(rules)
    done = len(set(checklist or ()) & set(codes))
    return f"{done}/{len(codes)}"


def with_issue_count(visits):
    """Annotate ``issue_count``: the issues raised from each visit, one correlated subquery."""
    raised = RaisedIssue.objects.filter(visit=OuterRef("pk")).order_by().values("visit")
    counts = raised.annotate(n=Count("pk")).values("n")
    return visits.annotate(issue_count=Coalesce(Subquery(counts, output_field=IntegerField()), 0))


def visit_row(sheet, number, r, *, full_address, rules):
    return (
        number,
        r["household__community__name"],
        r["household__grid__name"],
        r["household__head_name"],
        _address(r, "household__", full=full_address),
        _formatted(sheet, r["visited_on"], DATE_FORMAT),
        _formatted(sheet, r["started_at"], TIME_FORMAT),
        _formatted(sheet, r["ended_at"], TIME_FORMAT),
        r["duration_minutes"],
        METHOD_LABELS.get(r["method"], r["method"]),
        PURPOSE_LABELS.get(r["purpose"], r["purpose"]),
        r["cadre__name"],
        TIER_LABELS.get(r["cadre__tier"], ""),
        r["cadre__unit"],
        needs_help_summary(r["answers"], rules),
        checklist_summary(r["checklist"], rules),
        "是" if r["card_given"] else "否",
        SATISFACTION_LABELS.get(r["satisfaction"], ""),
        r["short_reason"],
        r["notes"],
        r["issue_count"],
    )


def write_visit_ledger(visits, fileobj, *, full_address: bool, rules, levels=None, progress=None) -> int:
    """Write the visits of ``visits`` (already scoped and filtered, of one campaign whose rulebook is
    ``rules``) to ``fileobj``; returns the row count. ``progress(rows)`` after every row."""
    workbook = Workbook(write_only=True)
    items = len(checklist_codes(rules))
    headers = [h.replace("完成项数/12", f"完成项数/{items}") for h in VISIT_HEADERS]
    sheet = header_sheet(workbook, VISIT_SHEET, headers, VISIT_WIDTHS, levels)
    rows = with_issue_count(visits).order_by("household__community__path", "visited_on", "started_at", "pk")
    count = 0
    for r in rows.values(*VISIT_FIELDS).iterator(chunk_size=CHUNK_SIZE):
        count += 1
        _append(sheet, visit_row(sheet, count, r, full_address=full_address, rules=rules))
        if progress is not None:
            progress(count)
    workbook.save(fileobj)
    return count


def visit_ledger_export(user, *, campaign, community=None, date_from=None, date_to=None) -> LedgerExport:
    """The 入户走访台账 of ``campaign`` for ``user``: the visits the user may see, optionally of one
    community and a date range."""
    visits = Visit.objects.visible_to(user).filter(campaign=campaign)
    what = [f"入户走访台账（{campaign}"]
    if community is not None:
        visits = visits.filter(household__community=community)
        what.append(f"·{community.name}")
    if date_from:
        visits = visits.filter(visited_on__gte=date_from)
    if date_to:
        visits = visits.filter(visited_on__lte=date_to)
    if date_from or date_to:
        what.append(f"·{date_from or ''}至{date_to or ''}")
    full = can_view_full_pii(user)
    levels = levels_for_node(campaign.street)
    rules = rules_for(campaign)
    return LedgerExport(
        what="".join(what) + "）",
        filename=f"入户走访台账_{campaign.year}_{timezone.localdate():%Y%m%d}.xlsx",
        rows=visits.count(),
        write=lambda f, progress=None: write_visit_ledger(
            visits, f, full_address=full, rules=rules, levels=levels, progress=progress
        ),
    )


def _export_response(request, export: LedgerExport):
    return _response(request, write=export.write, what=export.what, filename=export.filename)


def visit_ledger_response(request, *, campaign, community=None, date_from=None, date_to=None):
    """The 入户走访台账 of ``campaign`` as xlsx in the request (see ``visit_ledger_export``); logged."""
    export = visit_ledger_export(
        request.user, campaign=campaign, community=community, date_from=date_from, date_to=date_to
    )
    return _export_response(request, export)


# ------------------------------------------------------------------------------------------------ 一户一策


def hardship_households(user):
    """The households of the 特殊困难群体台账 that ``user`` may see (households.hardship's rule), with
    the households of the requests marked 特殊困难群体."""
    flagged = Issue.objects.filter(special_hardship=True).values("household_id")
    return hardship.hardship_households(user, flagged=flagged)


HARDSHIP_SHEET = "特殊困难群体台账"
HARDSHIP_HEADERS = (
    "序号", "社区", "网格", "户主", "地址", "身份证号", "联系电话", "困难类型", "困难情况", "帮扶目标", "帮扶责任人",
    "帮扶措施", "责任单位", "完成时限", "完成情况",
)  # fmt: skip
HARDSHIP_WIDTHS = (6, 12, 10, 10, 16, 20, 14, 18, 36, 24, 16, 36, 16, 12, 16)
HARDSHIP_FIELDS = (
    "pk",
    "community__name",
    "grid__name",
    "building__name",
    "unit",
    "room",
    "head_name",
    "id_number",
    "phone",
    "hardship_plan__id",
    "hardship_plan__situation",
    "hardship_plan__goal",
    "hardship_plan__responsible",
    "hardship_plan__measures__content",
    "hardship_plan__measures__unit",
    "hardship_plan__measures__due_on",
    "hardship_plan__measures__done_on",
)


def _tags_of(household_ids) -> dict[int, str]:
    """The focus groups of a batch of households, 'A、B' per household; one query."""
    pairs = (
        Household.tags.through.objects.filter(household_id__in=household_ids)
        .order_by("focusgroup__order", "focusgroup_id")
        .values_list("household_id", "focusgroup__name")
    )
    tags = {}
    for household_id, name in pairs:
        tags.setdefault(household_id, []).append(name)
    return {pk: TAG_SEPARATOR.join(names) for pk, names in tags.items()}


def hardship_row(sheet, number, r, *, tags, mask, today):
    if r["hardship_plan__id"] is None:
        status = "未制定方案"
    elif r["hardship_plan__measures__content"] is None:
        status = "未列帮扶措施"
    else:
        status = hardship.measure_status(
            r["hardship_plan__measures__due_on"], r["hardship_plan__measures__done_on"], today=today
        )
    return (
        number,
        r["community__name"],
        r["grid__name"],
        r["head_name"],
        _address(r, "", full=not mask),
        mask_id_number(r["id_number"]) if mask else r["id_number"],
        mask_phone(r["phone"]) if mask else r["phone"],
        tags,
        r["hardship_plan__situation"],
        r["hardship_plan__goal"],
        r["hardship_plan__responsible"],
        r["hardship_plan__measures__content"],
        r["hardship_plan__measures__unit"],
        _formatted(sheet, r["hardship_plan__measures__due_on"], DATE_FORMAT),
        status,
    )


def write_hardship_ledger(households, fileobj, *, mask: bool, today: datetime.date, levels=None, progress=None) -> int:
    """One row per measure, or one per household without any (序号 numbers the households, so a
    household's measures share it); returns the row count. The focus groups of each batch of
    2,000 rows come in one query."""
    workbook = Workbook(write_only=True)
    sheet = header_sheet(workbook, HARDSHIP_SHEET, HARDSHIP_HEADERS, HARDSHIP_WIDTHS, levels)
    rows = households.order_by(
        "path", "unit", "room", "pk", "hardship_plan__measures__order", "hardship_plan__measures__id"
    ).values(*HARDSHIP_FIELDS)
    count, number, previous = 0, 0, None
    for batch in _batches(rows.iterator(chunk_size=CHUNK_SIZE), CHUNK_SIZE):
        tags = _tags_of({r["pk"] for r in batch})
        for r in batch:
            if r["pk"] != previous:
                number, previous = number + 1, r["pk"]
            count += 1
            _append(sheet, hardship_row(sheet, number, r, tags=tags.get(r["pk"], ""), mask=mask, today=today))
        if progress is not None:
            progress(number)  # households done (the rows are measures, their count not known ahead)
    workbook.save(fileobj)
    return count


def hardship_ledger_export(user, *, community=None) -> LedgerExport:
    """The 特殊困难群体台账 (一户一策) of the households ``user`` may see (``rows``: households)."""
    households = hardship_households(user)
    what = "特殊困难群体台账（一户一策）"
    if community is not None:
        households = households.filter(community=community)
        what += f"·{community.name}"
    today = timezone.localdate()
    mask = not can_view_full_pii(user)
    levels = levels_for_user(user)
    return LedgerExport(
        what=what,
        filename=f"特殊困难群体台账_{today:%Y%m%d}.xlsx",
        rows=households.count(),
        write=lambda f, progress=None: write_hardship_ledger(
            households, f, mask=mask, today=today, levels=levels, progress=progress
        ),
    )


def hardship_ledger_response(request, *, community=None):
    """The 特殊困难群体台账 (一户一策) as xlsx in the request; logged."""
    return _export_response(request, hardship_ledger_export(request.user, community=community))


# ------------------------------------------------------------------------------------------------ 月度入户表

MONTHLY_HEADERS = (
    "序号",
    "社区",
    "姓名",
    "层级",
    "工作单位",
    "职务",
    "走访天数",
    "走访户数",
    "走访次数",
    "收集诉求",
    "解决诉求",
    # against the month's target of the campaign's rulebook (reports/monthly.py)
    "月度任务",
    "完成情况",
    "差天数",
    "差户数",
    "待走访户数",
)
MONTHLY_WIDTHS = (6, 14, 10, 18, 18, 14, 9, 9, 9, 9, 9, 12, 9, 8, 8, 10)
MONTHLY_FIELDS = (
    "report__street__name",
    "community__name",
    "cadre__name",
    "cadre__tier",
    "cadre__unit",
    "cadre__position",
    "days_visited",
    "households_visited",
    "visits",
    "issues_raised",
    "issues_solved",
    "target_days",
    "target_households",
    "target_met",
    "short_days",
    "short_households",
    "households_due",
)
MONTHLY_FIGURES = MONTHLY_FIELDS[6:11]


def monthly_target_cells(r) -> tuple:
    """月度任务, 完成情况, 差天数, 差户数 (a leader's month) and 待走访户数 (the others'); blank where
    the cadre has no such target (or the month no campaign)."""
    if r["target_met"] is None:
        return None, None, None, None, r["households_due"]
    return (f"{r['target_days']}天/{r['target_households']}户", "达标" if r["target_met"] else "未达标",
            r["short_days"], r["short_households"], r["households_due"])  # fmt: skip


def monthly_rows_visible_to(user, month):
    """The month's rows the user may see: street admins and leaders their whole street, the other
    node-wide roles the cadres under their node (``Cadre.objects.visible_to``), everyone else their
    own row."""
    rows = MonthlyCadreRow.objects.filter(report__month=month)
    paths = scope_paths(user)
    if paths is None:
        return rows
    if not is_node_wide(user):
        return rows.filter(cadre__user=user)
    q = Q(cadre__in=Cadre.objects.visible_to(user))
    for path in paths:
        if "." not in path:  # a street-wide scope: every row of that street's report
            q |= Q(report__street__path=path)
    return rows.filter(q)


def write_monthly_report(rows, fileobj, *, month: datetime.date, levels=None) -> int:
    """The rows of ``rows`` (already scoped), then a totals row; returns the row count without it."""
    workbook = Workbook(write_only=True)
    sheet = header_sheet(workbook, f"{month_label(month)}入户表", MONTHLY_HEADERS, MONTHLY_WIDTHS, levels)
    ordered = rows.order_by(
        "report__street__path", F("community__path").asc(nulls_first=True), "cadre__tier", "cadre__name", "cadre_id"
    )
    totals = dict.fromkeys(MONTHLY_FIGURES, 0)
    count = short = due = 0
    for r in ordered.values(*MONTHLY_FIELDS).iterator(chunk_size=CHUNK_SIZE):
        count += 1
        for name in MONTHLY_FIGURES:
            totals[name] += r[name]
        short += r["target_met"] is False
        due += r["households_due"] or 0
        _append(
            sheet,
            (
                count,
                r["community__name"] or r["report__street__name"],  # street-level cadres: the street
                r["cadre__name"],
                TIER_LABELS.get(r["cadre__tier"], ""),
                r["cadre__unit"],
                r["cadre__position"],
                *(r[name] for name in MONTHLY_FIGURES),
                *monthly_target_cells(r),
            ),
        )
    bold = Font(bold=True)
    total_row = []
    for value in ("合计", "", f"{count}人", "", "", "", *totals.values(), "", f"未达标{short}人", "", "", due):
        cell = WriteOnlyCell(sheet, value)
        cell.font = bold
        total_row.append(cell)
    sheet.append(total_row)
    workbook.save(fileobj)
    return count


def monthly_report_export(user, *, month: datetime.date) -> LedgerExport:
    """The 月度大走访活动入户表 of ``month`` (the 1st) for ``user``; builds the month first if it is
    missing or still running."""
    today = timezone.localdate()
    ensure_monthly_report(month=month, today=today)
    rows = monthly_rows_visible_to(user, month)
    levels = levels_for_user(user)
    return LedgerExport(
        what=f"月度大走访活动入户表（{month_label(month)}）",
        filename=f"大走访活动入户表_{month:%Y%m}.xlsx",
        rows=rows.count(),
        write=lambda f, progress=None: write_monthly_report(rows, f, month=month, levels=levels),
    )


def monthly_report_response(request, *, month: datetime.date):
    """The 月度大走访活动入户表 of ``month`` as xlsx in the request; logged."""
    return _export_response(request, monthly_report_export(request.user, month=month))


# ------------------------------------------------------------------------------------------------ 督查扣分表

SCORE_SHEET = "督查扣分表"
SCORE_HEADERS = ("排名", "社区", "督查发现数", *FINDING_KIND_LABELS.values(), "扣分", "得分", "是否约谈")
SCORE_WIDTHS = (6, 14, 10, *(max(8, 2 * len(label) + 2) for label in FINDING_KIND_LABELS.values()), 8, 8, 9)
INTERVIEW_SHEET = "约谈名单"
INTERVIEW_HEADERS = ("序号", "社区", "姓名", "层级", "工作单位", "职务", "督查发现数", "约谈原因")
INTERVIEW_WIDTHS = (6, 14, 10, 20, 18, 14, 10, 36)
FINDING_SHEET = "督查发现明细"
FINDING_HEADERS = ("日期", "社区", "检查方式", "问题类型", "责任干部", "情况说明", "记录人")
FINDING_WIDTHS = (12, 14, 10, 11, 10, 50, 10)
FINDING_FIELDS = (
    "found_on",
    "community__name",
    "method",
    "kind",
    "cadre__name",
    "evidence",
    "recorded_by__cadre__name",
    "recorded_by__first_name",
    "recorded_by__last_name",
    "recorded_by__username",
)


def supervision_communities(user, campaign):
    """The communities of the campaign's street the user may see (street admins and leaders all,
    a secretary his own; roles without a node-wide scope none)."""
    return Node.objects.visible_to(user, ancestors=False).filter(
        kind=NodeKind.COMMUNITY, path__startswith=campaign.street.path + "."
    )


def write_supervision(*, campaign, communities, findings, fileobj, levels=None) -> int:
    """Three sheets: the scores (``reports.scoring``, by the campaign's rulebook: the findings by
    kind and the points they cost), the interview list with the reason, the findings one by one;
    returns the data rows of all three."""
    workbook = Workbook(write_only=True)
    scores = scoring.community_scores(campaign, communities)
    sheet = header_sheet(workbook, SCORE_SHEET, SCORE_HEADERS, SCORE_WIDTHS, levels)
    for s in scores:
        kinds = (s.by_kind.get(kind, 0) for kind in FINDING_KIND_LABELS)
        _append(sheet, (s.rank, s.name, s.findings, *kinds, s.deducted, s.score, "是" if s.interview else "否"))
    count = len(scores)

    sheet = header_sheet(workbook, INTERVIEW_SHEET, INTERVIEW_HEADERS, INTERVIEW_WIDTHS, levels)
    for number, cadre in enumerate(scoring.interview_list(campaign, communities), start=1):
        row = (number, cadre.community_name, cadre.name, TIER_LABELS.get(cadre.tier, ""), cadre.unit, cadre.position,
               cadre.counted, cadre.reason)  # fmt: skip
        _append(sheet, row)
        count += 1

    sheet = header_sheet(workbook, FINDING_SHEET, FINDING_HEADERS, FINDING_WIDTHS, levels)
    for r in findings.order_by("found_on", "pk").values(*FINDING_FIELDS).iterator(chunk_size=CHUNK_SIZE):
        recorder = display_name(
            r["recorded_by__cadre__name"],
            r["recorded_by__first_name"],
            r["recorded_by__last_name"],
            r["recorded_by__username"],
        )
        row = (_formatted(sheet, r["found_on"], DATE_FORMAT), r["community__name"], CHECK_METHOD_LABELS.get(r["method"], r["method"]),
               FINDING_KIND_LABELS.get(r["kind"], r["kind"]), r["cadre__name"] or "", r["evidence"], recorder)  # fmt: skip
        _append(sheet, row)
        count += 1
    workbook.save(fileobj)
    return count


def supervision_export(user, *, campaign) -> LedgerExport:
    """The 督查扣分表 of ``campaign`` for the communities ``user`` may see."""
    communities = supervision_communities(user, campaign)
    findings = Finding.objects.visible_to(user).filter(campaign=campaign, community__in=communities)
    levels = levels_for_node(campaign.street)
    return LedgerExport(
        what=f"督查扣分表（{campaign}）",
        filename=f"督查扣分表_{campaign.year}_{timezone.localdate():%Y%m%d}.xlsx",
        rows=findings.count(),
        write=lambda f, progress=None: write_supervision(
            campaign=campaign, communities=communities, findings=findings, fileobj=f, levels=levels
        ),
    )


def supervision_response(request, *, campaign):
    """The 督查扣分表 of ``campaign`` as xlsx in the request; logged."""
    return _export_response(request, supervision_export(request.user, campaign=campaign))


# ------------------------------------------------------------------------------------------------ 综合评议


def evaluation_export(user, *, campaign, today=None) -> LedgerExport:
    """The 综合评议 of ``campaign`` as ``user`` may see it (reports.evaluation: the rule and its
    workbook). Evaluated here — a fixed number of aggregate queries — so its rows (the cadres and
    the units) are known before the file is written; ``progress`` counts the rows written."""
    from .. import evaluation  # reports.evaluation writes its sheets with this module's header_sheet

    today = today or timezone.localdate()
    result = evaluation.evaluate(user, campaign, today=today)
    return LedgerExport(
        what=f"综合评议（{campaign}）",
        filename=f"综合评议_{campaign.year}_{today:%Y%m%d}.xlsx",
        rows=len(result.cadres) + len(result.units),
        write=lambda f, progress=None: evaluation.write_workbook(result, f, progress=progress),
    )
