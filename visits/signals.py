"""A campaign whose year or minimum visit length changes has its tallies rebuilt (visits/tally.py:
the day strings are by day of its year, the 30-minute share by its minimum)."""

from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from visitplan.models import Campaign

TALLIED = ("year", "min_visit_minutes")


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
