"""活动规则: each campaign's rulebook, the one place every campaign rule is read from.

The five campaign documents (../shared/seeds/000–004) disagree on who visits whom, how often, by
what means, how fast issues close and how supervision scores. A campaign follows one of them: it is
created from a preset (``PRESETS``: "按 002 湖田街道方案" …, or 产品默认), which fills its rulebook with
that document's numbers and lists, each rule with the document's own words as its source; a rule the
document is silent on takes the product's default and says so (``Rules.defaulted``). The street
admin may change any rule afterwards (``update_rules``): every change is logged (``RuleChange``) and
what depends on the rule is recomputed at once by the apps that registered for it
(``on_rules_changed``: the deadlines of open issues, whether each visit counts, the tallies).

``rules_for(campaign)`` is what everything else reads: ``visits/rules.py`` (the visit window, the
minimum duration and the methods it applies to), ``visits/targets.py`` (the targets, the methods
each counts, prorating), ``visitplan/allocation.py`` (the leaders' and street staff's groups, the
30 % share, the leaders' cap), ``issues/deadlines.py`` (days to a plan, the classes and their days),
``issues/services.py`` (who reviews), ``reports/scoring.py`` (千分制, 约谈), the visit form (入户必问,
三了解/四掌握/五到位) and ``visits/cards.py`` (what the 亲情卡 prints, the supervision phone).

Storage: ``Campaign.rules`` (JSON, only the rules that differ from the product default) plus the four
numeric columns the campaign already had (minutes, share, the leaders' days and households).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

# ------------------------------------------------------------------------------ vocabularies

# The visit methods (``visits.models.VisitMethod`` codes; 未遇 never counts).
METHODS = {"in_person": "入户", "meeting": "座谈", "phone": "电话", "wechat": "微信", "sms": "短信"}
REMOTE = ["phone", "wechat", "sms"]

WINDOWS = {"stages": "活动阶段起止日期之内", "year": "全年（活动年度内）"}
# The linked cadres' target: one counted visit per household in each period.
PERIODS = {
    "half_year": "每半年（上半年、下半年各 1 次）",
    "year": "每年 1 次",
    "campaign": "集中走访阶段内 1 次（全覆盖）",
}
REVIEWERS = {"community": "社区（村）书记或街道审核", "street": "只由街道审核"}

# Tiers (``visitplan.models.Tier`` values), for the rules naming them.
LEADER, DEPARTMENT, STREET_STAFF, SECRETARY, COMMITTEE, GRID_WORKER = 1, 2, 3, 4, 5, 6

# Finding kinds (``reports.models.FindingKind`` codes) the scoring names.
FINDINGS = {
    "not_visited": "不入户",
    "fake_visit": "虚假入户",
    "fake_opinions": "征求意见不实",
    "not_rectified": "不整改",
    "fake_rectification": "虚假整改",
    "incomplete": "整改不彻底",
}

# What the 亲情卡 can print.
CARD_FIELDS = {
    "name": "干部姓名",
    "unit": "工作单位",
    "position": "职务",
    "phone": "联系电话",
    "supervision_phone": "监督电话",
    "departments": "相关责任单位、责任人及联系电话",
}

# The product's 入户必问 (one question per service domain, codes = issues/domains.py codes).
DEFAULT_QUESTIONS = [
    {"code": "childcare", "text": "家中有无0–3岁婴幼儿？托育、入园、生育政策方面有无困难？", "domains": ["childcare"]},
    {"code": "education", "text": "孩子上学、升学、课后托管、学生资助方面有无困难？", "domains": ["education"]},
    {"code": "employment", "text": "家庭成员就业、创业、技能培训、工资发放方面有无困难？", "domains": ["employment"]},
    {"code": "health", "text": "看病就医、慢病用药、家庭医生签约、医保报销方面有无困难？", "domains": ["health"]},
    {"code": "elderly", "text": "老人养老、助餐、居家照护、养老金领取方面有无困难？", "domains": ["elderly"]},
    {"code": "living", "text": "住房、物业、供暖供水、道路照明、加装电梯方面有无问题？", "domains": ["living"]},
    {"code": "welfare", "text": "低保、特困、残疾人补贴、临时救助等方面有无需要帮扶？", "domains": ["welfare"]},
    {"code": "culture", "text": "对社区文化活动、健身场地、图书阅读有何需求？", "domains": ["culture"]},
    {"code": "safety", "text": "消防、治安、交通、电动车充电、防诈骗等方面有无隐患？", "domains": ["safety"]},
]

# 附件2 入户必问参考 of 002, word for word: 7 domain questions and 2 open ones.
QUESTIONS_002 = [
    {"code": "q1", "domains": ["employment", "welfare"], "text": "您现在从事什么工作?工作待遇、家庭收入怎么样(若是贫困户,可询问稳定脱贫、收入来源等情况;若是低保户或困难户,可询问低保发放、帮扶措施等情况)?有什么需要帮助解决的困难和问题?(“劳有厚得”“弱有众扶”事项)"},
    {"code": "q2", "domains": ["living"], "text": "您觉得所居住的村(社区)及周边环境怎么样(主要包括道路硬化、美化绿化、垃圾清运、生态环境、环境污染等)?这里的日常管理和服务好不好?有没有发现环境方面的问题?(“住有宜居”事项)"},
    {"code": "q3", "domains": ["health"], "text": "您感觉看病就医、医保报销方便吗?村(社区)卫生室远不远?医院服务好不好?对看病就医还有什么需求吗?(“病有良医”事项)"},
    {"code": "q4", "domains": ["childcare", "education"], "text": "您家里有小孩在上幼儿园或中小学吗(若有怀孕妇女和3岁以下小孩,可询问孕期服务、幼儿服务等情况)?孩子上学方便不方便?学校课后服务好不好?目前有什么困难和问题?(“幼有善育”“学有优教”事项)"},
    {"code": "q5", "domains": ["elderly"], "text": "您会选择哪种养老方式(机构、社区、居家)?有没有或需不需建长者食堂?您有哪些养老服务需求?(“老有颐养”事项)"},
    {"code": "q6", "domains": ["culture"], "text": "您平时有什么文体爱好?附近有没有文体活动设施和场所?开展文体活动经常吗?还有什么问题和需求?(“民有文乐”事项)"},
    {"code": "q7", "domains": ["safety"], "text": "您觉得周边的治安情况怎么样?出现治安问题能否及时得到解决?(“安有保全”事项)"},
    {"code": "q8", "domains": [], "text": "您还有什么需要我们帮助解决的具体困难和问题?"},
    {"code": "q9", "domains": [], "text": "您对各级党委、政府工作有什么好的意见建议?"},
]  # fmt: skip

# 三了解 / 四掌握 / 五到位 in 001's words (the only document that spells them out); the codes are stored on visits.
CHECKLIST_001 = [
    ["三了解", [["know_family", "了解家庭成员"], ["know_living", "了解生活状况"], ["know_work", "了解生产情况"]]],
    ["四掌握", [["grasp_thoughts", "掌握思想状况"], ["grasp_hardship", "掌握家庭困难"],
                ["grasp_employment", "掌握就业情况"], ["grasp_wishes", "掌握诉求愿望"]]],
    ["五到位", [["done_policy", "宣讲政策到位"], ["done_opinions", "民意收集到位"], ["done_answers", "咨询答复到位"],
                ["done_requests", "诉求解决到位"], ["done_care", "感情传递到位"]]],
]  # fmt: skip

DEFAULT_CLASSES = [
    {"code": "general", "label": "一般问题", "days": 15},
    {"code": "major", "label": "较大问题", "days": 30},
    {"code": "grave", "label": "特别重大或涉及面大的问题", "days": 60},
]
CLASS_CODES = ("general", "major", "grave")


# ------------------------------------------------------------------------------ the rules


@dataclass(frozen=True)
class Rules:
    """A campaign's rules. ``sources`` maps a rule to the words of its document; ``defaulted`` names
    the rules its document is silent on (they hold the product default)."""

    # when and how a visit counts
    window: str = "stages"
    counted_methods: tuple = ("in_person", "meeting", "phone", "wechat", "sms")
    away_only_methods: tuple = ()
    away_groups: tuple = ("长期在外",)
    min_visit_minutes: int = 30
    timed_methods: tuple = ("in_person", "meeting")
    takeover_grace_days: int = 30
    # targets
    link_period: str = "half_year"
    secretary_sweep: bool = True
    weekly_groups: tuple = ("孤寡老人", "高龄老人", "卧床病人", "单亲儿童")
    weekly_days: int = 7
    weekly_tiers: tuple = (SECRETARY, COMMITTEE, GRID_WORKER)
    weekly_methods: tuple = ("in_person", "meeting", "phone", "wechat", "sms")
    leader_days_per_month: int = 10
    leader_households_per_month: int = 50
    leader_methods: tuple = ("in_person", "meeting", "phone", "wechat", "sms")
    street_staff_share: int = 30
    # "behind" by pace (the target prorated to the day) or only by the whole target
    pace_targets: bool = True
    # who is visited first
    leader_groups: tuple = ("老党员", "困难群众", "孤寡老人", "留守儿童", "上访老户", "驻区企业")
    staff_groups: tuple = ()
    # the issue ledger
    plan_days: int = 5
    classes: tuple = tuple(tuple(sorted(c.items())) for c in DEFAULT_CLASSES)
    review_by: str = "community"
    # supervision (千分制)
    full_score: int = 1000
    points_per_finding: int = 1
    deduct_kinds: tuple = tuple(FINDINGS)
    interview_at: int = 3
    interview_kinds: tuple = tuple(FINDINGS)
    interview_tiers: tuple = (STREET_STAFF, COMMITTEE)
    # the visit form and the card
    questions: tuple = ()
    checklist: tuple = ()
    card_fields: tuple = ("name", "unit", "position", "phone", "supervision_phone")
    supervision_phone: str = ""
    # where each rule comes from
    preset: str = ""
    sources: dict = field(default_factory=dict, compare=False)
    defaulted: frozenset = field(default_factory=frozenset, compare=False)

    # -- readers the rest of the product uses

    def question_list(self) -> list[dict]:
        return [dict(q) for q in (self.questions or DEFAULT_QUESTIONS)]

    def checklist_groups(self) -> list[tuple[str, list[tuple[str, str]]]]:
        groups = self.checklist or CHECKLIST_001
        return [(group, [(code, label) for code, label in items]) for group, items in groups]

    def class_list(self) -> list[dict]:
        return [dict(c) for c in self.classes]

    def class_days(self, code: str) -> int:
        for c in self.classes:
            c = dict(c)
            if c["code"] == code:
                return c["days"]
        raise ValueError(f"未知的问题类别：{code!r}")

    def class_label(self, code: str) -> str:
        return next((dict(c)["label"] for c in self.classes if dict(c)["code"] == code), code)

    def counts(self, method: str, *, away: bool) -> bool:
        """Does a visit by ``method`` count toward the targets (for a household marked 长期在外 or not)?"""
        if method not in self.counted_methods:
            return False
        return away or method not in self.away_only_methods

    def finding_points(self, kind: str) -> int:
        return self.points_per_finding if kind in self.deduct_kinds else 0


FIELDS = {f.name for f in dataclasses.fields(Rules)} - {"preset", "sources", "defaulted"}
# The rules stored in the campaign's own columns (the rest live in ``Campaign.rules``).
COLUMNS = ("min_visit_minutes", "street_staff_share", "leader_days_per_month", "leader_households_per_month")
PRODUCT_DEFAULT = Rules()


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(name, value):
    """A rule's value as JSON (lists and dicts): the questions and classes are lists of dicts."""
    if name in ("questions", "classes"):
        return [dict(item) if not isinstance(item, dict) else item for item in value]
    if name == "checklist":
        return [[group, [list(i) for i in items]] for group, items in value]
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, frozenset):
        return sorted(value)
    return value


def _build(values: dict, *, preset="", sources=None, defaulted=()) -> Rules:
    kwargs = {}
    for name in FIELDS:
        if name not in values:
            continue
        value = values[name]
        if name in ("questions", "classes"):
            value = tuple(tuple(sorted(dict(item).items())) for item in value)
        elif name == "checklist":
            value = tuple((group, tuple(tuple(i) for i in items)) for group, items in value)
        else:
            value = _freeze(value)
        kwargs[name] = value
    return Rules(**kwargs, preset=preset, sources=dict(sources or {}), defaulted=frozenset(defaulted))


# ------------------------------------------------------------------------------ the presets


@dataclass
class Preset:
    code: str
    label: str
    document: str  # the seed file it follows
    values: dict
    sources: dict  # rule → the document's words
    silent: dict  # rule → why the product default stands

    def rules(self) -> Rules:
        return _build(self.values, preset=self.code, sources=self.sources, defaulted=self.silent)


_D = "文件未作规定，沿用产品默认"

PRESETS: dict[str, Preset] = {}


def _preset(code, label, document, values, sources, note=_D):
    """A preset: the rules it sets (``values``) and the words they come from (``sources``); it is
    silent on every other rule, which keeps the product default, marked with ``note``."""
    silent = {name: note for name in sorted(FIELDS - set(values) - set(sources))}
    PRESETS[code] = Preset(code, label, document, values, sources, silent)


_preset(
    "002",
    "按 002 湖田街道方案（走千村进万户）",
    "002_87174d404e81b109.txt",
    {
        "window": "stages",
        "counted_methods": ["in_person", "meeting", "phone", "wechat", "sms"],
        "away_only_methods": REMOTE,
        "away_groups": ["长期在外"],
        "min_visit_minutes": 30,
        "link_period": "campaign",
        "secretary_sweep": True,
        "weekly_groups": [],
        "street_staff_share": 30,
        "leader_groups": ["老党员", "困难群众", "孤寡老人", "留守儿童", "上访老户"],
        "staff_groups": ["上访老户", "困难群众"],
        "plan_days": 5,
        "classes": DEFAULT_CLASSES,
        "review_by": "street",
        "full_score": 1000,
        "points_per_finding": 1,
        "deduct_kinds": ["not_visited", "fake_visit", "not_rectified", "fake_rectification", "incomplete"],
        "interview_at": 3,
        "interview_kinds": list(FINDINGS),
        "interview_tiers": [STREET_STAFF, SECRETARY, COMMITTEE],
        "questions": QUESTIONS_002,
        "card_fields": ["name", "unit", "position", "phone", "supervision_phone"],
    },
    {
        "window": "(一)组织部署(6月初)…(二)集中走访(6月底前)…(五)总结评估(11月中旬前)",
        "counted_methods": "走进千家万户,因长期在外等原因不能入户走访的要通过电话、微信、短信访问",
        "away_only_methods": "因长期在外等原因不能入户走访的要通过电话、微信、短信访问",
        "away_groups": "因长期在外等原因不能入户走访的【在底册中以重点人群“长期在外”标记】",
        "min_visit_minutes": "每户访问时间不少于30分钟",
        "link_period": "做到不漏一村、不落一户…(二)集中走访(6月底前)…集中有序开展全覆盖走访",
        "secretary_sweep": "村居(社区)党组织负责人年内要对本村居(社区)走访“户户到”",
        "weekly_groups": "【文件未规定每周走访的人群，不设此目标】",
        "street_staff_share": "各包村居组以挂包村居为单位,原则上走访户数不低于辖区总户数的30%",
        "leader_groups": "着重做好老党员、困难群众、孤寡老人、留守儿童、上访老户等“五个重点访”",
        "staff_groups": "在确定走访关系时,街道干部职工要重点走访上访老户、困难户等家庭",
        "plan_days": "现场暂时解决不了的,要于5个工作日内提出解决方案",
        "classes": "一般性问题原则上15个工作日内办结回复,较大的问题原则上30个工作日内办结回复,特别重大或涉及面大的问题原则上60个工作日内办结回复",
        "review_by": "进行整合分类报街道审核后提报",
        "full_score": "采取千分制倒扣分办法",
        "points_per_finding": "每发现1起不入户、虚假入户、不整改、虚假整改、整改不彻底等问题扣1分,扣完为止",
        "deduct_kinds": "每发现1起不入户、虚假入户、不整改、虚假整改、整改不彻底等问题扣1分",
        "interview_at": "对不入户、虚假入户,征求意见不实,问题不整改、虚假整改、整改不彻底等问题出现3个(含3个)以上的",
        "interview_kinds": "不入户、虚假入户,征求意见不实,问题不整改、虚假整改、整改不彻底",
        "interview_tiers": "由街道纪工委对包村居干部和社区“两委”成员进行约谈",
        "questions": "附件2…入户访问参考【7 个民生事项问题与 2 个开放问题，逐字】",
        "card_fields": "通过印制便民服务卡、互留微信等方式,与走访群众保持经常性联系",
    },
)  # fmt: skip

_preset(
    "001",
    "按 001 党员干部全员联户",
    "001_abf585d0f15e6f2e.txt",
    {
        "window": "year",
        "counted_methods": ["in_person", "meeting"],
        "link_period": "half_year",
        "secretary_sweep": False,
        "weekly_groups": [],
        "checklist": CHECKLIST_001,
        "card_fields": ["name", "unit", "position", "phone", "supervision_phone", "departments"],
    },
    {
        "window": "聯(lián)戶黨員干部每人每年到聯(lián)系戶走訪不少于2次(上半年、下半年至少各1次)【全年，不以阶段为限】",
        "counted_methods": "每人每年到聯(lián)系戶走訪不少于2次【到户走访；电话是“隨時電話聯(lián)系”，不计入 2 次】",
        "link_period": "每人每年到聯(lián)系戶走訪不少于2次(上半年、下半年至少各1次)",
        "secretary_sweep": "【文件未规定书记“户户到”，不设此目标】",
        "weekly_groups": "【文件未规定每周走访的人群，不设此目标】",
        "checklist": "三了解、四掌握、五到位",
        "card_fields": "設(shè)置“親情卡”,提供相關(guān)責(zé)任單位、責(zé)任人名單及聯(lián)系電話…注明干部姓名、工作單位、職務(wù)、聯(lián)系電話、監(jiān)督電話",
    },
)  # fmt: skip

_preset(
    "003",
    "按 003 镇村两级书记大走访",
    "003_ea56047dd927a932.txt",
    {
        "window": "stages",
        "counted_methods": ["in_person", "meeting"],
        "secretary_sweep": False,
        "weekly_groups": [],
        "leader_days_per_month": 10,
        "leader_households_per_month": 50,
        "leader_methods": ["in_person", "meeting"],
        "leader_groups": ["上访老户", "困难群众", "老党员", "老干部", "老模范", "下岗失业人员", "进城务工人员", "致富带头人"],
        "interview_tiers": [STREET_STAFF, SECRETARY, COMMITTEE],
    },
    {
        "window": "大走访活动从2023年3月1日至2023年12月底结束",
        "counted_methods": "通过入户走访、座谈、发放社情民意征集表等各种有效途径到群众一线",
        "secretary_sweep": "村(居)党组织书记要把知民情、解民忧、化民怨、暖民心作为经常性工作【未定户数，不设“户户到”】",
        "weekly_groups": "【文件未规定每周走访的人群，不设此目标】",
        "leader_days_per_month": "镇党政主要领导及党政班子成员每月至少安排10天时间进村入户",
        "leader_households_per_month": "每月至少安排10天时间进村入户,走访不少于50户",
        "leader_methods": "进村入户",
        "leader_groups": "重点走访上访户、困难户、老党员、老干部、老模范、城镇下岗…失业人员和进城务工人员、农村致富带头人",
        "interview_tiers": "镇、村两级党组织书记带头…并作为党组织负责人年终述职、年度考评的重要内容【村(居)书记与包村干部、两委成员一并约谈】",
    },
)  # fmt: skip

_preset(
    "004",
    "按 004 四步“走亲”工作法",
    "004_9718576ac7119261.txt",
    {
        "window": "year",
        "counted_methods": ["in_person", "meeting", "wechat"],
        "weekly_groups": ["高龄老人", "孤寡老人", "卧床病人", "单亲儿童"],
        "weekly_days": 7,
        "weekly_tiers": [SECRETARY, COMMITTEE],
        "weekly_methods": ["in_person"],
        "secretary_sweep": False,
        "leader_groups": ["困难群众", "低保户", "留守儿童"],
        "classes": [
            {"code": "general", "label": "立刻办理", "days": 15},
            {"code": "major", "label": "定期办理", "days": 30},
            {"code": "grave", "label": "做好解释工作长期推进", "days": 60},
        ],
    },
    {
        "window": "组织全体社区干部开展主动“认亲”活动【常态化，不分阶段：全年】",
        "counted_methods": "采取进家门、扫微信、聊家常、发放“连心卡”等方式,与网格居民家庭逐一“认亲”,一户不落",
        "weekly_groups": "针对高龄老人、孤寡老人、卧床病人、单亲儿童等居民…作为日常重点“探亲”对象",
        "weekly_days": "社区“两委”干部每周至少上门“探亲”一次",
        "weekly_tiers": "社区“两委”干部每周至少上门“探亲”一次",
        "weekly_methods": "每周至少上门“探亲”一次",
        "secretary_sweep": "【文件未规定书记“户户到”，不设此目标】",
        "leader_groups": "重点关注困难党员、低收入、留守儿童家庭",
        "classes": "按照轻重缓急划分为立刻办理、定期办理以及做好解释工作长期推进等类型【办结天数文件未作规定，沿用产品默认 15 / 30 / 60 个工作日】",
    },
)  # fmt: skip

_preset(
    "000",
    "按 000 深化入户走访、密切联系群众",
    "000_db294703ab10a9b8.txt",
    {
        "window": "stages",
        "link_period": "campaign",
        "secretary_sweep": False,
        "weekly_groups": [],
        "leader_groups": ["驻区企业", "党员代表", "困难群众", "低保户", "残疾人", "上访老户"],
    },
    {
        "window": "(一)动员部署阶段(20xx年x月x日—x月x日)…(二)集中走访阶段(20xx年x月x日—x月x日)…(三)总结提升阶段(20xx年x月x日—x月x日)",
        "link_period": "按照网格化区域分布,分片、分区、分楼进行全覆盖入户走访…实行包片到组、包户到人",
        "secretary_sweep": "【文件未规定书记“户户到”，不设此目标】",
        "weekly_groups": "社区干部和网格长要充分利用自身的地缘优势,定期开展走访活动,重点关注孤寡老人、留守儿童等特殊群体【未定频次，不设每周目标】",
        "leader_groups": "街道班子成员重点走访驻区企业、党员代表、困难家庭、低保户、残疾人、信访人员等群体",
    },
)  # fmt: skip

_preset("", "产品默认（不按某一文件）", "", {}, {}, note="产品默认")

PRESET_CHOICES = [(code, p.label) for code, p in PRESETS.items()]


# ------------------------------------------------------------------------------ reading and writing


def rules_for(campaign) -> Rules:
    """The rulebook of ``campaign`` (cached on the instance; ``update_rules`` refreshes it)."""
    if campaign is None:
        return PRODUCT_DEFAULT
    cached = getattr(campaign, "_rules_cache", None)
    if cached is not None:
        return cached
    preset = PRESETS.get(campaign.preset or "", PRESETS[""])
    stored = dict(campaign.rules or {})
    values = {**stored, **{name: getattr(campaign, name) for name in COLUMNS}}
    # the office's own rules: those stored, and the columns it set to other than the preset's numbers
    base = preset.rules()
    changed = set(stored) | {name for name in COLUMNS if getattr(campaign, name) != getattr(base, name)}
    sources = {k: v for k, v in preset.sources.items() if k not in changed}
    defaulted = {k for k in preset.silent if k not in changed}
    rules = _build({**preset.values, **values}, preset=preset.code, sources=sources, defaulted=defaulted)
    campaign._rules_cache = rules
    return rules


def campaign_on(node, day):
    """The campaign of ``node``'s street (a Node, or its path) running on ``day`` (else its latest);
    None when the street has none. For what has no campaign of its own (an issue, a finding)."""
    from .models import Campaign

    path = node if isinstance(node, str) else node.path
    street = path.split(".")[0] if path else ""
    return Campaign.objects.filter(street__path=street).current(day) if street else None


def rules_on(node, day) -> Rules:
    """The rulebook of ``campaign_on(node, day)``; the product default when there is none."""
    return rules_for(campaign_on(node, day))


def preset_values(code: str) -> dict:
    """What creating a campaign from preset ``code`` writes: its stored rules and its columns."""
    preset = PRESETS[code]
    values = {name: _thaw(name, getattr(preset.rules(), name)) for name in FIELDS}
    return values


def apply_preset(campaign, code: str) -> None:
    """Fill an unsaved (or new) campaign's rulebook from preset ``code``: the columns take the
    preset's numbers, ``Campaign.rules`` stays empty (the preset itself is the rest), and the focus
    groups the preset names are created when the register does not know them yet."""
    preset = PRESETS[code]
    rules = preset.rules()
    campaign.preset = code
    campaign.rules = {}
    for name in COLUMNS:
        setattr(campaign, name, getattr(rules, name))
    campaign._rules_cache = None
    ensure_focus_groups(rules)


def ensure_focus_groups(rules: Rules) -> None:
    from households.models import FocusGroup

    known = set()
    for name, aliases in FocusGroup.objects.values_list("name", "aliases"):
        known.add(name)
        known.update(a.strip() for a in (aliases or "").replace(",", "、").split("、") if a.strip())
    names = [*rules.leader_groups, *rules.staff_groups, *rules.weekly_groups, *rules.away_groups]
    for name in dict.fromkeys(names):
        if name not in known:
            FocusGroup.objects.get_or_create(name=name, defaults={"order": 100})


def stored_value(name, value):
    """``value`` as ``Campaign.rules`` keeps it (JSON)."""
    return _thaw(name, value)


def service_domains() -> list[tuple[str, str]]:
    """The service domains a question may file under, [(code, label)]: the ledger's, named by the
    ``RULEBOOK_DOMAINS`` setting (the plan may not import the ledger, which sits above it)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    return [(str(code), str(label)) for code, label in import_string(settings.RULEBOOK_DOMAINS)]


_NUMBERS = {
    "min_visit_minutes": (0, 240),
    "takeover_grace_days": (0, 365),
    "weekly_days": (1, 31),
    "leader_days_per_month": (0, 31),
    "leader_households_per_month": (0, 1000),
    "street_staff_share": (0, 100),
    "plan_days": (1, 60),
    "full_score": (1, 100000),
    "points_per_finding": (0, 1000),
    "interview_at": (1, 1000),
}
_CODES = {
    "counted_methods": METHODS,
    "away_only_methods": METHODS,
    "timed_methods": METHODS,
    "weekly_methods": METHODS,
    "leader_methods": METHODS,
    "deduct_kinds": FINDINGS,
    "interview_kinds": FINDINGS,
    "card_fields": CARD_FIELDS,
}
_CHOICES = {"window": WINDOWS, "link_period": PERIODS, "review_by": REVIEWERS}


def rule_errors(changes: dict) -> dict[str, str]:
    """{rule: what is wrong} for the values of ``changes`` (empty when all are valid), in Chinese,
    naming the rule: the one check for the edit page and ``update_rules``."""
    errors = {}
    for name, value in changes.items():
        label = LABELS.get(name, name)
        if name not in FIELDS:
            errors[name] = f"未知的规则：{name}"
        elif name in _NUMBERS:
            low, high = _NUMBERS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors[name] = f"“{label}”须为 {low} 至 {high} 之间的整数"
        elif name in _CODES:
            unknown = [v for v in value if v not in _CODES[name]]
            if unknown:
                errors[name] = f"“{label}”中有不认识的项：{'、'.join(map(str, unknown))}"
        elif name in _CHOICES and value not in _CHOICES[name]:
            errors[name] = f"“{label}”只能是：{'、'.join(_CHOICES[name].values())}"
        elif name in ("secretary_sweep", "pace_targets") and not isinstance(value, bool):
            errors[name] = f"“{label}”须为是或否"
        elif name in ("weekly_tiers", "interview_tiers") and any(t not in range(1, 7) for t in value):
            errors[name] = f"“{label}”中有不认识的层级"
        elif name == "classes":
            errors.update(_class_errors(value, label))
        elif name == "questions":
            errors.update(_question_errors(value, label))
        elif name == "checklist":
            labels = [item[1] for _group, items in value for item in items]
            if any(not str(x).strip() for x in labels):
                errors[name] = f"“{label}”的每一项都须有文字"
    return errors


def _class_errors(value, label) -> dict:
    classes = [dict(c) for c in value]
    if sorted(c.get("code") for c in classes) != sorted(CLASS_CODES):
        return {"classes": f"“{label}”须有且只有三类：一般、较大、重大（可改名称和天数）"}
    for c in classes:
        if not str(c.get("label", "")).strip():
            return {"classes": f"“{label}”的每一类都须有名称"}
        days = c.get("days")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            return {"classes": f"“{label}”中“{c.get('label')}”的办结时限须为 1 至 365 个工作日"}
    return {}


def _question_errors(value, label) -> dict:
    questions = [dict(q) for q in value]
    codes = [q.get("code") for q in questions]
    if len(set(codes)) != len(codes) or not all(codes):
        return {"questions": f"“{label}”的问题编号须各不相同"}
    for n, q in enumerate(questions, start=1):
        if not str(q.get("text", "")).strip():
            return {"questions": f"“{label}”第 {n} 题没有题目文字"}
        known = dict(service_domains())
        unknown = [d for d in q.get("domains", ()) if d not in known]
        if unknown:
            return {"questions": f"“{label}”第 {n} 题的问题领域不认识：{'、'.join(unknown)}"}
    return {}


# Apps above the plan register what must follow a rule change: fn(campaign, changed rule names).
_LISTENERS: list[Callable] = []


def on_rules_changed(listener: Callable) -> Callable:
    _LISTENERS.append(listener)
    return listener


def describe_value(name: str, value) -> str:
    """A rule's value in words (the rulebook page, the change log)."""
    if name == "window":
        return WINDOWS.get(value, value)
    if name == "link_period":
        return PERIODS.get(value, value)
    if name == "review_by":
        return REVIEWERS.get(value, value)
    if name in ("counted_methods", "away_only_methods", "timed_methods", "weekly_methods", "leader_methods"):
        return "、".join(METHODS.get(m, m) for m in value) or "（无）"
    if name in ("weekly_tiers", "interview_tiers"):
        from .models import Tier

        return "、".join(Tier(t).label for t in value) or "（无）"
    if name in ("deduct_kinds", "interview_kinds"):
        return "、".join(FINDINGS.get(k, k) for k in value) or "（无）"
    if name == "card_fields":
        return "、".join(CARD_FIELDS.get(k, k) for k in value)
    if name == "classes":
        return "；".join(f"{dict(c)['label']} {dict(c)['days']} 个工作日" for c in value)
    if name == "questions":
        return f"{len(value) or len(DEFAULT_QUESTIONS)} 个问题"
    if name == "checklist":
        groups = value or CHECKLIST_001
        return "；".join(f"{g}：" + "、".join(label for _c, label in items) for g, items in groups)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value) or "（无）"
    if value in ("", None):
        return "（未设）"
    return str(value)


@transaction.atomic
def update_rules(campaign, changes: dict, *, user=None, version: int | None = None) -> list[str]:
    """Change rules of ``campaign`` (``{rule: value}``); logs each change and tells the listeners.
    Returns the names of the rules that changed. ``version``: the campaign's version the editor's
    page was rendered with; if someone saved the campaign since, nothing is changed
    (``StaleEditError``, core/versioning.py)."""
    from core.versioning import StaleEditError

    from .models import Campaign, RuleChange

    given, campaign = campaign, Campaign.objects.select_for_update().get(pk=campaign.pk)
    if version is not None and version != campaign.version:
        raise StaleEditError()
    errors = rule_errors(changes)
    if errors:
        from django.core.exceptions import ValidationError

        raise ValidationError(errors)
    before = rules_for(campaign)
    stored = dict(campaign.rules or {})
    changed = []
    for name, value in changes.items():
        if getattr(before, name) == getattr(_build({name: value}), name):
            continue
        changed.append(name)
        if name in COLUMNS:
            setattr(campaign, name, value)
        else:
            stored[name] = stored_value(name, value)
    if not changed:
        return []
    campaign.rules = stored
    campaign._rules_cache = None
    campaign.save()
    after = rules_for(campaign)
    RuleChange.objects.bulk_create(
        RuleChange(campaign=campaign, user=user, rule=name, label=LABELS.get(name, name),
                   before=describe_value(name, getattr(before, name)), after=describe_value(name, getattr(after, name)))
        for name in changed
    )  # fmt: skip
    ensure_focus_groups(after)
    # the caller's copy reads the new rules too
    given.rules, given.version, given._rules_cache = campaign.rules, campaign.version, None
    for name in COLUMNS:
        setattr(given, name, getattr(campaign, name))
    for listener in _LISTENERS:
        listener(campaign, frozenset(changed))
    return changed


@transaction.atomic
def switch_preset(campaign, code: str, *, user=None, version: int | None = None) -> list[str]:
    """Make ``campaign`` follow preset ``code`` from now on (a campaign created before the rulebook
    follows the product default): every rule becomes the document's, the office's own changes are
    dropped; logged as one change of 依据文件 and one per rule that moved; the listeners recompute.
    Returns the rules that changed."""
    from core.versioning import StaleEditError

    from .models import Campaign, RuleChange

    if code not in PRESETS:
        raise ValueError(f"未知的依据文件：{code}")
    given, campaign = campaign, Campaign.objects.select_for_update().get(pk=campaign.pk)
    if version is not None and version != campaign.version:
        raise StaleEditError()
    before, old = rules_for(campaign), PRESETS.get(campaign.preset or "", PRESETS[""])
    apply_preset(campaign, code)
    campaign.save()
    after = rules_for(campaign)
    changed = [name for name in LABELS if getattr(before, name) != getattr(after, name)]
    RuleChange.objects.bulk_create(
        [RuleChange(campaign=campaign, user=user, rule="preset", label="依据文件", before=old.label,
                    after=PRESETS[code].label)]
        + [RuleChange(campaign=campaign, user=user, rule=name, label=LABELS[name],
                      before=describe_value(name, getattr(before, name)),
                      after=describe_value(name, getattr(after, name))) for name in changed]
    )  # fmt: skip
    given.preset, given.rules, given.version, given._rules_cache = code, {}, campaign.version, None
    for name in COLUMNS:
        setattr(given, name, getattr(campaign, name))
    if changed:
        for listener in _LISTENERS:
            listener(campaign, frozenset(changed))
    return changed


# Each rule's name on the rulebook page, in the order of the page, with its section.
SECTIONS = [
    ("走访期间与方式", [
        ("window", "走访期间"),
        ("counted_methods", "计入走访任务的方式"),
        ("away_only_methods", "仅对长期在外户计入的方式"),
        ("away_groups", "长期在外户的标记（重点人群）"),
        ("min_visit_minutes", "每次走访不少于（分钟）"),
        ("timed_methods", "时长要求适用的方式"),
        ("takeover_grace_days", "接手户的宽限天数"),
    ]),
    ("走访任务", [
        ("link_period", "包户干部：每户走访"),
        ("secretary_sweep", "社区（村）书记年内“户户到”"),
        ("weekly_groups", "每周走访的重点人群"),
        ("weekly_days", "每周走访：每隔（天）"),
        ("weekly_tiers", "每周走访由谁负责"),
        ("weekly_methods", "每周走访计入的方式"),
        ("leader_days_per_month", "班子成员每月走访天数"),
        ("leader_households_per_month", "班子成员每月走访户数"),
        ("leader_methods", "班子成员每月任务计入的方式"),
        ("street_staff_share", "街道干部覆盖社区户数不低于（%）"),
        ("pace_targets", "落后按进度计算（目标按天折算）"),
    ]),
    ("重点走访对象", [
        ("leader_groups", "班子成员重点走访"),
        ("staff_groups", "街道干部重点走访"),
    ]),
    ("问题整改", [
        ("plan_days", "提出解决方案（工作日）"),
        ("classes", "问题类别与办结时限"),
        ("review_by", "诉求审核"),
    ]),
    ("督导考核（千分制）", [
        ("full_score", "基础分"),
        ("points_per_finding", "每起问题扣分"),
        ("deduct_kinds", "扣分的问题"),
        ("interview_at", "约谈起点（起）"),
        ("interview_kinds", "计入约谈的问题"),
        ("interview_tiers", "约谈对象"),
    ]),
    ("走访内容与亲情卡", [
        ("questions", "入户必问"),
        ("checklist", "三了解、四掌握、五到位"),
        ("card_fields", "亲情卡印制内容"),
        ("supervision_phone", "监督电话"),
    ]),
]  # fmt: skip
LABELS = {name: label for _section, rules in SECTIONS for name, label in rules}


def rulebook_rows(campaign) -> list[tuple[str, list[dict]]]:
    """The rulebook page: per section, each rule's label, value in words, source (the document's
    words), note (ours on them), whether the product default stands and whether the office changed it."""
    rules = rules_for(campaign)
    preset = PRESETS.get(campaign.preset or "", PRESETS[""]).rules()
    own = set(campaign.rules or {}) | {n for n in COLUMNS if getattr(campaign, n) != getattr(preset, n)}
    out = []
    for section, items in SECTIONS:
        rows = []
        for name, label in items:
            value = getattr(rules, name)
            source = rules.sources.get(name, "")
            rows.append({
                "name": name,
                "label": label,
                "value": describe_value(name, value),
                # the document's words, and our note on them (written 【…】 in the preset)
                "source": re.sub(r"【[^】]*】", "", source).strip(),
                "note": "；".join(re.findall(r"【([^】]*)】", source)),
                "defaulted": name in rules.defaulted,
                "own": name in own,
            })  # fmt: skip
        out.append((section, rows))
    return out
