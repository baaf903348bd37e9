"""The content of the visit form (the campaign plan, "a visit"): the nine 入户必问 questions, one per
public-service domain (the domains are the ledger's: issues/domains.py), and the 三了解 / 四掌握 /
五到位 checklist, and both as read back (``answered``, ``ticked``: the visit page and the admin)."""

from issues.domains import SERVICE_DOMAINS

# 入户必问: what the cadre asks for each domain (keyed by its code), in the words of the campaign's question sheet.
QUESTIONS = {
    "childcare": "家中有无0–3岁婴幼儿？托育、入园、生育政策方面有无困难？",
    "education": "孩子上学、升学、课后托管、学生资助方面有无困难？",
    "employment": "家庭成员就业、创业、技能培训、工资发放方面有无困难？",
    "health": "看病就医、慢病用药、家庭医生签约、医保报销方面有无困难？",
    "elderly": "老人养老、助餐、居家照护、养老金领取方面有无困难？",
    "living": "住房、物业、供暖供水、道路照明、加装电梯方面有无问题？",
    "welfare": "低保、特困、残疾人补贴、临时救助等方面有无需要帮扶？",
    "culture": "对社区文化活动、健身场地、图书阅读有何需求？",
    "safety": "消防、治安、交通、电动车充电、防诈骗等方面有无隐患？",
}

# 三了解 / 四掌握 / 五到位: (group, [(code, label)]); the codes are stored on the visit.
CHECKLIST = [
    ("三了解", [("know_family", "家庭成员"), ("know_living", "生活状况"), ("know_work", "工作情况")]),
    (
        "四掌握",
        [
            ("grasp_thoughts", "思想动态"),
            ("grasp_hardship", "生活困难"),
            ("grasp_employment", "就业状况"),
            ("grasp_wishes", "愿望诉求"),
        ],
    ),
    (
        "五到位",
        [
            ("done_policy", "政策宣传到位"),
            ("done_opinions", "意见收集到位"),
            ("done_answers", "问题解答到位"),
            ("done_requests", "诉求办理到位"),
            ("done_care", "关心关爱到位"),
        ],
    ),
]
CHECKLIST_CODES = [code for _group, items in CHECKLIST for code, _label in items]
CHECKLIST_LABELS = {code: label for _group, items in CHECKLIST for code, label in items}


def answered(answers) -> list[tuple[str, str, str, bool]]:
    """入户必问 as read: (domain, question, answer, needs help) for each domain answered, in the
    order of the question sheet (the labels: issues/domains.py, the questions: visits/questionnaire.py)."""
    rows = []
    for code, label in SERVICE_DOMAINS:
        value = (answers or {}).get(code)
        if not isinstance(value, dict):
            continue
        text = str(value.get("answer") or "").strip()
        needs_help = bool(value.get("needs_help"))
        if text or needs_help:
            rows.append((label, QUESTIONS.get(code, ""), text, needs_help))
    return rows


def ticked(checklist) -> list[tuple[str, list[str]]]:
    """三了解 · 四掌握 · 五到位 as read: (group, the labels ticked) for each group with one ticked."""
    chosen = set(checklist or ())
    groups = [(group, [label for code, label in items if code in chosen]) for group, items in CHECKLIST]
    return [(group, labels) for group, labels in groups if labels]
