"""Demo visits for ``seed_demo``: a campaign well under way, so "my households", the colours of
"last visited" and the targets look like a real December.

- 包户 cadres (tiers 2, 3, 5, 6) visited about three households in four in the first half-year and
  a little over half again in the second; some attempts found nobody home (未遇);
- the secretaries' 户户到 sweep is about half done; leaders saw most of their focus households;
- community cadres call on the weekly focus households (高龄, 孤寡, 卧床, 单亲儿童) most weeks.

Visits are bulk-inserted (the rules of ``visits.rules`` hold for every row: dates inside the
campaign and not after today, 30 minutes or a reason).
"""

import datetime

from households.models import FocusGroup
from visitplan.allocation import LINK_TIERS
from visitplan.models import Assignment, Cadre, StageKind, Tier

from . import rules, tally
from .models import Satisfaction, Visit, VisitMethod
from .questionnaire import checklist_codes, questions

ANSWERS = {
    "elderly": ["老人身体尚可，想了解助餐点", "希望有人定期上门量血压", "无"],
    "health": ["慢病用药需每月去医院开药", "已签约家庭医生", "无"],
    "living": ["楼道灯不亮", "屋顶雨天渗水", "无"],
    "employment": ["孩子待业，想参加技能培训", "在企业上班，收入稳定", "无"],
    "welfare": ["咨询低保复核材料", "无"],
    "safety": ["楼下有电动车飞线充电", "无"],
}
SHORT_REASONS = ["居民有事外出，约定改日详谈", "老人需休息，简要了解情况", "居民上班途中，电话补充了解"]
NOTES = [
    "家中整洁，老人精神状态好",
    "子女在外地工作，平时电话联系",
    "对社区工作比较满意",
    "反映的问题已记录，回社区后跟进",
    "",
]


def _day_between(rng, first, last):
    if last < first:
        return None
    return first + datetime.timedelta(days=rng.randrange((last - first).days + 1))


def seed_visits(*, campaign, rng, today) -> dict:
    """Create the demo visits of ``campaign``; returns {label: count}."""
    visit_stage = campaign.stage(StageKind.VISIT)
    if visit_stage is None:
        return {}
    first, last = max(visit_stage.starts_on, campaign.span()[0]), min(campaign.span()[1], today)
    h1_end = min(datetime.date(campaign.year, 6, 30), last)
    h2_start = datetime.date(campaign.year, 7, 1)
    weekly = set(
        FocusGroup.objects.filter(name__in=rules.rules_for(campaign).weekly_groups)
        .values_list("households", flat=True)
        .exclude(households=None)
    )
    assignments = list(
        Assignment.objects.filter(campaign=campaign, cadre__active=True).values_list("household_id", "cadre_id", "tier")
    )
    users = dict(Cadre.objects.filter(pk__in={a[1] for a in assignments}).values_list("pk", "user_id"))
    book = rules.rules_for(campaign)
    # The demo answers are per domain: each goes to the campaign's question asking about it.
    asked = {}
    for q in questions(book):
        for domain in q.domains:
            asked.setdefault(domain, q.code)
    codes = checklist_codes(book)
    visits = []

    def add(household_id, cadre_id, day, *, method=VisitMethod.IN_PERSON):
        if day is None or not first <= day <= last:
            return
        if method == VisitMethod.NOT_HOME:
            visits.append(Visit(campaign=campaign, household_id=household_id, cadre_id=cadre_id, visited_on=day,
                                method=method, notes="敲门无人应答，已留联系卡"))  # fmt: skip
            return
        start = datetime.time(rng.choice([8, 9, 10, 14, 15, 16, 19]), rng.choice([0, 10, 20, 30, 40]))
        short = rng.random() < 0.05
        minutes = rng.randint(15, 25) if short else rng.randint(30, 75)
        end = (datetime.datetime.combine(day, start) + datetime.timedelta(minutes=minutes)).time()
        domains = rng.sample(list(ANSWERS), rng.randint(2, 4))
        answers = {}
        for domain in domains:
            text = rng.choice(ANSWERS[domain])
            if domain in asked and asked[domain] not in answers:
                answers[asked[domain]] = {"answer": text, "needs_help": text != "无" and rng.random() < 0.3}
        visits.append(
            Visit(
                campaign=campaign,
                household_id=household_id,
                cadre_id=cadre_id,
                visited_on=day,
                method=method,
                started_at=start,
                ended_at=end,
                duration_minutes=minutes,
                short_reason=rng.choice(SHORT_REASONS) if short else "",
                answers=answers,
                checklist=[c for c in codes if rng.random() < 0.85],
                card_given=rng.random() < 0.85,
                satisfaction=rng.choices(
                    [Satisfaction.SATISFIED, Satisfaction.BASIC, Satisfaction.UNSATISFIED], [80, 17, 3]
                )[0],
                notes=rng.choice(NOTES),
            )  # fmt: skip
        )

    for household_id, cadre_id, tier in assignments:
        if tier in LINK_TIERS:
            if rng.random() < 0.04:
                add(household_id, cadre_id, _day_between(rng, first, h1_end), method=VisitMethod.NOT_HOME)
            if rng.random() < 0.75:
                add(household_id, cadre_id, _day_between(rng, first, h1_end))
            if rng.random() < 0.55:
                add(household_id, cadre_id, _day_between(rng, h2_start, last))
        elif tier == Tier.SECRETARY and rng.random() < 0.5:
            add(household_id, cadre_id, _day_between(rng, first, last))
        elif tier == Tier.LEADER and rng.random() < 0.7:
            add(household_id, cadre_id, _day_between(rng, max(first, last - datetime.timedelta(days=60)), last))
        if household_id in weekly and tier in (Tier.COMMITTEE, Tier.GRID_WORKER):
            for week in range(3):  # the last three weeks, most of them
                if rng.random() < 0.6:
                    add(household_id, cadre_id, last - datetime.timedelta(days=7 * week + rng.randrange(5)))
    for visit in visits:
        visit.created_by_id = users.get(visit.cadre_id)
    Visit.objects.bulk_create(visits, batch_size=2000)
    # bulk_create bypasses Visit.save (whether each counts) and visit_record (the tallies): the
    # rebuild recounts and tallies them
    tally.rebuild(campaign)
    return {"走访记录": len(visits), "其中未遇": sum(1 for v in visits if v.method == VisitMethod.NOT_HOME)}
