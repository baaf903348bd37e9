"""Splitting a one-column address into the register's parts: ``split_address(text) -> dict | None``.

Offices that keep one row per person often have a single 住址 column ("3号楼2单元501") where the
register has 楼栋, 单元 and 门牌号. ``split_address`` returns the parts it is sure of, or None.

Keys (present only when found; every value a non-empty str):

- ``compound``: what precedes the building: a residential compound (幸福小区, 金色家园二期), a road
  and number (人民路18号), whatever names the place;
- ``building``: the building, its number in Arabic digits and its word as written (3号楼, 18栋,
  2幢, A座); "3#", "3#楼", the "3" of "3-2-501" and the "3号" of "3号2单元501" give "3号楼";
- ``unit``: "2单元" (from 2单元, 二单元, 第2单元, the "2" of "3-2-501" or of "3号楼2-501");
- ``room``: the room or house number. In a building: the digits (and letter) without 室/号/户
  ("501", "1204", "B302"); in a village: as written ("15号");
- ``village``: a village (张家村; a name ending in 村, 庄, 屯 or 寨);
- ``group``: its villagers' group: "3组" (from 3组, 三组, 第3组, 第三村民小组, 3小组), "3队", "3社".

A building address needs a room and a building or a unit; a village address a group or a
number. The text is first folded (full-width digits and letters, "－", "—" to "-") and its spaces
removed; Chinese numerals up to 99 become digits. What is not one of these forms gives None:
"3号楼" alone, a floor ("3号楼2单元5层501"), "5-302" (building-room or unit-room?), a road
address without a building ("人民路18号").
"""

import re
import unicodedata

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_NUM = r"(?:\d{1,4}|[零〇一二两三四五六七八九十]{1,3})"
# Every dash an office types ("1‐2‐302", "1—2—302") as "-" (also reports.maps.rooms).
DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−﹣"})
_DASHES = DASHES
_SPACE = re.compile(r"\s+")

_BUILDING = rf"(?P<b>{_NUM}|[A-Za-z])(?P<bs>号楼|号栋|号幢|栋|幢|座|#楼?|号(?=第?{_NUM}单元))"
_BUILDING_FORM = re.compile(
    rf"^(?P<c>.*?)(?:{_BUILDING})?(?:第?(?P<u>{_NUM})单元|(?<=[楼栋幢座#])(?P<ud>\d{{1,2}})-)?"
    r"(?P<r>[A-Za-z]?\d{1,5}[A-Za-z]?)(?:室|号|户)?$"
)
_DASH_FORM = re.compile(
    r"^(?P<c>(?:.*[^\d\-])?)(?P<b>\d{1,4})(?P<bs>号楼|栋|幢|座|#)?-(?P<u>\d{1,2})(?:单元)?-"
    r"(?P<r>\d{1,5}[A-Za-z]?)(?:室|号|户)?$"
)
_VILLAGE_FORM = re.compile(
    rf"^(?P<v>[^\d\-]{{1,20}}?(?:村|庄|屯|寨))(?:第?(?P<g>{_NUM})(?P<gs>村民小组|小组|组|队|社))?"
    r"(?P<r>\d{1,5}(?:-\d{1,3})?号?)?$"
)
# A compound holding a building or unit of its own is a text the forms above misread.
_GARBLED = re.compile(r"号楼|单元|(?:\d|[零〇一二两三四五六七八九十百千])(?:栋|幢|座|层|室|楼)|-|\d$")
_MAX_COMPOUND = 30


def cn_number(text: str) -> int | None:
    """ "12" → 12, "十二" → 12, "二十" → 20, "二十三" → 23, "两" → 2; None when it is not a number
    up to 99 (also read by reports.maps.rooms for floors)."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return _CN_DIGITS.get(text) if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    try:
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    except KeyError:
        return None


_number = cn_number


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_DASHES)
    return _SPACE.sub("", text).strip("，,。.;；")


def _building(number: str, word: str | None) -> str | None:
    if number.isascii() and number.isalpha():
        return number.upper() + (word or "座")
    n = _number(number)
    if n is None:
        return None
    if not word or word in ("#", "#楼", "号"):
        word = "号楼"
    return f"{n}{word}"


def _compound(text: str) -> str | None | bool:
    """The compound prefix ("" when none), or False when it cannot be one."""
    if not text:
        return ""
    if len(text) > _MAX_COMPOUND or _GARBLED.search(text):
        return False
    return text


def split_address(text) -> dict | None:
    """The parts of a one-column address (see the module's docstring), or None."""
    if not isinstance(text, str):
        return None
    text = _fold(text)
    if not text:
        return None
    for form in (_DASH_FORM, _BUILDING_FORM):
        match = form.match(text)
        if match is None:
            continue
        parts = match.groupdict()
        unit = parts.get("u") or parts.get("ud")
        if not (parts.get("b") or unit):
            continue
        compound = _compound(parts["c"])
        if compound is False:
            continue
        out = {}
        if compound:
            out["compound"] = compound
        if parts.get("b"):
            building = _building(parts["b"], parts.get("bs"))
            if building is None:
                continue
            out["building"] = building
        if unit:
            n = _number(unit)
            if n is None:
                continue
            out["unit"] = f"{n}单元"
        out["room"] = parts["r"].upper()
        return out
    match = _VILLAGE_FORM.match(text)
    if match is None or not (match["g"] or match["r"]):
        return None
    out = {"village": match["v"]}
    if match["g"]:
        n = _number(match["g"])
        if n is None:
            return None
        out["group"] = f"{n}{'组' if match['gs'] in ('村民小组', '小组', '组') else match['gs']}"
    if match["r"]:
        out["room"] = match["r"]
    return out
