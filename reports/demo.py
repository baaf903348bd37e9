"""Demo supervision for ``seed_demo``: a few findings, so the 千分制 ranking and the 约谈 list show.

Each finding goes through ``reports.supervision.finding_record`` as the street admin would record
it: three in the first community (its 包村居 staff and 两委 on the interview list), one elsewhere.
"""

from households.models import NodeKind
from households.roles import STREET_ADMIN
from visits.models import Visit

from .supervision import finding_record

PLAN = [(0, "fake_visit", "phone", "电话调查：居民表示当天无人上门，台账记录入户40分钟"),
        (0, "not_visited", "onsite", "实地巡查：该户门上无走访联系卡，邻居称未见干部"),
        (0, "fake_visit", "phone", "电话调查：居民表示仅接到电话，未入户"),
        (2, "not_visited", "online", "网上抽查：走访记录无入户必问内容，时长不足且无说明")]  # fmt: skip


def seed_findings(*, campaign, admin, today) -> int:
    communities = list(campaign.street.children.filter(kind=NodeKind.COMMUNITY).order_by("path"))
    if not communities or admin is None or not admin.groups.filter(name=STREET_ADMIN).exists():
        return 0
    made = 0
    for index, kind, method, evidence in PLAN:
        community = communities[index % len(communities)]
        visit = (
            Visit.objects.counted().filter(campaign=campaign, household__community=community, visited_on__lte=today)
            .select_related("household__community", "cadre").order_by("-visited_on", "id")[made : made + 1].first()
        )  # fmt: skip
        if visit is None:
            continue
        finding_record(by=admin, campaign=campaign, kind=kind, method=method, visit=visit, evidence=evidence,
                       found_on=min(today, visit.visited_on.replace(day=min(visit.visited_on.day + 3, 28))))  # fmt: skip
        made += 1
    return made
