"""Cadres' login accounts: who can log in, and the account changes the street office makes.

- The departure rule (``end_login``): a cadre marked 不在岗 can no longer log in. His account is made
  inactive (``is_active=False``); Django's ModelBackend refuses an inactive user for every session he
  still holds (``get_user`` → ``user_can_authenticate``), so each one ends on its next request, which
  is answered as logged out (the login page). The admin's change form, the roster import
  (``sheets/roster.py``) and any service that sets a cadre 不在岗 call it. Coming back (在岗 again)
  does not give the login back by itself: ``reactivate`` does, when the admin chooses it.
- The account changes a street admin makes on the cadres he sees (``Cadre.objects.visible_to``):
  ``create_account``, ``set_password``, ``deactivate``, ``reactivate``. Never on a superuser's
  account, a 街道管理员's (the system administrator's job) or his own (his own password: the 修改密码
  page); a new account gets the role of the cadre's tier (``sheets.roster.role_for_tier``), never one
  chosen by whoever creates it.
- Every change is written to the admin's log (``LogEntry``) against the cadre: who, when, which
  account, what. The cadre's 登录账号 page and its 历史 list them (``account_history``).
"""

from __future__ import annotations

import secrets

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from core.scope import forget_scope
from households.roles import LEADER, SECRETARY, STREET_ADMIN, sync_role_groups

from .models import Cadre

# Every account entry of the log starts with this, so that the cadre's other changes stay apart.
LOG_PREFIX = "登录账号"
# The roles whose accounts read the admin (leaders read the plan; secretaries read and edit households).
STAFF_ROLES = frozenset({LEADER, SECRETARY})
# A generated password: no look-alike characters (0/O, 1/l/I), so it can be read out over the phone.
_LETTERS = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
_DIGITS = "23456789"
GENERATED_LENGTH = 12


class AccountError(Exception):
    """An account change refused; the message says why, in the words shown to the admin."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class UsernameError(AccountError):
    """The login name asked for cannot be used (the form shows it at its field)."""


def _users():
    return get_user_model()._default_manager


def account_of(cadre):
    """The cadre's login account read afresh (None if he has none)."""
    return _users().filter(pk=cadre.user_id).first() if cadre.user_id else None


# ------------------------------------------------------------------------------------------------ the log


def _log(by, cadre, what: str) -> None:
    if by is None or not getattr(by, "pk", None):
        return  # a command or a shell: no person to record
    LogEntry.objects.log_actions(
        user_id=by.pk, queryset=[cadre], action_flag=CHANGE, change_message=f"{LOG_PREFIX}：{what}", single_object=True
    )


def account_history(cadre, limit=50):
    """The account changes of the cadre, newest first (LogEntry rows, with their user)."""
    return (
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Cadre),
            object_id=str(cadre.pk),
            change_message__startswith=LOG_PREFIX,
        )
        .select_related("user")
        .order_by("-action_time", "-pk")[:limit]
    )


# ------------------------------------------------------------------------------------------------ departure


def end_login(cadre, *, by=None) -> bool:
    """The departure rule: a cadre who is 不在岗 cannot log in. True when his account was just stopped.

    A superuser's account is left alone (only another superuser manages it). Idempotent: an account
    already stopped, or a cadre without one, changes nothing.
    """
    if cadre.active or not cadre.user_id:
        return False
    stopped = _users().filter(pk=cadre.user_id, is_active=True, is_superuser=False).update(is_active=False)
    if not stopped:
        return False
    if getattr(cadre, "user", None) is not None and cadre.user.pk == cadre.user_id:
        cadre.user.is_active = False
        forget_scope(cadre.user)
    _log(by, cadre, f"{_username(cadre)} 已停用（干部不在岗，不能再登录）")
    return True


def _username(cadre) -> str:
    return _users().filter(pk=cadre.user_id).values_list("username", flat=True).first() or ""


# ------------------------------------------------------------------------------------------------ who may


def may_manage(by, cadre) -> str | None:
    """None if ``by`` may change the login of ``cadre``, else the reason (shown to him)."""
    if by is None or not by.is_authenticated or not by.is_active:
        return "请先登录"
    if not by.has_perm("visitplan.change_cadre"):
        return "您没有修改干部信息的权限，不能管理登录账号"
    if not Cadre.objects.visible_to(by).filter(pk=cadre.pk).exists():
        return "没有找到该干部"
    account = account_of(cadre)
    if account is None:
        return None
    if account.pk == by.pk:
        return "这是您本人的账号：请在“修改密码”页修改自己的密码"
    if by.is_superuser:
        return None
    if account.is_superuser:
        return "该账号是系统超级管理员，只能由超级管理员管理"
    if account.groups.filter(name=STREET_ADMIN).exists():
        return "该账号是街道管理员，只能由系统超级管理员管理"
    return None


def _check(by, cadre):
    reason = may_manage(by, cadre)
    if reason:
        raise AccountError(reason)


# ------------------------------------------------------------------------------------------------ passwords


def generate_password(user=None) -> str:
    """A random password that passes the project's password validators (AUTH_PASSWORD_VALIDATORS)."""
    alphabet = _LETTERS + _DIGITS
    while True:
        chars = [secrets.choice(_LETTERS), secrets.choice(_DIGITS)]
        chars += [secrets.choice(alphabet) for _ in range(GENERATED_LENGTH - 2)]
        secrets.SystemRandom().shuffle(chars)
        password = "".join(chars)
        try:
            password_validation.validate_password(password, user)
        except ValidationError:
            continue
        return password


def _password(password, user) -> tuple[str, bool]:
    """(the password to set, whether it was generated); a chosen one must pass the validators."""
    if not password:
        return generate_password(user), True
    password_validation.validate_password(password, user)  # ValidationError: the validators' messages
    return password, False


def _unlock(username) -> None:
    """Forget the failed logins of the account (django-axes), so the new password works at once."""
    from axes.utils import reset

    reset(username=username)


# ------------------------------------------------------------------------------------------------ the changes


def validate_username(username: str) -> str:
    """The login name, stripped; UsernameError when it cannot be used."""
    User = get_user_model()
    username = (username or "").strip()
    if not username:
        raise UsernameError("请填写登录账号")
    limit = User._meta.get_field(User.USERNAME_FIELD).max_length
    if len(username) > limit:
        raise UsernameError(f"登录账号不能超过 {limit} 个字符")
    try:
        User.username_validator(username)
    except ValidationError:
        raise UsernameError(f"登录账号“{username}”只能包含字母、数字、汉字和 @ . + - _") from None
    if _users().filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
        raise UsernameError(f"登录账号“{username}”已被使用，请换一个")
    return username


def create_account(cadre, *, by, username, password=None):
    """A login account for a cadre who has none: (user, password, generated).

    The account gets the role of the cadre's tier; leaders and secretaries may also open the admin
    (``STAFF_ROLES``). ``password`` empty: one is generated, to be shown once and handed over.
    """
    from .sheets.roster import role_for_tier  # sheets/roster.py calls end_login from here

    _check(by, cadre)
    if cadre.user_id:
        raise AccountError(f"该干部已有登录账号“{_username(cadre)}”")
    if not cadre.active:
        raise AccountError("该干部不在岗，不能开通登录账号；如已回岗，请先在干部信息中勾选“在岗”")
    username = validate_username(username)
    User = get_user_model()
    role = role_for_tier(cadre.tier)
    user = User(username=username, first_name=cadre.name[:150], is_staff=role in STAFF_ROLES)
    password, generated = _password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save()
        group = Group.objects.filter(name=role).first()
        if group is None:
            sync_role_groups()
            group = Group.objects.get(name=role)
        user.groups.add(group)
        # Only if nobody linked an account meanwhile (two admins on the same cadre).
        linked = Cadre.objects.filter(pk=cadre.pk, user__isnull=True).update(user=user, version=F("version") + 1)
        if not linked:  # the exception rolls the new account back
            raise AccountError("该干部刚刚已由他人开通了登录账号，请刷新页面")
        cadre.user, cadre.user_id = user, user.pk
        _log(by, cadre, f"开通 {username}（角色：{role}；初始密码{'由系统生成' if generated else '由管理员设置'}）")
    return user, password, generated


def set_password(cadre, *, by, password=None) -> tuple[str, bool]:
    """A new password for the cadre's account: (password, generated). His sessions end (Django checks
    the password hash of each session), and his failed logins are forgotten."""
    _check(by, cadre)
    user = account_of(cadre)
    if user is None:
        raise AccountError("该干部还没有登录账号，请先开通")
    password, generated = _password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    _unlock(user.get_username())
    _log(by, cadre, f"重置 {user.get_username()} 的密码（{'由系统生成' if generated else '由管理员设置'}）")
    return password, generated


def deactivate(cadre, *, by) -> bool:
    """Stop the cadre's login (he stays 在岗). True if it was active."""
    _check(by, cadre)
    user = account_of(cadre)
    if user is None:
        raise AccountError("该干部还没有登录账号")
    if not _users().filter(pk=user.pk, is_active=True).update(is_active=False):
        return False
    _log(by, cadre, f"{user.get_username()} 已停用")
    return True


def reactivate(cadre, *, by) -> bool:
    """Give the login back, by choice, to a cadre who is 在岗. True if it was stopped."""
    _check(by, cadre)
    user = account_of(cadre)
    if user is None:
        raise AccountError("该干部还没有登录账号，请先开通")
    if not Cadre.objects.filter(pk=cadre.pk, active=True).exists():
        raise AccountError("该干部不在岗，不能恢复登录；如已回岗，请先在干部信息中勾选“在岗”")
    if not _users().filter(pk=user.pk, is_active=False).update(is_active=True):
        return False
    _unlock(user.get_username())
    _log(by, cadre, f"{user.get_username()} 已恢复登录")
    return True
