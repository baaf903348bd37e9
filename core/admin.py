"""The admin's safety rails, inherited by every ModelAdmin and inline of the project.

- URL lookups: a change list filters only by the filters it declares (``list_filter``,
  ``date_hierarchy``), with values of the declared field's type (a SimpleListFilter: one of the
  choices it offers the user). Django's default lets any local field through
  (``?id_number__startswith=3703``, ``?phone__regex=…``), which turns a change list into an
  oracle for what it does not show; here anything else is a 400.
- Relation fields: every foreign-key and many-to-many field of every form and inline offers and
  accepts only the objects the user may see (the related model's ``visible_to(user)``, else its
  admin's scoped ``get_queryset``), and a raw-id widget labels a value only if it is one of them:
  an out-of-scope id is a form error that names nothing.
- Stale edits: a change form, its inline rows and editable list rows carry the version the
  editor loaded, and a save from a stale page is refused with nothing written
  (core/versioning.py).
"""

from django import forms
from django.contrib import admin
from django.contrib.admin import widgets
from django.contrib.admin.filters import SimpleListFilter
from django.core.exceptions import PermissionDenied, ValidationError

from .backups import human_duration, human_size
from .models import Backup
from .params import db_integer_range
from .versioning import VersionedAdminMixin, VersionedInlineMixin

# What each kind of declared field filter puts in the URL (django.contrib.admin.filters).
_FIELD_FILTER_LOOKUPS = ("exact", "isnull", "isempty", "gte", "lt")
_DATE_HIERARCHY_PARTS = ("year", "month", "day")


def _field_at(model, path):
    field = None
    for part in path.split("__"):
        field = model._meta.get_field(part)
        if field.is_relation and field.related_model is not None:
            model = field.related_model
    return field


def _value_fits(field, value) -> bool:
    """Whether ``value`` is a valid value of ``field`` (an int in the database's range, a real date)."""
    try:
        python = field.to_python(value)
    except (ValidationError, TypeError, ValueError, OverflowError):
        return False
    if isinstance(python, int) and not isinstance(python, bool):
        # A number past the database's integer range is a 400, not an OverflowError or DataError.
        low, high = db_integer_range()
        return low <= python <= high
    return True


def _bool_text(value) -> bool:
    return value in ("0", "1", "True", "False", "true", "false")


class StrictLookupsMixin:
    """``lookup_allowed``: only the declared filters, with values of the right type."""

    def declared_lookups(self, request):
        """{URL parameter: field it filters (None: a SimpleListFilter checks its own value)}."""
        lookups = {}
        for item in self.get_list_filter(request):
            if isinstance(item, type) and issubclass(item, SimpleListFilter):
                lookups[item.parameter_name] = None
                continue
            path = item[0] if isinstance(item, (list, tuple)) else item
            if not isinstance(path, str):
                continue
            field = _field_at(self.model, path)
            if field.is_relation:
                target = field.target_field
                lookups[f"{path}__{target.name}__exact"] = target
                lookups[path] = target  # the same filter, written as a plain field
                lookups[f"{path}__isnull"] = "bool"
            else:
                lookups[path] = field
                for suffix in _FIELD_FILTER_LOOKUPS:
                    lookups[f"{path}__{suffix}"] = "bool" if suffix in ("isnull", "isempty") else field
        hierarchy = self.date_hierarchy
        if hierarchy:
            for part in _DATE_HIERARCHY_PARTS:
                lookups[f"{hierarchy}__{part}"] = part
        return lookups

    def lookup_allowed(self, lookup, value, request=None):
        declared = self.declared_lookups(request)
        if lookup in declared:
            kind = declared[lookup]
            if kind is None:
                return self._simple_filter_offers(lookup, value, request)
            if kind == "bool":
                return _bool_text(value)
            if kind in _DATE_HIERARCHY_PARTS:
                return value.isdigit() and 0 < int(value) <= {"year": 9999, "month": 12, "day": 31}[kind]
            return _value_fits(kind, value)
        # The raw-id popup of a field with limit_choices_to passes those lookups (Django's own rule).
        for fk_lookup in self.model._meta.related_fkey_lookups:
            if callable(fk_lookup):
                fk_lookup = fk_lookup()
            if (lookup, value) in widgets.url_params_from_lookup_dict(fk_lookup).items():
                return True
        return False

    def _simple_filter_offers(self, parameter, value, request):
        for item in self.get_list_filter(request):
            if isinstance(item, type) and issubclass(item, SimpleListFilter) and item.parameter_name == parameter:
                spec = item(request, {}, self.model, self)
                return str(value) in {str(key) for key, _ in spec.lookup_choices}
        return False


def scoped_related_queryset(site, model, request):
    """The objects of ``model`` that ``request.user`` may see: ``visible_to`` when the model has
    one, else the scoped queryset of its admin, else all (reference data such as focus groups)."""
    manager = model._default_manager
    if hasattr(manager, "visible_to"):
        return manager.visible_to(request.user)
    model_admin = site._registry.get(model)
    if model_admin is not None:
        return model_admin.get_queryset(request)
    return manager.all()


class ScopedRawIdWidget(widgets.ForeignKeyRawIdWidget):
    """Labels the id it holds only when the object is in ``queryset`` (the field's choices)."""

    def __init__(self, rel, admin_site, queryset, attrs=None, using=None):
        super().__init__(rel, admin_site, attrs=attrs, using=using)
        self.queryset = queryset

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            if not self.queryset.filter(**{key: value}).exists():
                return "", ""
        except (ValueError, TypeError, OverflowError, ValidationError):
            return "", ""
        return super().label_and_url_for_value(value)


class ScopedRelationsMixin:
    """Relation fields offer and accept only what the user may see (see the module docstring)."""

    def get_field_queryset(self, db, db_field, request):
        queryset = scoped_related_queryset(self.admin_site, db_field.remote_field.model, request)
        ordering = super().get_field_queryset(db, db_field, request)
        if ordering is not None and ordering.query.order_by:
            queryset = queryset.order_by(*ordering.query.order_by)
        return queryset.using(db) if db else queryset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and type(field.widget) is widgets.ForeignKeyRawIdWidget:
            field.widget = ScopedRawIdWidget(
                db_field.remote_field,
                self.admin_site,
                field.queryset,
                attrs=field.widget.attrs,
                using=kwargs.get("using"),
            )
        return field


class SafeAdminMixin(VersionedAdminMixin, ScopedRelationsMixin, StrictLookupsMixin):
    """Everything every ModelAdmin of the project does; see the module docstring."""


class SafeModelAdmin(SafeAdminMixin, admin.ModelAdmin):
    pass


class SafeInlineMixin(VersionedInlineMixin, ScopedRelationsMixin):
    """Everything every inline of the project does."""


class SafeTabularInline(SafeInlineMixin, admin.TabularInline):
    """A tabular inline whose inputs are named: the column header is a <th> that no <label> points
    to, so each widget carries its field's label as ``aria-label`` (WCAG 1.3.1 / 4.1.2)."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        for name, field in formset.form.base_fields.items():
            field.widget.attrs.setdefault("aria-label", str(field.label or name))
        formset.deletion_widget = forms.CheckboxInput(attrs={"aria-label": "删除本行"})
        return formset


class SafeStackedInline(SafeInlineMixin, admin.StackedInline):
    pass


class ReadOnlyAdmin(SafeModelAdmin):
    """Lists only: the rows are written by the app's services and jobs, never typed into the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def harden_admin_site(site):
    """Put the rails under every ModelAdmin registered on ``site``, third-party ones (django-axes,
    django-celery-beat, django.contrib.auth) included: each is re-registered as a subclass with
    ``SafeAdminMixin`` first. Called once the admin modules are loaded (CoreConfig.ready)."""
    for model, model_admin in list(site._registry.items()):
        cls = type(model_admin)
        if isinstance(model_admin, SafeAdminMixin) and all(issubclass(i, SafeInlineMixin) for i in cls.inlines):
            continue
        inlines = [
            inline
            if issubclass(inline, SafeInlineMixin)
            else type(inline.__name__, (SafeInlineMixin, inline), {"__module__": inline.__module__})
            for inline in cls.inlines
        ]
        safe = type(cls.__name__, (SafeAdminMixin, cls), {"__module__": cls.__module__, "inlines": inlines})
        site.unregister(model)
        site.register(model, safe)


# ------------------------------------------------------------------------------------------- 数据备份


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    """The backup records (core/backups.py), read-only: the street admins read them (``core.view_backup``,
    core/roles.py); nobody adds, edits or deletes one here."""

    list_display = ("started_at", "status", "duration_text", "dump_size", "media_size", "error_text")
    list_filter = ("status",)
    date_hierarchy = "started_at"
    fields = ("started_at", "finished_at", "duration_text", "status", "engine_text", "dump_file", "dump_size",
              "media_file", "media_size", "media_files", "tables_text", "kept_until", "nightly_for", "error")  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        return Backup.objects.visible_to(request.user)

    def history_view(self, request, object_id, extra_context=None):
        # Django looks the object up first: without the permission, a 403 rather than "does not exist".
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)

    def _or_empty(self, value, words):
        # "6.3 秒", "26.3 MB" on one line in the narrow columns.
        return self.get_empty_value_display() if value is None else words(value).replace(" ", "\u00a0")

    @admin.display(description="用时", ordering="duration")
    def duration_text(self, obj):
        return self._or_empty(obj.duration, human_duration)

    @admin.display(description="数据库备份大小", ordering="dump_bytes")
    def dump_size(self, obj):
        return self._or_empty(obj.dump_bytes, human_size)

    @admin.display(description="上传文件大小", ordering="media_bytes")
    def media_size(self, obj):
        return self._or_empty(obj.media_bytes, human_size)

    @admin.display(description="数据库")
    def engine_text(self, obj):
        names = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
        return names.get(obj.engine, obj.engine) or self.get_empty_value_display()

    @admin.display(description="失败原因")
    def error_text(self, obj):
        return obj.error if len(obj.error) <= 40 else obj.error[:39] + "…"

    @admin.display(description="备份内容")
    def tables_text(self, obj):
        if not obj.row_counts:
            return self.get_empty_value_display()
        return f"{len(obj.row_counts)} 张表，共 {sum(obj.row_counts.values()):,} 行"
