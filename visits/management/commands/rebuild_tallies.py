"""manage.py rebuild_tallies [--campaign ID]: recompute the dashboard's tallies from the visits.

The same function as the nightly Celery task (``visits.tally.rebuild``). Run it after loading
visits in bulk or restoring a backup; it is all or nothing, and running it twice changes nothing.
"""

from django.core.management.base import BaseCommand, CommandError

from core import clock


class Command(BaseCommand):
    help = "按走访记录重算统计看板所用的汇总（按户走访日历、干部走访起止、每日走访汇总）；默认今年和去年的活动"

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, help="走访活动 ID，默认今年和去年的全部活动")

    def handle(self, *args, **options):
        from visitplan.models import Campaign
        from visits import tally

        if options["campaign"] is not None:
            campaign = Campaign.objects.filter(pk=options["campaign"]).first()
            if campaign is None:
                raise CommandError(f"没有 ID 为 {options['campaign']} 的走访活动")
            done = {campaign.pk: tally.rebuild(campaign)}
        else:
            done = tally.rebuild_current(clock.today())
        for pk, f in done.items():
            self.stdout.write(
                f"活动 {pk}：{f['households']:,} 户走访日历，{f['spans']:,} 条干部走访起止，{f['days']:,} 条每日汇总"
            )
        if not done:
            self.stdout.write("没有需要重算的走访活动")
