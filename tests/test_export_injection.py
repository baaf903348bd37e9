"""Formula injection: every export writes a text that a spreadsheet could run as a formula as text.

One world, with the six triggers (= + - @ tab CR) at the start of names, addresses, issue texts,
notes, plans and findings, run through every Excel and CSV export as the street admin. Each
workbook is opened with openpyxl (not read-only): no cell is a formula, each such text comes back
exactly, as a text cell with Excel's quote prefix; ID numbers and phones are text (18 characters,
never a number in scientific notation). In CSV such a text starts with an apostrophe.

The one rule is core.spreadsheets.safe_cell / csv_safe (FORMULA_TRIGGERS).
"""

import csv
import datetime
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from core.spreadsheets import FORMULA_TRIGGERS
from households.models import HardshipMeasure, HardshipPlan, Household, Member, Node
from issues.tests.factories import make_issue
from reports.models import Finding
from visitplan.models import Cadre, Department
from visits.models import Purpose, Visit

pytestmark = pytest.mark.django_db

D = datetime.date
HYPERLINK = '=HYPERLINK("http://evil","x")'
SUM = "+SUM(1)"
CMD = "@cmd|' /C calc'!A0"
TAB = "\t=1"
CR = "\r=1"
MINUS = "-1+1"  # not a valid phone (the validators refuse it): in free-text fields instead
PLUS_NAME = "+86 王乙"
GRID = "-第1网格"
DEPT = "=区民政局"
UNIT = "@区民政局"


def test_the_rule_has_all_six_triggers():
    assert set(FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r"}


@pytest.fixture
def evil(rw):
    w = rw
    Node.objects.filter(pk=w.grid_a.pk).update(name=GRID)
    Household.objects.filter(pk=w.ha.pk).update(head_name=HYPERLINK, unit=MINUS, notes=TAB)
    Household.objects.filter(pk=w.hb.pk).update(head_name=PLUS_NAME, notes=CR)
    Member.objects.create(household=w.ha, name=SUM, relation="子")  # members are in no export (yet)
    Department.objects.filter(pk=w.dept.pk).update(name=DEPT)
    Cadre.objects.filter(pk=w.worker_a.cadre.pk).update(name=SUM, unit=UNIT, position=MINUS)
    w.ha.refresh_from_db()
    visit = Visit.objects.create(
        campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, purpose=Purpose.VISIT, method="in_person",
        visited_on=D(2026, 10, 12), started_at=datetime.time(9, 0), ended_at=datetime.time(9, 40),
        duration_minutes=40, created_by=w.worker_a, notes=TAB, short_reason=CR,
    )  # fmt: skip
    issue = make_issue(
        w.ha, text=CMD, raised_by=w.worker_a, registered_on=D(2026, 10, 12),
        department=w.dept, assignee=w.worker_a, plan_text="=1+1",
    )  # fmt: skip
    visit.issues.add(issue)
    plan = HardshipPlan.objects.create(household=w.ha, situation="=1+1", goal="+1", responsible=SUM)
    HardshipMeasure.objects.create(plan=plan, content="@x", unit="-y", due_on=D(2026, 12, 31), order=0)
    Finding.objects.create(
        campaign=w.campaign, community=w.c1, method="onsite", kind="not_visited", cadre=w.worker_a.cadre,
        evidence=CR, found_on=D(2026, 11, 3), recorded_by=w.admin,
    )  # fmt: skip
    return w


# --- the exports, as the street admin ---------------------------------------------------------


def page_export(client, name, **params):
    response = client.get(reverse(name), params)
    assert response.status_code == 200, (name, response.status_code)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content


def admin_export(client, model, fmt):
    url = reverse(f"admin:visitplan_{model}_export")
    form = client.get(url).context["form"]
    data = {"format": str(fmt), "resource": "0"}
    data.update({name: "on" for name, f in form.fields.items() if getattr(f, "is_selectable_field", False)})
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    return response.content


def campaign(w):
    return {"campaign": w.campaign.pk}


# name → (how to get it, the texts it must carry back exactly)
XLSX_EXPORTS = {
    "居民底册（页面）": (
        lambda c, w: page_export(c, "households:export"),
        [HYPERLINK, PLUS_NAME, MINUS, TAB, CR, GRID],
    ),
    "居民底册（后台）": (
        lambda c, w: page_export(c, "admin:households_household_export"),
        [HYPERLINK, PLUS_NAME, MINUS, TAB, CR, GRID],
    ),
    "问题整改台账": (lambda c, w: page_export(c, "issues:export"), [CMD, HYPERLINK, DEPT, SUM]),
    "入户走访台账": (
        lambda c, w: page_export(c, "reports:ledger_visits", **campaign(w)),
        [HYPERLINK, GRID, SUM, UNIT, TAB, CR],
    ),
    "特殊困难群体台账": (
        lambda c, w: page_export(c, "reports:ledger_hardship"),
        [HYPERLINK, GRID, "=1+1", "+1", SUM, "@x", "-y"],
    ),
    "月度入户表": (lambda c, w: page_export(c, "reports:ledger_monthly", month="2026-10"), [SUM, UNIT, MINUS]),
    "督查扣分表": (lambda c, w: page_export(c, "reports:ledger_supervision", **campaign(w)), [SUM, CR]),
    "综合评议": (lambda c, w: page_export(c, "reports:evaluation_export", **campaign(w)), [SUM, MINUS, DEPT]),
    "干部名册": (lambda c, w: admin_export(c, "cadre", 0), [SUM, UNIT, MINUS, DEPT]),
    "责任单位": (lambda c, w: admin_export(c, "department", 0), [DEPT]),
    "包户名单": (lambda c, w: admin_export(c, "assignment", 0), [HYPERLINK, GRID, SUM, UNIT]),
}
CSV_EXPORTS = {
    "干部名册 CSV": (lambda c, w: admin_export(c, "cadre", 1), [SUM, UNIT, MINUS, DEPT]),
    "责任单位 CSV": (lambda c, w: admin_export(c, "department", 1), [DEPT]),
    "包户名单 CSV": (lambda c, w: admin_export(c, "assignment", 1), [HYPERLINK, GRID, SUM, UNIT]),
}
ID_HEADERS = {"身份证号"}
PHONE_HEADERS = {"联系电话", "联系电话(干部)"}


@pytest.mark.parametrize("name", XLSX_EXPORTS)
def test_every_excel_export_writes_formula_like_text_as_text(name, client, evil):
    get, expected = XLSX_EXPORTS[name]
    client.force_login(evil.admin)
    workbook = load_workbook(io.BytesIO(get(client, evil)))  # not read-only: data types and styles as stored

    texts = {}
    for sheet in workbook.worksheets:
        header = [c.value for c in sheet[1]]
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (name, sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_TRIGGERS):
                    assert cell.data_type == "s", (name, cell.coordinate, cell.value)
                    assert cell.quotePrefix, (name, cell.coordinate, cell.value)  # stays text when edited
                    texts[cell.value] = cell
                column = header[cell.column - 1] if cell.column <= len(header) else None
                if cell.row > 1 and column in ID_HEADERS and cell.value is not None:
                    assert isinstance(cell.value, str) and len(cell.value) == 18 and cell.data_type == "s", cell.value
                if cell.row > 1 and column in PHONE_HEADERS and cell.value is not None:
                    assert isinstance(cell.value, str) and cell.data_type == "s", cell.value
    missing = [text for text in expected if text not in texts]
    assert not missing, (name, missing, sorted(texts))


def test_the_register_export_keeps_id_numbers_as_18_character_text(client, evil):
    client.force_login(evil.admin)
    sheet = load_workbook(io.BytesIO(page_export(client, "households:export")))["居民底册"]
    header = [c.value for c in sheet[1]]
    ids = [row[header.index("身份证号")] for row in sheet.iter_rows(min_row=2)]
    assert {c.value for c in ids} == set(Household.objects.values_list("id_number", flat=True))
    assert all(c.data_type == "s" and len(c.value) == 18 for c in ids)


@pytest.mark.parametrize("name", CSV_EXPORTS)
def test_every_csv_export_neutralises_formula_like_text(name, client, evil):
    get, expected = CSV_EXPORTS[name]
    client.force_login(evil.admin)
    rows = list(csv.reader(io.StringIO(get(client, evil).decode("utf-8-sig"), newline="")))
    fields = [field for row in rows for field in row]
    assert not [f for f in fields if f.startswith(FORMULA_TRIGGERS)], name
    for text in expected:
        assert "'" + text in fields, (name, text)
