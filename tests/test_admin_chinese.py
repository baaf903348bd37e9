"""The whole admin in Chinese: Django 5.2's zh_Hans catalogue lacks the strings of the
filter_horizontal selector ("Choose all %s", "Remove all %s", its help texts), the calendar's weekday
letters and the app list's table headers, so they stayed English although LANGUAGE_CODE is
"zh-hans" and admin/jsi18n/ answers Chinese for the rest. The project's catalogue
(locale/zh_Hans, settings.LOCALE_PATHS, first in line) has them.

The browser test reads a real admin page in Chromium, a phone-less desktop set to en-US: the language
is the site's, not the browser's. Screenshots go to var/screenshots/ (admin_*.png).
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation.trans_real import DjangoTranslation

from tests.support.browser import TEST_PASSWORD, screenshot

LOCALE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
ADMIN_LOCALE = str(Path(__import__("django.contrib.admin").contrib.admin.__file__).parent / "locale")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")


def po_entries(path):
    """(context, msgid, msgid_plural, msgstr) of each entry of a .po file (the header left out)."""

    def text(block, key):
        m = re.search(rf"^{re.escape(key)} ((?:\".*\"\n?)+)", block, re.M)
        if not m:
            return None
        return (
            "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
            .encode()
            .decode("unicode_escape")
            .encode("latin-1")
            .decode("utf-8")
        )

    for block in path.read_text(encoding="utf-8").split("\n\n"):
        msgid = text(block, "msgid")
        if not msgid:
            continue
        yield (
            text(block, "msgctxt"),
            msgid,
            text(block, "msgid_plural"),
            text(block, "msgstr") or text(block, "msgstr[0]"),
        )


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_the_compiled_catalogue_says_what_the_po_file_says(domain):
    """The .mo is compiled from the .po as it stands (msgfmt -o <domain>.mo <domain>.po)."""
    entries = list(po_entries(LOCALE / f"{domain}.po"))
    assert entries and (LOCALE / f"{domain}.mo").exists()
    with translation.override("zh-hans"):
        if domain == "django":
            t = translation
        else:  # as admin/jsi18n/ reads it: the admin's catalogue, the project's merged first
            t = DjangoTranslation("zh-hans", domain="djangojs", localedirs=[ADMIN_LOCALE])
        for context, msgid, plural, msgstr in entries:
            if plural:
                got = t.ngettext(msgid, plural, 2)
            elif context:
                got = t.pgettext(context, msgid)
            else:
                got = t.gettext(msgid)
            assert got == msgstr, (msgid, got)


def test_the_admin_catalogues_leave_no_admin_string_in_english():
    """Every string of the admin's own catalogues (HTML and JavaScript) has its Chinese."""
    english = Path(ADMIN_LOCALE) / "en" / "LC_MESSAGES"
    left = []
    with translation.override("zh-hans"):
        js = DjangoTranslation("zh-hans", domain="djangojs", localedirs=[ADMIN_LOCALE])
        for domain, t in (("django", translation), ("djangojs", js)):
            for context, msgid, plural, _ in po_entries(english / f"{domain}.po"):
                if plural:
                    got = t.ngettext(msgid, plural, 2)
                elif context:
                    got = t.pgettext(context, msgid)
                else:
                    got = t.gettext(msgid)
                if got in (msgid, plural) and ENGLISH_WORD.search(msgid) and msgid != "%(class_name)s %(instance)s":
                    left.append((domain, context, msgid))
    assert not left, left


# ---------------------------------------------------------------------------------------------- in a browser


@pytest.fixture
def desktop(chromium):
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
    yield context.new_page()
    context.close()


def _shot(page, name, selector=None):
    screenshot(page, name, selector=selector, full_page=False)


# The text (hidden labels included) and the tooltips of the admin's JavaScript widgets on the page.
WIDGET_TEXTS = """(selector) => [...document.querySelectorAll(selector)].flatMap((root) => {
    const out = [root.textContent];
    root.querySelectorAll('[title], [aria-label], [placeholder]').forEach((e) => {
        for (const a of ['title', 'aria-label', 'placeholder']) if (e.getAttribute(a)) out.push(e.getAttribute(a));
    });
    return out;
})"""


def admin_log_in(page, live_server, username):
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_admin_widgets_speak_chinese_in_a_browser_set_to_english(live_server, world, desktop):
    page = desktop
    get_user_model().objects.create_superuser("root", password=TEST_PASSWORD)
    admin_log_in(page, live_server, "admin")  # the street admin
    assert "街道工作台" in page.title()
    # The app list's headers (read by screen readers) are Chinese too.
    index = page.content()
    assert "Model name" not in index and "Add link" not in index and "模型名称" in index

    # filter_horizontal: the household's focus groups.
    page.goto(f"{live_server.url}/admin/households/household/{world.ha.pk}/change/")
    page.wait_for_selector(".selector-chooseall")
    assert page.inner_text(".selector-chooseall") == "全选重点人群"
    assert page.inner_text(".selector-clearall") == "删除全部重点人群"
    assert page.text_content(".selector-add") == "选择选中的重点人群"  # read out by screen readers
    assert page.text_content(".selector-remove") == "删除选中的重点人群"
    texts = page.evaluate(WIDGET_TEXTS, ".selector")
    assert "选中要选择的重点人群，然后点击“选择”箭头按钮。" in " ".join(texts)
    english = sorted({w for t in texts for w in ENGLISH_WORD.findall(t)})
    assert not english, english
    _shot(page, "admin_filter_horizontal", ".selector")

    # The date and time shortcuts, the calendar and the clock (a clocked schedule: date and time).
    admin_log_in(page, live_server, "root")
    page.goto(f"{live_server.url}/admin/django_celery_beat/clockedschedule/add/")
    page.wait_for_selector(".datetimeshortcuts")
    shortcuts = page.evaluate(WIDGET_TEXTS, ".datetimeshortcuts")
    assert "今天" in " ".join(shortcuts) and "现在" in " ".join(shortcuts)
    page.locator(".datetimeshortcuts a[id^=calendarlink]").first.click()
    page.locator(".datetimeshortcuts a[id^=clocklink]").first.click()
    popups = page.evaluate(WIDGET_TEXTS, ".calendarbox, .clockbox")
    joined = " ".join(popups)
    assert "昨天" in joined and "午夜" in joined and "日" in joined
    english = sorted({w for t in shortcuts + popups for w in ENGLISH_WORD.findall(t)})
    assert not english, english
    _shot(page, "admin_calendar", ".calendarbox")
