"""The visit admin shows 入户必问 and the checklist as the form asked them, in Chinese: domain →
answer (with its question and 需要帮助), group → the items ticked; never the stored JSON."""

import datetime

import pytest

from visitplan.rulebook import rules_for
from visits.admin import answered, ticked
from visits.models import Visit


@pytest.fixture
def visit(vw):
    return Visit.objects.create(
        campaign=vw.campaign,
        household=vw.ha,
        cadre=vw.worker_a.cadre,
        visited_on=datetime.date(2026, 9, 28),
        answers={
            "living": {"answer": "楼道灯坏了两周", "needs_help": True},
            "childcare": {"answer": "孩子入园已解决", "needs_help": False},
            "health": {"answer": "", "needs_help": False},  # asked, nothing to say: not shown
            "welfare": {"answer": "", "needs_help": True},  # help wanted, no words
            "retired_domain": {"answer": "旧版本的问题", "needs_help": False},  # not on the sheet any more
        },
        checklist=["know_family", "done_care", "grasp_wishes"],
    )


@pytest.mark.django_db
def test_answers_read_domain_by_domain_in_the_order_of_the_question_sheet(visit):
    rules = rules_for(visit.campaign)  # the product default: one question per domain
    assert answered(visit.answers, rules) == [
        ("幼有善育", "家中有无0–3岁婴幼儿？托育、入园、生育政策方面有无困难？", "孩子入园已解决", False),
        ("住有宜居", "住房、物业、供暖供水、道路照明、加装电梯方面有无问题？", "楼道灯坏了两周", True),
        ("弱有众扶", "低保、特困、残疾人补贴、临时救助等方面有无需要帮扶？", "", True),
    ]
    # 001's words (the only document that spells them out)
    assert ticked(visit.checklist, rules) == [
        ("三了解", ["了解家庭成员"]),
        ("四掌握", ["掌握诉求愿望"]),
        ("五到位", ["感情传递到位"]),
    ]
    assert answered({}, rules) == [] and answered(None, rules) == [] and ticked([], rules) == []


@pytest.mark.django_db
def test_the_change_form_shows_the_answers_readable_not_as_json(client, vw, visit):
    client.force_login(vw.admin)
    page = client.get(f"/admin/visits/visit/{visit.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for shown in ("入户必问", "幼有善育", "孩子入园已解决", "住有宜居", "楼道灯坏了两周", "（需要帮助）",
                  "问：住房、物业、供暖供水", "弱有众扶", "（未填写回答）",
                  "<b>三了解</b>：了解家庭成员", "<b>五到位</b>：感情传递到位"):  # fmt: skip
        assert shown in html, shown
    assert html.index("幼有善育") < html.index("住有宜居") < html.index("弱有众扶")
    for raw in ("needs_help", "&quot;answer&quot;", "know_family", "done_care", "retired_domain", "病有良医"):
        assert raw not in html, raw
    # Still read-only: no input for them.
    assert 'name="answers"' not in html and 'name="checklist"' not in html


@pytest.mark.django_db
def test_a_visit_without_answers_says_so(client, vw):
    empty = Visit.objects.create(
        campaign=vw.campaign, household=vw.ha, cadre=vw.worker_a.cadre, visited_on=datetime.date(2026, 9, 29)
    )
    client.force_login(vw.admin)
    html = client.get(f"/admin/visits/visit/{empty.pk}/change/").content.decode()
    assert '<div class="readonly">未填写</div>' in html and '<div class="readonly">未勾选</div>' in html
    assert '<div class="readonly">{}</div>' not in html and '<div class="readonly">[]</div>' not in html
