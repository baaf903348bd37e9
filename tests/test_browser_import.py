"""A street admin imports the office's own spreadsheets in a real browser: an .xls with a title
row, 序号, other column names and merged cells; then a file with two columns the product does not
know, mapped on the preview page, checked again and imported."""

from pathlib import Path

import pytest
from django.contrib.auth.models import User

from households.models import ColumnAlias, FocusGroup, Household, Street
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CORPUS = Path(__file__).resolve().parents[1] / "core" / "tests" / "corpus"


def admin_login(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-test-123")
    page.click("input[type=submit]")
    page.wait_for_load_state()


def upload(page, live_server, name):
    page.goto(f"{live_server.url}/admin/households/household/import/")
    page.set_input_files("#id_file", str(CORPUS / name))
    page.click("input[type=submit][value]")
    page.wait_for_load_state()


def test_an_office_file_is_previewed_with_what_was_found_and_its_columns_can_be_mapped(
    live_server, browser_page, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The focus groups of the corpus' 重点人群 (a transactional test may run after a flush that
    # took the migration's vocabulary away).
    for name in ("老党员", "孤寡老人", "高龄老人", "困难群众", "残疾人", "低保户"):
        FocusGroup.objects.get_or_create(name=name)
    street = Street.objects.create(name="湖田街道")
    User.objects.create_superuser("boss", password="pw-test-123")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    admin_login(page, live_server)

    # An .xls with a title row, 序号, aliases and merged 社区/网格 cells.
    upload(page, live_server, "combo.xls")
    main = page.inner_text("#content-main")
    assert "检查通过" in main, main
    found = page.inner_text(".found")
    assert "Excel 97-2003 工作簿（.xls）" in found and "第 4 行" in found and "序号" in found
    page.click("text=调整各列对应的字段")  # folded away when the check passed
    assert page.input_value("#id_field-1") == "community"  # B: 社区名称
    screenshot(page, "import_office_xls_preview")
    page.click("input[value=确认导入]")
    page.wait_for_load_state()
    assert Household.objects.filter(street=street).count() == 4

    # Two columns nobody named so: mapped here, checked again, imported, remembered.
    upload(page, live_server, "missing-columns.xlsx")
    assert "缺少列：门牌号" in page.inner_text("#content-main")
    headers = page.eval_on_selector_all(".column-map th[scope=row] label", "ls => ls.map(l => l.textContent.trim())")
    page.select_option(f"#id_field-{headers.index('房间')}", "room")
    page.select_option(f"#id_field-{headers.index('证件号码')}", "id_number")
    screenshot(page, "import_column_mapping")
    page.click("input[value=按此重新检查]")
    page.wait_for_load_state()
    assert "检查通过" in page.inner_text("#content-main")
    page.click("input[value=确认导入]")
    page.wait_for_load_state()
    assert Household.objects.filter(street=street).count() == 5
    assert Household.objects.filter(street=street, head_name="张建国", room="501").exists()
    assert set(ColumnAlias.objects.filter(street=street).values_list("header", "field")) >= {
        ("房间", "room"),
        ("证件号码", "id_number"),
    }
