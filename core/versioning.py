"""Optimistic locking: two people who open the same record cannot overwrite each other.

Every editable record carries a ``version`` (``VersionedModel``). A save of an existing row is
``UPDATE … WHERE pk = … AND version = <the version the editor loaded>`` and bumps it, so of two
editors who loaded the same version exactly one wins, on SQLite and PostgreSQL alike; the other
gets ``StaleEditError`` and nothing of his is written.

- ``VersionedModel``: the field and the conditional UPDATE. Writers that are not a person's edit
  (imports, allocation, jobs) use ``QuerySet.update()`` and bump ``version`` there when they change
  what an edit form shows (``version=F("version") + 1``); raw INSERTs may leave the column out
  (it has a database default).
- ``VersionedFormMixin``: a ModelForm that carries the version it was rendered with in a hidden
  ``seen_version`` and refuses, in ``clean``, a change to a row that moved on since.
- ``VersionedAdminMixin`` / ``VersionedInlineMixin``: the same in the admin, for the change form,
  every inline row and ``list_editable`` rows; a save that loses the race after the form's check
  (the UPDATE finds no row) is rolled back whole and answered with the message and a redirect.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, router, transaction
from django.forms.boundfield import BoundField
from django.forms.forms import DeclarativeFieldsMetaclass
from django.forms.models import BaseModelFormSet
from django.http import HttpResponseRedirect

# One wording for the whole app: what happened, and what to do.
STALE_EDIT_MESSAGE = "保存失败：您打开本页后，这条记录已被他人修改。请刷新本页，查看最新内容后重新填写。"
GONE_EDIT_MESSAGE = "保存失败：您打开本页后，这条记录已被他人删除。请刷新本页后查看。"

SEEN_VERSION = "seen_version"


class StaleEditError(Exception):
    """The record changed (or went) since the editor loaded it: the save is refused, nothing written."""

    def __init__(self, message=STALE_EDIT_MESSAGE):
        super().__init__(message)
        self.message = message


# ------------------------------------------------------------------------------------------------ the model


class VersionedModel(models.Model):
    # db_default: raw INSERTs that skip the ORM (allocation's COPY, the register import) still get 1.
    version = models.PositiveIntegerField("版本", default=1, db_default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        """Insert, or update only if the row still has ``self.version`` (then bump it).

        The check and the write are one statement (``_do_update``); on a refusal ``self.version``
        keeps what was loaded, so a retry fails again until the record is reloaded.
        """
        update_fields = kwargs.get("update_fields")
        if self._state.adding or self.pk is None or kwargs.get("force_insert") or update_fields == []:
            return super().save(*args, **kwargs)
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "version"}
        seen = self.version
        self._version_seen = seen
        self.version = seen + 1
        try:
            # A savepoint: a refused save leaves the caller's transaction usable.
            with transaction.atomic(using=kwargs.get("using") or router.db_for_write(type(self), instance=self)):
                super().save(*args, **kwargs)
        except BaseException:
            self.version = seen
            raise
        finally:
            del self._version_seen

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update):
        seen = getattr(self, "_version_seen", None)
        if seen is None:  # not through save() (e.g. loaddata's raw save)
            return super()._do_update(base_qs, using, pk_val, values, update_fields, forced_update)
        if base_qs.filter(pk=pk_val, version=seen)._update(values) > 0:
            return True
        # Never fall back to an INSERT (Django's answer to "no row updated"): say why instead.
        if base_qs.filter(pk=pk_val).exists():
            raise StaleEditError()
        raise StaleEditError(GONE_EDIT_MESSAGE)


def is_versioned(model) -> bool:
    return isinstance(model, type) and issubclass(model, VersionedModel)


def current_version(instance) -> int | None:
    """The version the row of ``instance`` has now; None if it is gone."""
    return type(instance)._base_manager.filter(pk=instance.pk).values_list("version", flat=True).first()


# ------------------------------------------------------------------------------------------------ forms


class SeenVersionField(forms.IntegerField):
    """The version the page was rendered with (hidden). Not data the user edits: it never counts as a
    change, and a garbled value counts as missing (the form is then refused as stale, with the message,
    rather than with an error on a field nobody can see)."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, value):
        try:
            return super().clean(value)
        except ValidationError:
            return None

    def has_changed(self, initial, data):
        return False


def _persisted(instance) -> bool:
    return instance.pk is not None and not instance._state.adding


class VersionedFormMixin(metaclass=DeclarativeFieldsMetaclass):
    """A ModelForm of a ``VersionedModel`` that carries the version it was rendered with.

    ``clean`` refuses (non-field error, code "stale" or "gone") a form that would change a row
    whose version moved on since the page was rendered, and otherwise puts the seen version on the
    instance, so that the save is ``UPDATE … WHERE version = seen``: a save that slips in after the
    check still loses. A form that changes nothing is not checked: it writes nothing of its own
    (a formset skips it; a full-row save of it writes back the row's current values), and a
    read-only inline row (no hidden version) must not block the save of its page.
    """

    seen_version = SeenVersionField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if _persisted(self.instance):
            self.initial[SEEN_VERSION] = self.instance.version

    def clean(self):
        data = super().clean()
        seen = self.cleaned_data.get(SEEN_VERSION)
        if not _persisted(self.instance):
            if seen is not None:  # rendered for a row that is no longer there (a formset row deleted meanwhile)
                raise ValidationError(GONE_EDIT_MESSAGE, code="gone")
            return data
        if not self.has_changed():
            return data
        current = current_version(self.instance)
        if current is None:
            raise ValidationError(GONE_EDIT_MESSAGE, code="gone")
        if seen != current:
            raise ValidationError(STALE_EDIT_MESSAGE, code="stale")
        self.instance.version = seen
        return data


def versioned_form(form_class):
    """``form_class`` with ``VersionedFormMixin`` mixed in (itself if it has it already)."""
    if issubclass(form_class, VersionedFormMixin):
        return form_class
    return type(form_class.__name__, (VersionedFormMixin, form_class), {"__module__": form_class.__module__})


def stale_message(form) -> str | None:
    """The refusal message of a form refused by ``VersionedFormMixin``, else None."""
    if form.has_error(NON_FIELD_ERRORS, code="gone"):
        return GONE_EDIT_MESSAGE
    if form.has_error(NON_FIELD_ERRORS, code="stale"):
        return STALE_EDIT_MESSAGE
    return None


# ------------------------------------------------------------------------------------------------ the admin


def _with_seen_version(fieldsets, include: bool):
    """The fieldsets without ``seen_version``, then with it at the end of the first one if ``include``."""
    fieldsets = [
        (name, {**opts, "fields": tuple(f for f in opts["fields"] if f != SEEN_VERSION)}) for name, opts in fieldsets
    ]
    if include and fieldsets:
        (name, opts), *rest = fieldsets
        fieldsets = [(name, {**opts, "fields": (*opts["fields"], SEEN_VERSION)}), *rest]
    return fieldsets


class _PkAndSeenVersion(BoundField):
    """A changelist row's hidden pk, followed by its hidden version: the change list renders the pk
    of each ``list_editable`` row and, besides the editable columns, nothing else of its form."""

    def __str__(self):
        return super().__str__() + str(self.form[SEEN_VERSION])


class VersionedChangelistFormSet(BaseModelFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        pk = form.fields.get(self.model._meta.pk.name)
        if pk is not None and SEEN_VERSION in form.fields:
            pk.bound_field_class = _PkAndSeenVersion


class VersionedAdminMixin:
    """For a ModelAdmin; does nothing for a model that is not a ``VersionedModel``.

    The change form and ``list_editable`` rows carry the hidden version (only for users who may
    change the record: a read-only page has no form to send back); a ``StaleEditError`` raised while
    saving (the changeform and the change list's save are one transaction each, so nothing is
    written) becomes the message and a redirect to the same page.
    """

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        if is_versioned(model):
            self.form = versioned_form(self.form)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not is_versioned(self.model):
            return fieldsets
        return _with_seen_version(fieldsets, obj is not None and self.has_change_permission(request, obj))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            response = super().changeform_view(request, object_id, form_url, extra_context)
        except StaleEditError as exc:
            # Lost the race after the form's check: the transaction rolled back, nothing was written.
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        context = getattr(response, "context_data", None) or {}
        if request.method == "POST" and "inline_admin_formsets" in context:
            # A refused inline row says so next to it, but a row deleted meanwhile is not shown at
            # all: say it at the top too (unless the change form's own error already does).
            shown = {stale_message(context["adminform"].form)} if "adminform" in context else set()
            found = {stale_message(f) for inline in context["inline_admin_formsets"] for f in inline.formset.forms}
            for message in sorted(found - shown - {None}):
                self.message_user(request, message, messages.ERROR)
        return response

    def get_changelist_form(self, request, **kwargs):
        if is_versioned(self.model):
            kwargs["form"] = versioned_form(kwargs.get("form", forms.ModelForm))
        return super().get_changelist_form(request, **kwargs)

    def get_changelist_formset(self, request, **kwargs):
        if is_versioned(self.model):
            kwargs.setdefault("formset", VersionedChangelistFormSet)
        return super().get_changelist_formset(request, **kwargs)

    def changelist_view(self, request, extra_context=None):
        try:
            response = super().changelist_view(request, extra_context)
        except StaleEditError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        # The change list shows no row's non-field errors: say them once at the top.
        cl = (getattr(response, "context_data", None) or {}).get("cl")
        formset = getattr(cl, "formset", None)
        if formset is not None and formset.is_bound:
            found = {stale_message(form) for form in formset.forms} - {None}
            for message in sorted(found):
                self.message_user(request, message, messages.ERROR)
        return response


class VersionedInlineMixin:
    """For an inline: each row of a ``VersionedModel`` carries its hidden version (see above)."""

    def __init__(self, parent_model, admin_site):
        super().__init__(parent_model, admin_site)
        if is_versioned(self.model):
            self.form = versioned_form(self.form)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not is_versioned(self.model):
            return fieldsets
        return _with_seen_version(fieldsets, self.has_change_permission(request, obj))
