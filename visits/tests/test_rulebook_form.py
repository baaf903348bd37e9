"""The visit form, the visit page, the admin and the 亲情卡 read the rulebook of the visit's campaign
(visitplan/rulebook.py): 002's 附件2 questions word for word, a 需要帮助 filed as an issue under the
question's domain (the cadre choosing one of several), 001's 三了解 / 四掌握 / 五到位 in its own
words, and the card printing what 001 asks: the responsible units with their head and phone, and
the campaign's own supervision phone."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.support.visits import VISIT_DAY
from tests.support.world import make_household
from visitplan.models import Assignment, Department, DepartmentQuota, Tier
from visitplan.rulebook import apply_preset, update_rules
from visits.models import Visit

# 附件2 入户访问参考 of the 002 plan (湖田街道, 2022-06-10), as the document words them.
ATTACHMENT_2 = [
    "您现在从事什么工作?工作待遇、家庭收入怎么样(若是贫困户,可询问稳定脱贫、收入来源等情况;若是低保户或困难户,可询问低保发放、帮扶措施等情况)?有什么需要帮助解决的困难和问题?(“劳有厚得”“弱有众扶”事项)",
    "您觉得所居住的村(社区)及周边环境怎么样(主要包括道路硬化、美化绿化、垃圾清运、生态环境、环境污染等)?这里的日常管理和服务好不好?有没有发现环境方面的问题?(“住有宜居”事项)",
    "您感觉看病就医、医保报销方便吗?村(社区)卫生室远不远?医院服务好不好?对看病就医还有什么需求吗?(“病有良医”事项)",
    "您家里有小孩在上幼儿园或中小学吗(若有怀孕妇女和3岁以下小孩,可询问孕期服务、幼儿服务等情况)?孩子上学方便不方便?学校课后服务好不好?目前有什么困难和问题?(“幼有善育”“学有优教”事项)",
    "您会选择哪种养老方式(机构、社区、居家)?有没有或需不需建长者食堂?您有哪些养老服务需求?(“老有颐养”事项)",
    "您平时有什么文体爱好?附近有没有文体活动设施和场所?开展文体活动经常吗?还有什么问题和需求?(“民有文乐”事项)",
    "您觉得周边的治安情况怎么样?出现治安问题能否及时得到解决?(“安有保全”事项)",
    "您还有什么需要我们帮助解决的具体困难和问题?",
    "您对各级党委、政府工作有什么好的意见建议?",
]  # fmt: skip


def preset(w, code):
    apply_preset(w.campaign, code)
    w.campaign.save()
    return w


@pytest.fixture
def w002(vw):
    return preset(vw, "002")


@pytest.fixture
def w001(vw):
    return preset(vw, "001")


def form_url(w):
    return reverse("visits:visit", args=[w.ha.pk])


def key_on(html):
    return re.search(r'name="key" value="([0-9a-f-]{36})"', html).group(1)


def post_visit(client, w, **fields):
    client.force_login(w.worker_a)
    key = key_on(client.get(form_url(w)).content.decode())
    data = {
        "key": key, "method": "in_person", "visited_on": VISIT_DAY.isoformat(), "started_at": "09:00",
        "ended_at": "09:40", "issues-TOTAL_FORMS": "0", "issues-INITIAL_FORMS": "0",
        "issues-MIN_NUM_FORMS": "0", "issues-MAX_NUM_FORMS": "10",
    }  # fmt: skip
    data.update(fields)
    response = client.post(form_url(w), data)
    return response, Visit.objects.filter(key=key).first()


def filed(visit):
    return sorted(visit.issues.values_list("category", "text"))


# ---------------------------------------------------------------------------------------------- the questions


@pytest.mark.django_db
def test_under_002_the_form_asks_attachment_2_word_for_word_in_its_order(client, w002):
    client.force_login(w002.worker_a)
    html = client.get(form_url(w002)).content.decode()
    where = [html.find(text) for text in ATTACHMENT_2]
    assert -1 not in where, [t for t, at in zip(ATTACHMENT_2, where) if at == -1]
    assert where == sorted(where)
    assert "道路硬化、美化绿化、垃圾清运" in html
    assert "加装电梯" not in html  # the product default's question on housing is not asked
    assert html.count('name="h_') == 9 and "9 个问题" in html


@pytest.mark.django_db
def test_the_product_default_still_asks_one_question_per_domain(client, vw):
    client.force_login(vw.worker_a)
    html = client.get(form_url(vw)).content.decode()
    assert "加装电梯" in html and "道路硬化、美化绿化" not in html
    assert 'name="q_living"' in html and 'name="q_q2"' not in html


# ---------------------------------------------------------------------------------------------- 需要帮助


@pytest.mark.django_db
def test_under_002_help_on_q2_files_an_issue_under_living(client, w002):
    response, visit = post_visit(client, w002, q_q2="小区门口垃圾三天没人清运", h_q2="on", q_q3="看病方便")
    assert response.status_code == 302 and visit is not None
    assert filed(visit) == [("living", "小区门口垃圾三天没人清运")]
    assert visit.answers == {
        "q2": {"answer": "小区门口垃圾三天没人清运", "needs_help": True},
        "q3": {"answer": "看病方便", "needs_help": False},
    }


@pytest.mark.django_db
def test_on_q1_the_cadre_chooses_employment_or_welfare(client, w002):
    client.force_login(w002.worker_a)
    html = client.get(form_url(w002)).content.decode()
    select = re.search(r'<select name="d_q1".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', select) == [
        ("employment", "劳有厚得"),
        ("welfare", "弱有众扶"),
    ]
    assert 'name="d_q2"' not in html  # one domain: nothing to choose

    _response, visit = post_visit(client, w002, q_q1="低保复核材料不会准备", h_q1="on", d_q1="welfare")
    assert filed(visit) == [("welfare", "低保复核材料不会准备")]
    assert visit.answers["q1"]["domain"] == "welfare"

    _response, visit = post_visit(client, w002, q_q1="儿子待业想参加培训", h_q1="on")
    assert filed(visit) == [("employment", "儿子待业想参加培训")]  # unchosen: its first domain


@pytest.mark.django_db
def test_a_domain_the_question_does_not_cover_is_refused_in_chinese(client, w002):
    response, visit = post_visit(client, w002, q_q1="住房漏雨", h_q1="on", d_q1="living")
    assert visit is None and response.status_code == 200
    assert "诉求类别须为劳有厚得或弱有众扶" in response.content.decode()


@pytest.mark.django_db
def test_an_open_question_files_its_help_under_other(client, w002):
    _response, visit = post_visit(client, w002, q_q8="想给老伴申请轮椅", h_q8="on", q_q9="希望多办活动")
    assert filed(visit) == [("other", "想给老伴申请轮椅")]


@pytest.mark.django_db
def test_a_request_row_of_the_same_category_is_not_filed_twice(client, w002):
    rows = {
        "issues-TOTAL_FORMS": "1", "issues-0-text": "3号楼门口垃圾桶满溢，三天未清运", "issues-0-category": "living",
        "issues-0-severity": "major",
    }  # fmt: skip
    _response, visit = post_visit(client, w002, q_q2="垃圾没人清运", h_q2="on", **rows)
    assert filed(visit) == [("living", "3号楼门口垃圾桶满溢，三天未清运")]


@pytest.mark.django_db
def test_help_without_an_answer_is_refused_with_the_reason(client, w002):
    response, visit = post_visit(client, w002, h_q2="on")
    assert visit is None
    assert "勾选了“需要帮助”，请写明需要帮助解决的困难" in response.content.decode()


@pytest.mark.django_db
def test_not_home_files_nothing_for_the_questions(client, w002):
    _response, visit = post_visit(client, w002, method="not_home", q_q2="垃圾", h_q2="on")
    assert visit is not None and filed(visit) == [] and visit.answers == {}


# ---------------------------------------------------------------------------------------------- read back


@pytest.mark.django_db
def test_the_visit_page_and_the_admin_read_the_questions_of_the_visits_campaign(client, w002):
    _response, visit = post_visit(client, w002, q_q1="低保复核材料不会准备", h_q1="on", d_q1="welfare")
    page = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert "劳有厚得、弱有众扶" in page and "低保复核材料不会准备" in page
    client.force_login(w002.admin)
    admin = client.get(f"/admin/visits/visit/{visit.pk}/change/").content.decode()
    assert "劳有厚得、弱有众扶（诉求登记为弱有众扶）" in admin
    assert "问：" + ATTACHMENT_2[0][:20] in admin


# ---------------------------------------------------------------------------------------------- the checklist


@pytest.mark.django_db
def test_under_001_the_checklist_says_what_001_says(client, w001):
    client.force_login(w001.worker_a)
    html = client.get(form_url(w001)).content.decode()
    for label in ("了解家庭成员", "了解生产情况", "掌握思想状况", "掌握诉求愿望", "宣讲政策到位", "感情传递到位"):
        assert label in html, label
    for reworded in ("工作情况", "思想动态", "愿望诉求", "关心关爱到位"):
        assert reworded not in html, reworded
    _response, visit = post_visit(client, w001, checklist=["know_work", "grasp_thoughts", "bogus_code"])
    assert visit is None  # a box the form does not have is refused
    _response, visit = post_visit(client, w001, checklist=["know_work", "grasp_thoughts"])
    assert visit.checklist == ["know_work", "grasp_thoughts"]
    page = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert "✓ 了解生产情况" in page and "✓ 掌握思想状况" in page


# ---------------------------------------------------------------------------------------------- 亲情卡


def cards_page(client, w):
    client.force_login(w.worker_a)
    return client.get(reverse("visits:cards")).content.decode()


@pytest.mark.django_db
def test_a_card_under_001_prints_the_responsible_units_and_the_campaigns_supervision_phone(client, w001, settings):
    w = w001
    settings.SUPERVISION_PHONE = "0533-9999999"
    update_rules(w.campaign, {"supervision_phone": "0533-6218888"})
    housing = Department.objects.create(name="区住建局", head_name="孙建", phone="0533-2110001")
    w.dept.head_name, w.dept.phone = "赵民", "0533-2110002"
    w.dept.save()
    DepartmentQuota.objects.create(campaign=w.campaign, department=housing, community=w.c1, households=5)
    # 区民政局 takes part in the campaign with a household of 张甲's community in its charge.
    h2 = make_household(w.grid_b, "208", "周丁", 21)
    Assignment.objects.create(campaign=w.campaign, household=h2, cadre=w.handler.cadre, tier=Tier.DEPARTMENT,
                              department=w.dept)  # fmt: skip
    Department.objects.create(name="区文旅局", head_name="钱文", phone="0533-2110003")  # not in this campaign
    html = cards_page(client, w)
    card = html[html.index('class="contact-card"') :]
    for text in (
        "相关责任单位",
        "区住建局",
        "孙建",
        "0533-2110001",
        "区民政局",
        "赵民",
        "0533-2110002",
        "0533-6218888",
    ):
        assert text in card, text
    assert "区文旅局" not in html and "0533-9999999" not in html


@pytest.mark.django_db
def test_without_its_own_phone_the_card_falls_back_to_the_installations(client, vw, settings):
    settings.SUPERVISION_PHONE = "0533-9999999"
    DepartmentQuota.objects.create(campaign=vw.campaign, department=vw.dept, community=vw.c1, households=5)
    html = cards_page(client, vw)
    assert "0533-9999999" in html
    assert "相关责任单位" not in html  # the product default's card does not print the units


@pytest.mark.django_db
def test_the_cards_page_costs_the_same_queries_for_more_cards_and_units(client, w001):
    w = w001

    def queries():
        client.force_login(w.worker_a)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("visits:cards")).status_code == 200
        return len(ctx)

    DepartmentQuota.objects.create(campaign=w.campaign, department=w.dept, community=w.c1, households=5)
    queries()  # the first request fills the process's caches
    before = queries()
    for n in range(4):
        h = make_household(w.grid_a, f"9{n}1", f"户主{n}", 40 + n, building=w.ha.building)
        Assignment.objects.create(campaign=w.campaign, household=h, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
        unit = Department.objects.create(name=f"区第{n}局", head_name=f"负责人{n}", phone=f"0533-211000{n}")
        DepartmentQuota.objects.create(campaign=w.campaign, department=unit, community=w.c1, households=1)
    html = cards_page(client, w)
    assert html.count('class="contact-card"') == 5 and html.count("区第3局") == 5
    assert queries() == before
