"""``{% level_text "…" %}``: a phrase written with the urban level words (社区, 网格, 街道…) in the
words of the page's ``levels`` (households.levels; the context processor puts them in every
template). A 街道's page gets the phrase unchanged."""

from django import template
from django.utils.safestring import SafeData, mark_safe

from ..levels import URBAN

register = template.Library()


@register.simple_tag(takes_context=True)
def level_text(context, text):
    levels = context.get("levels") or URBAN
    result = levels.rewrite(str(text))
    # A literal of the template is safe, and stays so: the level words add no markup.
    return mark_safe(result) if isinstance(text, SafeData) else result
