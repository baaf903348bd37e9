"""活动规则的页面: a campaign's rulebook read by everyone who sees the campaign, edited by the street admin.

The rules themselves, their presets and their log are ``visitplan/rulebook.py``; these pages read
``rulebook_rows`` / ``rules_for`` and write through ``update_rules``.
"""
