"""GB 11643 ID numbers and mainland phone numbers (households.validators)."""

import pytest
from django.core.exceptions import ValidationError

from households.validators import (
    id_check_char,
    id_number_error,
    normalize_id_number,
    normalize_phone,
    phone_error,
    validate_id_number,
    validate_phone,
)


@pytest.mark.parametrize(
    "value",
    ["110105195910010132", "35082119950215965X", "11010519910617349X", "370302197302016505"],
)
def test_it_accepts_valid_id_numbers_from_the_sample(value):
    assert id_number_error(value) is None
    validate_id_number(value)


def test_it_computes_the_check_character():
    assert id_check_char("35082119950215965") == "X"
    assert id_check_char("11010519591001013") == "2"


def test_it_rejects_a_wrong_check_digit():
    assert id_number_error("110105195910010133") == "身份证号校验码错误"
    assert id_number_error("350821199502159651") == "身份证号校验码错误"


@pytest.mark.parametrize("value, length", [("11010519591001013", 17), ("1101051959100101320", 19), ("", 0)])
def test_it_rejects_a_wrong_length(value, length):
    assert id_number_error(value) == f"身份证号应为18位，实际为{length}位"


def test_it_rejects_an_invalid_birth_date():
    first17 = "11010519990230013"
    assert id_number_error(first17 + id_check_char(first17)) == "身份证号中的出生日期19990230无效"


def test_it_rejects_a_birth_date_in_the_future():
    first17 = "11010539990101013"
    assert "出生日期39990101无效" in id_number_error(first17 + id_check_char(first17))


@pytest.mark.parametrize("value", ["11010519591001013A", "1101051959100X0132", "ABCDEFGHIJKLMNOPQR"])
def test_it_rejects_letters(value):
    assert id_number_error(value) == "身份证号只能由17位数字加1位数字或X组成"


def test_it_normalizes_a_lowercase_x_and_spaces():
    assert normalize_id_number(" 350821 19950215965x ") == "35082119950215965X"
    validate_id_number("35082119950215965x")


def test_validate_id_number_raises_with_the_reason():
    with pytest.raises(ValidationError) as exc:
        validate_id_number("110105195910010133")
    assert exc.value.messages == ["身份证号校验码错误"]


@pytest.mark.parametrize("value", ["13800000000", "14579190748", "19912345678"])
def test_it_accepts_mobile_numbers(value):
    assert phone_error(value) is None


@pytest.mark.parametrize(
    "value", ["010-62345678", "0532-82345678", "053282345678", "0532-8234567", "0532-82345678-123"]
)
def test_it_accepts_landlines_with_area_code(value):
    assert phone_error(value) is None


@pytest.mark.parametrize(
    "value",
    ["1380000000", "138000000000", "12800000000", "82345678", "0532-1234567", "abc", "138-0000-0000"],
)
def test_it_rejects_invalid_phones(value):
    assert phone_error(value) == "联系电话应为11位手机号或带区号的固定电话（如0532-82345678）"


def test_it_normalizes_phone_spaces_brackets_and_country_code():
    assert normalize_phone(" +86 138 0000 0000 ") == "13800000000"
    assert normalize_phone("（0532）82345678") == "053282345678"
    validate_phone("+86 138 0000 0000")
    with pytest.raises(ValidationError):
        validate_phone("12345")
