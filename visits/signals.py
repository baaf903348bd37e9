"""What follows a change to a campaign (visits/tally.py keeps its tallies by day of its year, the
short-visit share by its minimum length, and the visits by whether each counts):

- a campaign whose year or minimum visit length changes has its tallies rebuilt;
- a rulebook change (``visitplan.rulebook.update_rules``) to what makes a visit count (methods,
  the households they count for) recounts its visits (``visits.rules.recount``), and one to the
  timed methods rebuilds its tallies;
- a campaign saved has the partitions of its year (core/partitions.py, on PostgreSQL).
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


@receiver(post_save, sender=Campaign)
def partitions_for_its_year(sender, instance, raw=False, **kwargs):
    """A campaign's year gets its partitions of the visits and the issue events before its first
    visit (core/partitions.py, decision 0019), when one is missing: in the save's transaction, which
    keeps the two tables locked until it commits (an admin's save: milliseconds). A lock not had
    within 5 s is logged and the save goes on; the monthly task tries again."""
    if raw:
        return
    from core.partitions import ensure_all_or_log

    ensure_all_or_log([instance.year])


@on_rules_changed
def follow_rules(campaign, changed):
    from . import rules, tally

    if changed & COUNTING_RULES:
        rules.recount(campaign)
    if changed & TALLY_RULES:
        transaction.on_commit(lambda: tally.rebuild(campaign))
