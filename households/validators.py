"""Validation of residents' identifiers: GB 11643 ID numbers and mainland phone numbers."""

import datetime
import re

from django.core.exceptions import ValidationError

# GB 11643-1999: weights of the first 17 digits and the check character for sum mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
# Landline with area code: 010-12345678, 0532-1234567, optional extension -123.
LANDLINE_RE = re.compile(r"^0\d{2,3}-?[2-9]\d{6,7}(-\d{1,6})?$")


def id_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def normalize_id_number(value) -> str:
    return str(value or "").strip().replace(" ", "").upper()


def id_number_error(value: str) -> str | None:
    """Return the reason (in Chinese) an ID number is invalid, or None when it is valid."""
    if len(value) != 18:
        return f"身份证号应为18位，实际为{len(value)}位"
    if not _ID_RE.match(value):
        return "身份证号只能由17位数字加1位数字或X组成"
    try:
        born = datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return f"身份证号中的出生日期{value[6:14]}无效"
    if born.year < 1900 or born > datetime.date.today():
        return f"身份证号中的出生日期{value[6:14]}无效"
    if id_check_char(value[:17]) != value[17]:
        return "身份证号校验码错误"
    return None


def validate_id_number(value):
    reason = id_number_error(normalize_id_number(value))
    if reason:
        raise ValidationError(reason, code="invalid_id_number")


def normalize_phone(value) -> str:
    text = str(value or "").strip()
    for ch in " ()（）":
        text = text.replace(ch, "")
    if text.startswith("+86"):
        text = text[3:]
    return text


def phone_error(value: str) -> str | None:
    if MOBILE_RE.match(value) or LANDLINE_RE.match(value):
        return None
    return "联系电话应为11位手机号或带区号的固定电话（如0532-82345678）"


def validate_phone(value):
    reason = phone_error(normalize_phone(value))
    if reason:
        raise ValidationError(reason, code="invalid_phone")


def birth_date_from_id(value: str) -> datetime.date:
    return datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
