"""The admin's safety rails, inherited by every ModelAdmin and inline of the project.

- URL lookups: a change list filters only by the filters it declares (``list_filter``,
  ``date_hierarchy``), with values of the declared field's type. Django's default lets any
  local field through (``?id_number__startswith=3703``, ``?phone__regex=…``), which turns a
  change list into an oracle for what it does not show; here anything else is a 400.
"""

from django.contrib import admin
from django.contrib.admin import widgets
from django.contrib.admin.filters import SimpleListFilter
from django.core.exceptions import ValidationError

# The bounds of a database integer (bigint): a larger number is a 400, not an OverflowError.
MAX_DB_INT = 2**63 - 1

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
    if isinstance(python, int) and not isinstance(python, bool) and abs(python) > MAX_DB_INT:
        return False
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
                lookups[f"{path}__isnull"] = "bool"
            else:
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
                return True
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


class SafeAdminMixin(StrictLookupsMixin):
    """Everything every ModelAdmin of the project does; see the module docstring."""


class SafeModelAdmin(SafeAdminMixin, admin.ModelAdmin):
    pass


class SafeInlineMixin:
    """Everything every inline of the project does."""


class SafeTabularInline(SafeInlineMixin, admin.TabularInline):
    pass


class SafeStackedInline(SafeInlineMixin, admin.StackedInline):
    pass



def harden_admin_site(site):
    """Put the rails under every ModelAdmin registered on ``site``, third-party ones (django-axes,
    django-celery-beat, django.contrib.auth) included: each is re-registered as a subclass with
    ``SafeAdminMixin`` first. Called once the admin modules are loaded (CoreConfig.ready)."""
    for model, model_admin in list(site._registry.items()):
        cls = type(model_admin)
        if isinstance(model_admin, SafeAdminMixin):
            continue
        safe = type(cls.__name__, (SafeAdminMixin, cls), {"__module__": cls.__module__})
        site.unregister(model)
        site.register(model, safe)
