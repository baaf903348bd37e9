"""Visits (入户走访台账). The visit form and follow-ups build on this model."""

from django.conf import settings
from django.db import models

from households.models import Household
from visitplan.models import Cadre, Campaign


class VisitMethod(models.TextChoices):
    IN_PERSON = "in_person", "入户"
    PHONE = "phone", "电话"
    WECHAT = "wechat", "微信"
    SMS = "sms", "短信"
    MEETING = "meeting", "座谈"
    NOT_HOME = "not_home", "未遇"


class VisitQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(household__in=Household.objects.visible_to(user))


class Visit(models.Model):
    campaign = models.ForeignKey(Campaign, verbose_name="走访活动", on_delete=models.PROTECT, related_name="visits")
    household = models.ForeignKey(Household, verbose_name="户", on_delete=models.PROTECT, related_name="visits")
    cadre = models.ForeignKey(Cadre, verbose_name="走访干部", on_delete=models.PROTECT, related_name="visits")
    method = models.CharField("走访方式", max_length=16, choices=VisitMethod.choices, default=VisitMethod.IN_PERSON)
    visited_on = models.DateField("走访日期")
    notes = models.TextField("民情日记", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    objects = VisitQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "走访记录"
        ordering = ["-visited_on", "-id"]
        indexes = [models.Index(fields=["campaign", "household"], name="visit_campaign_household")]

    def __str__(self):
        return f"{self.visited_on} {self.cadre.name} → {self.household}"
