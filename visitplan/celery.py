import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")

app = Celery("visitplan")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect(weak=False)
def _one_beat_only(sender=None, **kwargs):
    """Only one beat may run: take the beat lock or end this beat (core/beat_lock.py)."""
    from core.beat_lock import on_beat_init

    on_beat_init(sender=sender, **kwargs)
