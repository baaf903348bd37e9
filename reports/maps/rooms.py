"""The floor of a room number, and the natural order of rooms and units, for the 楼栋图.

The register keeps a room as the office wrote it. ``floor_of`` reads the floor the building's
drawing puts it on:

- a room number of three or more digits: all but the last two ("302" → 3, "1502" → 15, "0302" → 3),
  the last such number when there are several ("2-1-302" → 3, "1单元502" → 5, "301-1" → 3), with
  any letter, 室, 号 or 户 around it ("302室", "A302");
- an explicit floor when there is no room number: "5层", "5楼", "5F", "十二层";
- a basement: "B101" / "B1" → -1, "B201" → -2, "-101" → -1, "负一层", "地下2层", "地下室";
- no floor (``None``, drawn in a plain row): a house number ("12号", "幸福巷108号": the register
  keeps 号 on village and lane numbers), a short number ("12"), anything else.

Floors run 1–99 above ground and -1…-9 below; a number that would give another floor gives none.
"""

import re
import unicodedata
from functools import lru_cache

from core.addresses import DASHES, cn_number

_NUM = r"(\d{1,2}|[零〇一二两三四五六七八九十]{1,3})"

_BASEMENT_WORD = re.compile(rf"(?:负|地下){_NUM}(?:层|楼)?")
_BASEMENT_CODE = re.compile(r"^(?:B|-)(\d{1,4})")
_CELLAR = re.compile(r"地下室")
_HOUSE_NUMBER = re.compile(r"\D*\d+号")  # one number ending in 号: a house, not a flat
_ROOM_NUMBER = re.compile(r"\d{3,}")
_FLOOR_WORD = re.compile(rf"{_NUM}(?:层|楼(?!号)|F)")

TOP_FLOOR = 99
LOWEST_FLOOR = -9


_SPACES = re.compile(r"\s+")


def _fold(text: str) -> str:
    """Full-width digits and letters folded, dashes unified, spaces dropped, upper case."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(DASHES)
    return _SPACES.sub("", text).upper()


def _above(floor: int | None) -> int | None:
    return floor if floor is not None and 1 <= floor <= TOP_FLOOR else None


def _below(depth: int | None) -> int | None:
    return -depth if depth is not None and 1 <= depth <= -LOWEST_FLOOR else None


def floor_of(room) -> int | None:
    """The floor of ``room`` (see the module's docstring), or None when it has none."""
    if not isinstance(room, str):
        return None
    return _floor(room)


@lru_cache(maxsize=8192)  # the same numbers recur in every building of a community
def _floor(room: str) -> int | None:
    text = _fold(room)
    if not text:
        return None
    match = _BASEMENT_WORD.search(text)
    if match:
        return _below(cn_number(match[1]))
    match = _BASEMENT_CODE.match(text)
    if match:
        digits = match[1]
        return _below(int(digits[:-2]) if len(digits) >= 3 else int(digits))
    if _CELLAR.search(text):
        return -1
    if _HOUSE_NUMBER.fullmatch(text):
        return None
    numbers = _ROOM_NUMBER.findall(text)
    if numbers:
        return _above(int(numbers[-1][:-2]))
    match = _FLOOR_WORD.search(text)
    if match:
        return _above(cn_number(match[1]))
    return None


_PARTS = re.compile(r"(\d+)")


@lru_cache(maxsize=8192)
def natural_key(text: str):
    """Sort key: the digits of ``text`` compared as numbers ("2单元" before "10单元", "302" before "1001")."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in _PARTS.split(_fold(text or "")) if part
    )
