"""What follows a change to a campaign (visits/tally.py keeps its tallies by day of its year, the
short-visit share by its minimum length, and the visits by whether each counts):

- a campaign whose year or minimum visit length changes has its tallies rebuilt;
- a rulebook change (``visitplan.rulebook.update_rules``) to what makes a visit count (methods,
  the households they count for) recounts its visits (``visits.rules.recount``), and one to the
  timed methods rebuilds its tallies.
"""

from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from visitplan.models import Campaign
from visitplan.rulebook import on_rules_changed

# The columns whose change (however saved) rebuilds the tallies; the minimum is one of the rulebook's
# rules kept in a column, so a rulebook change to it is rebuilt by this signal, once.
TALLIED = ("year", "min_visit_minutes")
COUNTING_RULES = frozenset({"counted_methods", "away_only_methods", "away_groups"})
TALLY_RULES = COUNTING_RULES | {"timed_methods"}


@receiver(pre_save, sender=Campaign)
def remember_tallied_fields(sender, instance, raw=False, **kwargs):
    if raw or not instance.pk:
        return
    instance._tallied_before = Campaign.objects.filter(pk=instance.pk).values_list(*TALLIED).first()


@receiver(post_save, sender=Campaign)
def rebuild_when_changed(sender, instance, created=False, raw=False, **kwargs):
    before = getattr(instance, "_tallied_before", None)
    if raw or created or before is None or before == tuple(getattr(instance, f) for f in TALLIED):
        return
    from . import tally

    transaction.on_commit(lambda: tally.rebuild(instance))


@on_rules_changed
def follow_rules(campaign, changed):
    from . import rules, tally

    if changed & COUNTING_RULES:
        rules.recount(campaign)
    if changed & TALLY_RULES:
        transaction.on_commit(lambda: tally.rebuild(campaign))
