"""Template helpers of the visit and follow-up forms."""

from django import template

from ..forms import error_summary as summary_of

register = template.Library()


@register.simple_tag
def error_summary(form, formset=None):
    """``{% error_summary form formset as errors %}``: the list of visits.forms.error_summary."""
    return summary_of(form, formset)
