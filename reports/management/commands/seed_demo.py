"""Demo data: a believable street office with its register, cadres of every tier and a campaign.

Steps:
1. the tree: 湖田街道 → 6 communities → 5–6 grids each → buildings (青山社区 is 平房, no buildings),
   each building at a place of its own (经度 / 纬度, ``building_place``) for the 网格图;
2. the register: households with members, valid ID numbers and phones, focus-group tags (bulk inserts);
3. departments, and cadres of all six tiers with logins in the role groups (password ``demo12345``);
4. the 2026 campaign with its five stages and the departments' quotas (安排表);
5. the allocation (包户到人), the visits so far (visits/demo.py), the issue ledger (issues/demo.py),
   a few supervision findings (reports/demo.py), then the demo logins as a table;
6. with ``--streets N`` (N > 1): the district 张店区 of 湖田街道 and N-1 smaller streets, each with
   its own communities, grids, register, cadres, campaign, visits and issues (its own random
   stream, so 湖田街道 is the same whatever N), and the district's logins ``district_leader`` /
   ``district_admin``. Without it the demo is exactly the one-street demo.

The generators of people, households and addresses are module-level so that the benchmark
(bench/bench_register.py) builds its register file from the same kind of data.
"""

import datetime
import math
import random
import time
import unicodedata
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from households import roles
from households.models import Building, Community, FocusGroup, Grid, Household, Member, Street
from households.register import address_key
from households.validators import id_check_char

DEMO_PASSWORD = "demo12345"
STREET_NAME = "湖田街道"
REFERENCE_YEAR = 2026  # ages are computed against the campaign year, so a seed gives the same data any day
LATEST_BIRTH_YEAR = REFERENCE_YEAR - 1  # nobody born after the validators' "today"

# (name, pinyin for usernames); the seeder uses the first six, the benchmark all ten.
COMMUNITIES = [
    ("湖田社区", "hutian"),
    ("南纬社区", "nanwei"),
    ("平川社区", "pingchuan"),
    ("福兴社区", "fuxing"),
    ("东风社区", "dongfeng"),
    ("青山社区", "qingshan"),
    ("北岭社区", "beiling"),
    ("西湖社区", "xihu"),
    ("新华社区", "xinhua"),
    ("和平社区", "heping"),
]
BUNGALOW_COMMUNITIES = {"青山社区"}  # a former village: single-storey houses along lanes, no 楼栋
LANES = ["青山路", "青山东巷", "青山西巷", "果园路", "北坡街", "南岭巷", "河沿街", "槐树巷"]

# --streets: the district and the smaller streets beside 湖田街道 (name, pinyin, its communities).
DISTRICT_NAME = "张店区"
EXTRA_STREETS = [
    ("车站街道", "chezhan", ["站北社区", "站南社区"]),
    ("公园街道", "gongyuan", ["公园东社区", "公园西社区"]),
    ("科苑街道", "keyuan", ["科苑社区", "金晶社区"]),
    ("体育场街道", "tiyuchang", ["体育场社区", "共青团社区"]),
    ("马尚街道", "mashang", ["马尚社区", "光明社区"]),
    ("四宝山街道", "sibaoshan", ["四宝山社区", "沣水社区"]),
]

DEPARTMENTS = [
    ("区民政局", "minzheng"),
    ("区人社局", "renshe"),
    ("区住建局", "zhujian"),
    ("区城管局", "chengguan"),
    ("区卫健局", "weijian"),
    ("区教体局", "jiaoti"),
]

# Zibo districts (淄川 / 张店 / 博山 / 临淄) for locals; a few residents were born elsewhere.
LOCAL_REGIONS = ["370302", "370303", "370304", "370305"]
OTHER_REGIONS = ["370321", "371402", "372923", "410823", "130423", "341221"]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤"
)
# Given names by generation, the way they sound in a register.
GIVEN_NAMES = {
    ("old", "M"): [
        "建国",
        "建华",
        "国庆",
        "德明",
        "福生",
        "长顺",
        "振华",
        "春生",
        "志刚",
        "永福",
        "国强",
        "文华",
        "树林",
        "玉山",
        "庆丰",
    ],
    ("old", "F"): [
        "秀英",
        "桂英",
        "玉兰",
        "秀兰",
        "桂兰",
        "凤英",
        "淑珍",
        "玉珍",
        "桂芝",
        "秀珍",
        "凤兰",
        "素芳",
        "金花",
        "翠兰",
    ],
    ("mid", "M"): [
        "伟",
        "强",
        "磊",
        "军",
        "勇",
        "涛",
        "斌",
        "刚",
        "杰",
        "建军",
        "海波",
        "晓东",
        "志强",
        "立新",
        "红军",
        "明",
    ],
    ("mid", "F"): ["静", "丽", "敏", "燕", "艳", "娟", "霞", "芳", "红梅", "丽华", "春梅", "晓燕", "海燕", "玲", "萍"],
    ("young", "M"): [
        "浩",
        "宇",
        "鑫",
        "帅",
        "浩然",
        "子轩",
        "宇轩",
        "俊杰",
        "博文",
        "天宇",
        "一鸣",
        "子豪",
        "晨阳",
        "嘉豪",
    ],
    ("young", "F"): [
        "婷",
        "雪",
        "琳",
        "欣怡",
        "梓涵",
        "诗涵",
        "一诺",
        "雨欣",
        "佳琪",
        "可馨",
        "思雨",
        "子涵",
        "梦瑶",
        "悦",
    ],
}

MOBILE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156",
    "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181", "182", "183", "185", "186",
    "187", "188", "189", "191", "198", "199",
]  # fmt: skip
AREA_CODE = "0533"

# Roughly 15% of households carry a focus-group tag; 高龄老人 and 老党员 are the common ones.
TAGGED_SHARE = 0.15
TAG_WEIGHTS = {
    "高龄老人": 25,
    "老党员": 22,
    "低保户": 10,
    "困难群众": 10,
    "残疾人": 9,
    "孤寡老人": 7,
    "留守儿童": 6,
    "卧床病人": 5,
    "单亲儿童": 4,
    "上访老户": 3,
    "特殊困难群体": 3,
}
_CHILD_TAGS = {"留守儿童", "单亲儿童"}
_INCOMPATIBLE = [_CHILD_TAGS, {"留守儿童", "高龄老人"}, {"留守儿童", "孤寡老人"}, {"留守儿童", "老党员"},
                 {"单亲儿童", "高龄老人"}, {"单亲儿童", "孤寡老人"}, {"单亲儿童", "老党员"}]  # fmt: skip

OCCUPATIONS = [
    ("企业职工", 30), ("个体经营", 12), ("灵活就业", 10), ("外出务工", 8), ("机关事业单位", 6), ("教师", 4),
    ("医护人员", 4), ("快递员", 3), ("网约车司机", 3), ("餐饮服务", 4), ("社区工作者", 2), ("待业", 6),
]  # fmt: skip


# Where the demo street lies (WGS-84): its buildings in a compact cluster south-east of this corner.
DEMO_ORIGIN = (116.400000, 39.910000)
_METRES_PER_DEGREE = 111_320  # of latitude; of longitude times cos(latitude)


def building_place(community_index, grid_number, index) -> tuple[Decimal, Decimal]:
    """(经度, 纬度) of the ``index``-th building of a grid: communities in blocks of 420 m (three
    across), their grids in blocks of 150 m (three across), the buildings four to a row, 34 m apart
    and 28 m between rows, give or take a few metres. Arithmetic only: the seed's random draws stay
    the same, and so does every other demo figure."""
    east = (community_index % 3) * 420 + ((grid_number - 1) % 3) * 150 + (index % 4) * 34 + (index * 7) % 5
    south = (community_index // 3) * 420 + ((grid_number - 1) // 3) * 150 + (index // 4) * 28 + (index * 3) % 4
    longitude = DEMO_ORIGIN[0] + east / (_METRES_PER_DEGREE * math.cos(math.radians(DEMO_ORIGIN[1])))
    latitude = DEMO_ORIGIN[1] - south / _METRES_PER_DEGREE
    places = Decimal("0.000001")
    return Decimal(repr(longitude)).quantize(places), Decimal(repr(latitude)).quantize(places)


def split_evenly(total, weights):
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    parts = [int(x) for x in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


class People:
    """Names, ID numbers (GB 11643, unique within one generator) and phones, from one seeded RNG."""

    def __init__(self, rng):
        self.rng = rng
        self._ids = set()
        self._phones = set()

    def gender(self, male_share=0.5):
        return "M" if self.rng.random() < male_share else "F"

    def surname(self):
        # The first dozen surnames cover about half of the population.
        if self.rng.random() < 0.5:
            return self.rng.choice(SURNAMES[:12])
        return self.rng.choice(SURNAMES)

    def name(self, gender, birth_year, surname=None):
        generation = "old" if birth_year < 1960 else "mid" if birth_year < 1990 else "young"
        return (surname or self.surname()) + self.rng.choice(GIVEN_NAMES[(generation, gender)])

    def birth_date(self, year):
        year = min(year, LATEST_BIRTH_YEAR)
        return datetime.date(year, 1, 1) + datetime.timedelta(days=self.rng.randrange(365))

    def id_number(self, born, gender):
        regions = LOCAL_REGIONS if self.rng.random() < 0.92 else OTHER_REGIONS
        while True:
            order = self.rng.randrange(500) * 2 + (1 if gender == "M" else 0)  # odd = male
            first17 = f"{self.rng.choice(regions)}{born:%Y%m%d}{order:03d}"
            if first17 not in self._ids:
                self._ids.add(first17)
                return first17 + id_check_char(first17)

    def mobile(self):
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self._phones:
                self._phones.add(number)
                return number

    def phone(self):
        if self.rng.random() < 0.05:
            return f"{AREA_CODE}-{self.rng.randint(2, 8)}{self.rng.randrange(10**6):06d}"
        return self.mobile()

    def pick_tags(self):
        if self.rng.random() >= TAGGED_SHARE:
            return []
        names, weights = list(TAG_WEIGHTS), list(TAG_WEIGHTS.values())
        tags = [self.rng.choices(names, weights)[0]]
        if self.rng.random() < 0.3:
            second = self.rng.choices(names, weights)[0]
            if second not in tags and not any({tags[0], second} <= pair for pair in _INCOMPATIBLE):
                tags.append(second)
        return tags


def _head_birth_year(rng, tags):
    if "高龄老人" in tags:
        return rng.randint(1930, REFERENCE_YEAR - 80)
    if "孤寡老人" in tags:
        return rng.randint(1932, 1958)
    if "留守儿童" in tags:  # grandparents raising the children of parents working away
        return rng.randint(1954, 1970)
    if "单亲儿童" in tags:
        return rng.randint(1980, 1993)
    if "老党员" in tags:
        return rng.randint(1933, 1962)
    return int(rng.triangular(1940, 2001, 1972))


def _health(rng, age):
    if age < 45:
        return rng.choices(["健康", "良好", "一般"], [70, 25, 5])[0]
    if age < 65:
        return rng.choices(["健康", "良好", "一般", "高血压", "糖尿病"], [35, 30, 15, 12, 8])[0]
    return rng.choices(["良好", "一般", "高血压", "糖尿病", "心脏病", "行动不便"], [20, 25, 25, 12, 10, 8])[0]


def _work(rng, age, gender):
    if age < 3:
        return "学龄前（在家）"
    if age < 6:
        return "幼儿园"
    if age < 12:
        return "小学在读"
    if age < 15:
        return "初中在读"
    if age < 18:
        return rng.choice(["高中在读", "高中在读", "中职在读"])
    if age < 22:
        return rng.choice(["大学在读", "大学在读", "企业职工", "外出务工"])
    if age >= (60 if gender == "M" else 55):
        return rng.choices(["退休", "退休（返聘）", "务农", "无业"], [75, 5, 10, 10])[0]
    names, weights = zip(*OCCUPATIONS)
    return rng.choices(names, weights)[0]


def household_profile(people, tags):
    """One household of the register: head fields, members (dicts) and descriptive text; size = members + 1."""
    rng = people.rng
    head_year = _head_birth_year(rng, tags)
    head_age = REFERENCE_YEAR - head_year
    head_gender = people.gender(0.45 if head_age >= 80 else 0.6)  # older women more often live on as heads
    surname = people.surname()
    head_born = people.birth_date(head_year)
    members = []  # (relation, gender, birth_year, surname or None)

    if "孤寡老人" not in tags:
        single = "单亲儿童" in tags or head_age < 24 or rng.random() < 0.1
        # Children take the father's surname.
        family_name = surname if head_gender == "M" or single else people.surname()
        if not single:
            husband_name = None if head_gender == "M" else family_name
            members.append(("配偶", "F" if head_gender == "M" else "M", head_year + rng.randint(-4, 4), husband_name))
        if "留守儿童" in tags:
            for _ in range(rng.choice([1, 1, 2])):
                members.append(("孙子女", people.gender(), rng.randint(2011, 2020), family_name))
        elif "单亲儿童" in tags:
            for _ in range(rng.choice([1, 1, 2])):
                members.append(("子女", people.gender(), rng.randint(max(head_year + 22, 2009), 2021), surname))
        else:
            n_children = rng.choices([0, 1, 2], [20 if head_age > 30 else 60, 55, 25])[0]
            for _ in range(n_children):
                child_year = head_year + rng.randint(22, 34)
                if child_year > LATEST_BIRTH_YEAR:
                    continue
                child_gender = people.gender()
                members.append(("子女", child_gender, child_year, family_name))
                if REFERENCE_YEAR - child_year >= 26 and rng.random() < 0.3:  # a married child still at home
                    in_law_name = None if child_gender == "M" else people.surname()
                    relation = "儿媳" if child_gender == "M" else "女婿"
                    members.append(
                        (relation, "F" if child_gender == "M" else "M", child_year + rng.randint(-3, 3), in_law_name)
                    )
                    grandchild_year = child_year + rng.randint(24, 32)
                    if grandchild_year <= LATEST_BIRTH_YEAR:
                        members.append(("孙子女", people.gender(), grandchild_year, in_law_name or family_name))
            if head_age < 52 and rng.random() < 0.2:
                parent_year = head_year - rng.randint(24, 32)
                if REFERENCE_YEAR - parent_year <= 95:
                    parent_gender = people.gender(0.4)
                    members.append(("父母", parent_gender, parent_year, surname if parent_gender == "M" else None))
        members = members[:5]

    def person(relation, gender, year, family_name):
        born = people.birth_date(year)
        age = REFERENCE_YEAR - born.year
        return {
            "name": people.name(gender, born.year, family_name),
            "relation": relation,
            "id_number": people.id_number(born, gender),
            "birth_year": born.year,
            "health": _health(rng, age),
            "work": _work(rng, age, gender),
        }

    member_rows = [person(*m) for m in members]
    head_health = _health(rng, head_age)
    if "卧床病人" in tags:
        elders = [m for m in member_rows if REFERENCE_YEAR - m["birth_year"] >= 65]
        if elders:
            elders[0]["health"] = "长期卧床"
        else:
            head_health = "长期卧床"
    if "残疾人" in tags:
        kind = rng.choice(["肢体残疾", "视力残疾", "听力残疾", "智力残疾"])
        grade = rng.choice(["一级", "二级", "三级", "四级"])
        target = rng.choice(member_rows) if member_rows and rng.random() < 0.5 else None
        if target:
            target["health"] = f"{kind}（{grade}）"
        else:
            head_health = f"{kind}（{grade}）"

    notes = ""
    if "留守儿童" in tags:
        notes = "孩子父母在外地务工，由祖父母照看"
    elif "上访老户" in tags:
        notes = rng.choice(["多次反映小区供暖不热问题", "反映房屋漏水问题多年未解决", "对拆迁补偿有异议"])
    elif rng.random() < 0.03:
        notes = "常年在外地居住，可电话联系"

    return {
        "head_name": people.name(head_gender, head_year, surname),
        "head_gender": head_gender,
        "head_birth_year": head_born.year,
        "head_health": head_health,
        "head_work": _work(rng, head_age, head_gender),
        "id_number": people.id_number(head_born, head_gender),
        "phone": people.phone(),
        "size": len(member_rows) + 1,
        "members": member_rows,
        "income_source": _income(rng, tags, head_age, head_gender),
        "notes": notes,
        "tags": list(tags),
    }


def _income(rng, tags, head_age, head_gender):
    if "低保户" in tags:
        return "低保金"
    if "困难群众" in tags or "特殊困难群体" in tags:
        return rng.choice(["低保金、临时救助", "零星务工收入", "残疾人两项补贴、亲属接济"])
    if "孤寡老人" in tags:
        return rng.choice(["特困供养金", "养老金", "退休金"])
    if head_age >= (60 if head_gender == "M" else 55):
        return rng.choices(["退休金", "退休金、子女赡养", "城乡居民养老金", "养老金、务农收入"], [50, 20, 20, 10])[0]
    return rng.choices(["工资性收入", "经营性收入", "务工收入", "工资性收入、租金收入"], [60, 15, 20, 5])[0]


def living_conditions(rng, building_floors, tags):
    if building_floors is None:
        text = f"自建平房，约{rng.randrange(60, 160, 5)}平方米"
    else:
        rooms = rng.choices([1, 2, 3, 4], [10, 45, 38, 7])[0]
        area = {1: 45, 2: 70, 3: 100, 4: 130}[rooms] + rng.randrange(-10, 25, 5)
        owner = rng.choices(["自有住房", "租住", "单位宿舍"], [82, 15, 3])[0]
        text = f"{owner}，{rooms}室{rng.choice([1, 1, 2])}厅，约{area}平方米"
        if building_floors <= 7 and rng.random() < 0.6:
            text += "，老旧小区，无电梯"
    if "低保户" in tags or "困难群众" in tags:
        text += "，家中陈设简陋"
    return text


def grid_addresses(rng, count, first_building_no, bungalow=False, lanes=()):
    """``count`` addresses in one grid: ``[(building_no or None, floors, unit, room)]`` and the next building number.

    Buildings are numbered on through the community (1号楼 …); each is filled to about 85%.
    """
    flats = []
    building_no = first_building_no
    if bungalow:
        per_lane = -(-count * 100 // 85) // max(1, len(lanes)) + 1
        flats = [(None, None, "", f"{lane}{n}号") for lane in lanes for n in range(1, per_lane + 1)]
    else:
        while len(flats) * 85 < count * 100:
            units = rng.choice([2, 3, 3, 4])
            floors = rng.choices([6, 7, 11, 18, 26], [40, 15, 15, 20, 10])[0]
            per_floor = 2 if floors <= 11 else rng.choice([2, 3, 4])
            for u in range(1, units + 1):
                for f in range(1, floors + 1):
                    for d in range(1, per_floor + 1):
                        flats.append((building_no, floors, f"{u}单元", f"{f}{d:02d}"))
            building_no += 1
    chosen = sorted(rng.sample(range(len(flats)), count))
    return [flats[i] for i in chosen], building_no


class Command(BaseCommand):
    help = "生成演示数据：湖田街道的网格、居民底册、各层级干部（带登录账号）和2026年走访活动，并完成包户分配。"

    def add_arguments(self, parser):
        parser.add_argument("--households", type=int, default=5000, help="居民户数（默认5000）")
        parser.add_argument("--if-empty", action="store_true", help="数据库里已有居民户时什么都不做")
        parser.add_argument("--seed", type=int, default=42, help="随机种子（同一种子生成同样的数据）")
        parser.add_argument(
            "--streets",
            type=int,
            default=1,
            help=f"街道数（默认1：只有{STREET_NAME}）；大于1时建{DISTRICT_NAME}：{STREET_NAME}和另外 N-1 个较小的街道，"
            f"最多{len(EXTRA_STREETS) + 1}个",
        )

    def handle(self, *args, households, if_empty, seed, streets=1, **options):
        if Household.objects.exists():
            if if_empty:
                self.stdout.write("数据库里已有居民户，跳过演示数据。")
                return
            raise CommandError("数据库里已有居民户：演示数据只能写进空库（make clean-db 后重试，或加 --if-empty）。")
        if households < 1:
            raise CommandError("--households 至少为1")
        if not 1 <= streets <= len(EXTRA_STREETS) + 1:
            raise CommandError(f"--streets 为1到{len(EXTRA_STREETS) + 1}之间的整数（现在是{streets}）")
        taken = set(
            get_user_model()
            .objects.filter(username__in=["admin", "root", "leader1"])
            .values_list("username", flat=True)
        )
        if taken or Street.objects.filter(name=STREET_NAME).exists():
            raise CommandError(f"演示账号或街道已存在（{', '.join(sorted(taken)) or STREET_NAME}），请在空库上运行。")

        started = time.monotonic()
        self.rng = random.Random(seed)
        self.people = People(self.rng)
        with transaction.atomic():
            street, communities, grids = self.build_tree(households)
            self.stdout.write(
                f"组织架构：1个街道、{len(communities)}个社区、{len(grids)}个网格、{self.building_count}栋楼"
            )
            created = self.build_register(grids)
            self.stdout.write(
                f"居民底册：{created['households']}户、{created['members']}名家庭成员、{created['tags']}个重点人群标记"
            )
            logins = self.build_people(street, communities, grids)
            campaign = self.build_campaign(street, communities)
            self.stdout.write(
                f"走访活动：{campaign}（{campaign.stages.count()}个阶段，{campaign.quotas.count()}条部门包户安排）"
            )

            from visitplan.allocation import allocate

            report = allocate(campaign)
            self.stdout.write("包户分配：")
            for line in report.summary_lines():
                self.stdout.write(f"  {line}")

            from visits.demo import seed_visits

            counts = seed_visits(campaign=campaign, rng=self.rng, today=timezone.localdate())
            self.stdout.write("入户走访台账：" + "，".join(f"{label}{n}条" for label, n in counts.items()))

            from issues.demo import seed_issues

            counts = seed_issues(street=street, rng=self.rng, today=timezone.localdate())
            self.stdout.write("问题整改台账：" + "，".join(f"{label}{n}件" for label, n in counts.items()))

            from reports.demo import seed_findings

            admin = get_user_model().objects.filter(username="admin").first()
            findings = seed_findings(campaign=campaign, admin=admin, today=timezone.localdate())
            self.stdout.write(f"督导检查：督查发现{findings}条（千分制扣分）")
            if streets > 1:
                logins += self.build_district(street, streets, households, seed)
        # After commit, like the daily job: today's reminders arrive in the notification bell (and as mail).
        from issues.reminders import send_reminders

        reminders = send_reminders(day=timezone.localdate())
        self.stdout.write("今日提醒（登录后点右上角“通知”查看）：")
        for line in reminders.lines():
            self.stdout.write(f"  {line}")
        self.stdout.write(self.style.SUCCESS(f"演示数据已生成，用时{time.monotonic() - started:.1f}秒。"))
        self.print_logins(logins)

    # 1. the tree ---------------------------------------------------------------------------------

    def build_tree(self, total, name=STREET_NAME, code="370303001", communities_of=COMMUNITIES[:6]):
        rng = self.rng
        street = Street(name=name, code=code)
        street.save()
        communities, grid_counts = [], []
        for order, (name, pinyin) in enumerate(communities_of, start=1):
            community = Community(name=name, parent=street, order=order)
            community.save()
            community.pinyin = pinyin
            communities.append(community)
            grid_counts.append(rng.choice([5, 6]))
        per_community = split_evenly(total, [rng.uniform(0.8, 1.2) for _ in communities])

        self.addresses = {}  # grid pk -> [(building node or None, floors, unit, room)]
        self.building_count = 0
        grids = []
        for community_index, (community, n_grids, count) in enumerate(zip(communities, grid_counts, per_community)):
            bungalow = community.name in BUNGALOW_COMMUNITIES
            next_building = 1
            for number, grid_count in enumerate(
                split_evenly(count, [rng.uniform(0.7, 1.3) for _ in range(n_grids)]), 1
            ):
                grid = Grid(name=f"第{number}网格", parent=community, order=number)
                grid.save()
                grid.community, grid.number = community, number
                grids.append(grid)
                lanes = [LANES[(number - 1) % len(LANES)]] if bungalow else ()  # one lane per grid
                flats, next_building = grid_addresses(rng, grid_count, next_building, bungalow, lanes)
                buildings = {}
                for index, no in enumerate(sorted({f[0] for f in flats if f[0] is not None})):
                    longitude, latitude = building_place(community_index, number, index)
                    buildings[no] = Building(
                        name=f"{no}号楼", parent=grid, order=no, longitude=longitude, latitude=latitude
                    )
                    buildings[no].save()
                self.building_count += len(buildings)
                self.addresses[grid.pk] = [(buildings.get(no), floors, unit, room) for no, floors, unit, room in flats]
        return street, communities, grids

    # 2. the register -----------------------------------------------------------------------------

    def build_register(self, grids):
        rng, people = self.rng, self.people
        tag_ids = dict(FocusGroup.objects.values_list("name", "id"))
        households, profiles = [], []
        for grid in grids:
            community = grid.community
            for building, floors, unit, room in self.addresses[grid.pk]:
                tags = [t for t in people.pick_tags() if t in tag_ids]
                profile = household_profile(people, tags)
                households.append(
                    Household(
                        street_id=community.parent_id,
                        community=community,
                        grid=grid,
                        building=building,
                        unit=unit,
                        room=room,
                        # bulk_create skips save(): the natural key and the path are set here.
                        address_key=address_key(
                            community.name, grid.name, building.name if building else "", unit, room
                        ),
                        path=(building or grid).path,
                        head_name=profile["head_name"],
                        id_number=profile["id_number"],
                        phone=profile["phone"],
                        size=profile["size"],
                        living_conditions=living_conditions(rng, floors, tags),
                        income_source=profile["income_source"],
                        notes=profile["notes"],
                    )
                )
                profiles.append(profile)
        Household.objects.bulk_create(households, batch_size=1000)

        members, links = [], []
        Through = Household.tags.through
        for household, profile in zip(households, profiles):
            members.extend(Member(household_id=household.pk, **m) for m in profile["members"])
            links.extend(Through(household_id=household.pk, focusgroup_id=tag_ids[t]) for t in profile["tags"])
        Member.objects.bulk_create(members, batch_size=2000)
        Through.objects.bulk_create(links, batch_size=2000)
        return {"households": len(households), "members": len(members), "tags": len(links)}

    # 3. departments and cadres -------------------------------------------------------------------

    def build_people(self, street, communities, grids, prefix=""):
        """The cadres of ``street``; ``prefix`` names the accounts of a district's other streets
        (``chezhan_admin``), which share 湖田街道's departments and have no department cadres."""
        from visitplan.models import Cadre, Department, Tier

        rng, people = self.rng, self.people
        User = get_user_model()
        roles.sync_role_groups()  # normally done by post_migrate; harmless to repeat
        groups = {g.name: g for g in Group.objects.filter(name__in=roles.ALL_ROLES)}
        password = make_password(DEMO_PASSWORD)  # hashed once: one demo password for every account

        accounts = []  # (user, [group names], cadre kwargs or None)

        def person(tier, scope, unit, position, username, role_names, staff=False, department=None, visits=True):
            gender = people.gender(0.6)
            name = people.name(gender, rng.randint(1965, 1995))
            # Mail goes to the console backend in the demo; reminders are sent to these addresses.
            email = f"{username}@hutian.demo"
            user = User(username=username, first_name=name, email=email, password=password, is_staff=staff)
            cadre = dict(
                name=name, unit=unit, position=position, phone=people.mobile(), tier=tier, scope=scope,
                department=department, takes_households=visits,
            )  # fmt: skip
            accounts.append((user, role_names, cadre))

        office = f"{street.name}办事处"
        for i, position in enumerate(["党工委书记", "办事处主任", "党工委副书记", "办事处副主任"], start=1):
            person(
                Tier.LEADER, street, f"{street.name}党工委", position, f"{prefix}leader{i}", [roles.LEADER], staff=True
            )

        departments = []
        for name, pinyin in DEPARTMENTS if not prefix else ():
            dept = Department.objects.create(
                name=name,
                level="district",
                head_name=people.name(people.gender(0.6), rng.randint(1968, 1980)),
                phone=people.mobile(),
            )
            dept.pinyin = pinyin
            departments.append(dept)
            for i in (1, 2):
                # The first cadre of each department is also its handler (部门经办人) for routed requests.
                role_names = [roles.CADRE, roles.DEPARTMENT_HANDLER] if i == 1 else [roles.CADRE]
                position = "科长" if i == 1 else "科员"
                person(Tier.DEPARTMENT, street, name, position, f"dept_{pinyin}_{i}", role_names, department=dept)

        grids_by_community = {}
        for grid in grids:
            grids_by_community.setdefault(grid.community.pk, []).append(grid)
        for community in communities:
            py = community.pinyin
            for i in (1, 2):
                person(
                    Tier.STREET_STAFF,
                    community,
                    office,
                    "包村居组组长" if i == 1 else "包村居组组员",
                    f"staff_{py}_{i}",
                    [roles.CADRE],
                )
            person(
                Tier.SECRETARY,
                community,
                community.name,
                "党委书记、居委会主任",
                f"sec_{py}",
                [roles.SECRETARY],
                staff=True,
            )
            community_grids = grids_by_community[community.pk]
            for i in range(1, rng.choice([1, 2]) + 1):
                grid = community_grids[(i - 1) * 2 % len(community_grids)]
                person(
                    Tier.COMMITTEE,
                    grid,
                    community.name,
                    rng.choice(["居委会委员", "党委委员"]),
                    f"lw_{py}_{i}",
                    [roles.CADRE],
                )
            for grid in community_grids:
                person(Tier.GRID_WORKER, grid, community.name, "专职网格员", f"grid_{py}_{grid.number}", [roles.CADRE])

        # The street office's administrator: scoped to the whole street, manages and does not visit (参与包户 off).
        person(
            Tier.STREET_STAFF,
            street,
            office,
            "党政办主任（系统管理员）",
            f"{prefix}admin",
            [roles.STREET_ADMIN],
            staff=True,
            visits=False,
        )
        if not prefix:
            root = User(username="root", first_name="系统超级用户", password=password, is_staff=True, is_superuser=True)
            accounts.append((root, [], None))

        User.objects.bulk_create([a[0] for a in accounts])
        UserGroup = User.groups.through
        UserGroup.objects.bulk_create(
            UserGroup(user_id=user.pk, group_id=groups[g].pk) for user, role_names, _ in accounts for g in role_names
        )
        Cadre.objects.bulk_create(Cadre(user_id=user.pk, **cadre) for user, _, cadre in accounts if cadre)
        # The first cadre of each department (科长) is its head: overdue requests are escalated to him.
        heads = {u.username: u for u, _, _ in accounts}
        for dept in departments:
            dept.head_user = heads[f"dept_{dept.pinyin}_1"]
            dept.save(update_fields=["head_user"])
        if not prefix:
            self.departments = departments
        return [(user.username, cadre) for user, _, cadre in accounts]

    # 4. the campaign -----------------------------------------------------------------------------

    def build_campaign(self, street, communities, quotas=True):
        from visitplan.models import Campaign, DepartmentQuota, Stage, StageKind
        from visitplan.rulebook import apply_preset

        # The demo street runs 湖田街道's own plan (002): its rulebook, each rule quoting the document.
        campaign = Campaign(year=REFERENCE_YEAR, name="入户大走访", street=street)
        apply_preset(campaign, "002")
        campaign.save()
        d = datetime.date
        stages = {
            StageKind.MOBILISE: (d(2026, 3, 1), d(2026, 3, 20)),
            StageKind.VISIT: (d(2026, 3, 21), d(2026, 11, 30)),
            StageKind.RECTIFY: (d(2026, 12, 1), d(2026, 12, 15)),
            StageKind.FOLLOW_UP: (d(2026, 12, 16), d(2026, 12, 25)),
            StageKind.EVALUATE: (d(2026, 12, 26), d(2026, 12, 31)),
        }
        Stage.objects.bulk_create(
            Stage(campaign=campaign, kind=k, starts_on=s, ends_on=e) for k, (s, e) in stages.items()
        )

        if not quotas:  # a district's other street: its own cadres only (the departments serve 湖田街道)
            return campaign
        # 安排表: each department takes households in 2–3 communities; round-robin so every community gets some.
        n = len(communities)
        pairs = []
        for i, dept in enumerate(self.departments):
            picked = [communities[(i + k * 2) % n] for k in range(self.rng.choice([2, 3]))]
            pairs.extend((dept, c) for c in dict.fromkeys(picked))
        per_community = {c.pk: 0 for c in communities}
        for _, c in pairs:
            per_community[c.pk] += 1
        sizes = dict(
            zip([c.pk for c in communities], [Household.objects.filter(community=c).count() for c in communities])
        )
        quotas = []
        for dept, c in pairs:
            # 20–60 households each, but never more than half of a small community between its departments.
            cap = max(1, sizes[c.pk] // (2 * per_community[c.pk]))
            quotas.append(
                DepartmentQuota(
                    campaign=campaign, department=dept, community=c, households=min(self.rng.randint(20, 60), cap)
                )
            )
        DepartmentQuota.objects.bulk_create(quotas)
        return campaign

    # 6. the district ----------------------------------------------------------------------------

    def build_district(self, first, streets, households, seed):
        """张店区: 湖田街道 and ``streets - 1`` smaller streets (a fifth of its households each, at
        least 60), each built like 湖田街道 from its own random stream; the district's logins."""
        from households.models import District, DistrictMember
        from issues.demo import seed_issues
        from reports.demo import seed_findings
        from visitplan.allocation import allocate
        from visits.demo import seed_visits

        User = get_user_model()
        today = timezone.localdate()
        district = District.objects.create(name=DISTRICT_NAME, code="370303")
        Street.objects.filter(pk=first.pk).update(district=district)
        for index, (name, pinyin, names) in enumerate(EXTRA_STREETS[: streets - 1], start=2):
            self.rng = random.Random(seed * 100 + index)
            self.people = People(self.rng)
            size = max(60, households // 5)
            communities_of = [(n, f"{pinyin}{k}") for k, n in enumerate(names, start=1)]
            street, communities, grids = self.build_tree(size, name, f"370303{index:03d}", communities_of)
            Street.objects.filter(pk=street.pk).update(district=district)
            created = self.build_register(grids)
            self.build_people(street, communities, grids, prefix=f"{pinyin}_")
            campaign = self.build_campaign(street, communities, quotas=False)
            allocate(campaign)
            visits = seed_visits(campaign=campaign, rng=self.rng, today=today)
            issues = seed_issues(street=street, rng=self.rng, today=today)
            admin = User.objects.filter(username=f"{pinyin}_admin").first()
            seed_findings(campaign=campaign, admin=admin, today=today)
            self.stdout.write(
                f"{name}：{len(communities)}个社区、{len(grids)}个网格、{created['households']}户，"
                f"走访{visits.get('走访记录', 0)}条，诉求{sum(issues.values())}件（账号 {pinyin}_admin、{pinyin}_leader1 …）"
            )
        password = make_password(DEMO_PASSWORD)
        groups = {g.name: g for g in Group.objects.filter(name__in=roles.DISTRICT_ROLES)}
        for username, first_name, role in (
            ("district_leader", "区委副书记", roles.DISTRICT_LEADER),
            ("district_admin", "区大走访办", roles.DISTRICT_ADMIN),
        ):
            user = User.objects.create(username=username, first_name=first_name, password=password)
            user.groups.add(groups[role])
            DistrictMember.objects.create(user=user, district=district)
        self.stdout.write(f"{DISTRICT_NAME}：{streets}个街道（区级账号 district_leader、district_admin）")
        self.district_streets = streets
        return []

    # 5. the logins -------------------------------------------------------------------------------

    def print_logins(self, logins):
        from visitplan.models import Tier

        by_tier = {}
        for username, cadre in logins:
            if cadre:
                by_tier.setdefault(cadre["tier"], []).append(username)

        def sample(names):
            return names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}（共{len(names)}个）"

        leaders = by_tier[Tier.LEADER]
        dept = by_tier[Tier.DEPARTMENT]
        staff = [u for u in by_tier[Tier.STREET_STAFF] if u != "admin"]
        rows = [
            ("超级用户", "root", "全部数据和全部后台功能"),
            ("街道管理员", "admin", f"{STREET_NAME}全部居民户（含完整身份证号、电话），后台维护底册、干部、活动"),
            ("领导（街道班子）", sample(leaders), f"{STREET_NAME}全部数据，只读"),
            ("部门干部", sample(dept), "分给本人的包户；*_1 同时是本部门经办人"),
            ("街道干部（包村居组）", sample(staff), "分给本人的包户"),
            ("社区书记", sample(by_tier[Tier.SECRETARY]), "本社区全部居民户（sec_hutian = 湖田社区）"),
            ("两委成员", sample(by_tier[Tier.COMMITTEE]), "所在网格的居民户和分给本人的包户"),
            ("网格员", sample(by_tier[Tier.GRID_WORKER]), "本网格全部居民户（grid_hutian_1 = 湖田社区第1网格）"),
        ]
        if getattr(self, "district_streets", 1) > 1:
            sees = f"{DISTRICT_NAME}{self.district_streets}个街道的统计（区级看板），只读，身份证号、电话打码"
            rows += [("区级领导", "district_leader", sees), ("区级管理员", "district_admin", sees + "，可导出台账")]
        self.stdout.write("")
        self.stdout.write(f"演示账号（密码都是 {DEMO_PASSWORD}）：")
        width = max(_display_width(r[1]) for r in rows) + 2
        self.stdout.write(f"  {_pad('角色', 22)}{_pad('用户名', width)}{_pad('密码', 11)}能看到")
        for role, username, sees in rows:
            self.stdout.write(f"  {_pad(role, 22)}{_pad(username, width)}{_pad(DEMO_PASSWORD, 11)}{sees}")


def _display_width(text):
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text, width):
    return text + " " * max(1, width - _display_width(text))
