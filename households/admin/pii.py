"""Residents' ID numbers and phones in the admin: masked in every list and every edit page, for
every role, superusers included. A role with 查看完整信息 reveals one record at a time with the
显示完整信息 button: a POST that writes an access-log row, after which the next opening of that
record's edit page shows the values in full and editable. The edit form then carries a signed,
short-lived token, so that its save still includes those fields; without the token they are not
part of the form at all (a save cannot blank or overwrite what the editor never saw).
"""

import time

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from ..masking import can_view_full_pii, log_reveal, mask_id_number, mask_phone

# The masked stand-in (a read-only column) of each personal-data field.
MASKED = {"id_number": "id_number_masked", "phone": "phone_masked"}
# How long after 显示完整信息 the next opening of the edit page shows the values.
REVEAL_SECONDS = 300
# How long a revealed edit form may be saved with the full values.
REVEALED_FORM_SECONDS = 3600
SESSION_KEY = "admin_pii_reveals"
TOKEN_FIELD = "_pii_reveal"
_SALT = "households.admin_pii"  # the signing salt, kept when the module moved: tokens handed out stay valid


def _key(opts, pk) -> str:
    return f"{opts.label_lower}:{pk}"


def _token(request, opts, pk) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(f"{request.user.pk}|{_key(opts, pk)}")


def _token_ok(request, opts, pk) -> bool:
    value = request.POST.get(TOKEN_FIELD, "")
    try:
        text = signing.TimestampSigner(salt=_SALT).unsign(value, max_age=REVEALED_FORM_SECONDS)
    except signing.BadSignature:
        return False
    return text == f"{request.user.pk}|{_key(opts, pk)}"


def _take_session_reveal(request, opts, pk) -> bool:
    """The pending reveal of this record, consumed: one 显示完整信息, one showing."""
    pending = request.session.get(SESSION_KEY) or {}
    expires = pending.pop(_key(opts, pk), None)
    request.session[SESSION_KEY] = {k: v for k, v in pending.items() if v > time.time()}
    return expires is not None and expires > time.time()


def revealed(request, opts, pk) -> bool:
    """Whether this request shows (GET) or saves (POST) the record ``pk`` of ``opts`` in full."""
    return pk is not None and (_key(opts, pk) in getattr(request, "_pii_revealed", ()))


class PIIFieldsMixin:
    """The edit form's personal-data fields, masked unless this request reveals them.

    ``pii_owner_pk(request, obj)`` names the record whose reveal counts (the household for its
    members' inline)."""

    pii_fields = ("id_number", "phone")

    def pii_owner(self, request, obj):
        return self.opts, getattr(obj, "pk", None)

    def _masked(self, request, obj):
        if obj is None:
            return False  # a new record: nothing to hide yet
        opts, pk = self.pii_owner(request, obj)
        return not revealed(request, opts, pk)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not self._masked(request, obj):
            return fields
        return [MASKED.get(f, f) if f in self.pii_fields else f for f in fields]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._masked(request, obj):
            return fieldsets
        return [
            (name, {**opts, "fields": tuple(MASKED.get(f, f) if f in self.pii_fields else f for f in opts["fields"])})
            for name, opts in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if self._masked(request, obj):
            fields += [MASKED[f] for f in self.pii_fields if f in MASKED]
        return fields

    @admin.display(description="身份证号")
    def id_number_masked(self, obj):
        return mask_id_number(getattr(obj, "id_number", ""))

    @admin.display(description="联系电话")
    def phone_masked(self, obj):
        return mask_phone(getattr(obj, "phone", ""))


class PIIAdminMixin(PIIFieldsMixin):
    """A ModelAdmin whose rows hold residents' identifiers: masked columns (``id_number_masked``,
    ``phone_masked`` in ``list_display``), masked edit pages, and the logged 显示完整信息."""

    change_form_template = "admin/pii_change_form.html"

    def reveal_household(self, obj):
        raise NotImplementedError

    def reveal_residents(self, obj):
        raise NotImplementedError

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/reveal/",
                self.admin_site.admin_view(self.reveal_view),
                name="%s_%s_reveal" % info,
            )
        ] + super().get_urls()

    def reveal_view(self, request, object_id):
        """显示完整信息 on the edit page: POST only, one access-log row, then the edit page in full."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_or_change_permission(request, obj):
            raise Http404("没有找到该记录")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not can_view_full_pii(request.user):
            raise PermissionDenied("您没有查看完整信息（身份证号、电话）的权限")
        log_reveal(
            request,
            self.reveal_household(obj),
            residents=self.reveal_residents(obj),
            what=f"查看完整信息（后台）：{self.opts.verbose_name} {obj}",
        )
        pending = request.session.get(SESSION_KEY) or {}
        pending[_key(self.opts, obj.pk)] = time.time() + REVEAL_SECONDS
        request.session[SESSION_KEY] = pending
        self.message_user(request, "已显示完整信息，本次查看已记入访问日志", messages.INFO)
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is not None:
            pk = self._pk_of(request, object_id)
            if pk is not None:
                shown = (
                    _token_ok(request, self.opts, pk)
                    if request.method == "POST"
                    else _take_session_reveal(request, self.opts, pk)
                ) and can_view_full_pii(request.user)
                if shown:
                    request._pii_revealed = {*getattr(request, "_pii_revealed", ()), _key(self.opts, pk)}
                    extra_context["pii_reveal_token"] = _token(request, self.opts, pk)
                extra_context["pii_revealed"] = shown
                extra_context["pii_can_reveal"] = not shown and can_view_full_pii(request.user)
                extra_context["pii_reveal_url"] = reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_reveal", args=[pk]
                )
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _pk_of(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        return obj.pk if obj is not None else None
