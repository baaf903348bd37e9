"""``{% load map_links %}{% map_home_url as url %}``: the 民情地图 the user's own pages link to
(reports.maps.rules.home_map), "" when he may not read one."""

from django import template

from reports.maps.rules import home_map

register = template.Library()


@register.simple_tag(takes_context=True)
def map_home_url(context, community_id=None):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None:
        return ""
    return home_map(user, community_id or None)
