"""The focus-group vocabulary of the campaign plans (重点人群); editable in the admin afterwards."""

from django.db import migrations

# (name, aliases, 五个重点访, weekly visit by community cadres)
FOCUS_GROUPS = [
    ("老党员", "", True, False),
    ("困难群众", "困难家庭", True, False),
    ("低保户", "", False, False),
    ("孤寡老人", "", True, True),
    ("留守儿童", "", True, False),
    ("上访老户", "信访人员", True, False),
    ("残疾人", "", False, False),
    ("高龄老人", "", False, True),
    ("卧床病人", "", False, True),
    ("单亲儿童", "", False, True),
    ("特殊困难群体", "", False, False),
    ("驻区企业", "", False, False),
]


def add(apps, schema_editor):
    FocusGroup = apps.get_model("households", "FocusGroup")
    for order, (name, aliases, key_five, weekly) in enumerate(FOCUS_GROUPS, start=1):
        FocusGroup.objects.update_or_create(
            name=name, defaults={"aliases": aliases, "key_five": key_five, "weekly_visit": weekly, "order": order}
        )


def remove(apps, schema_editor):
    apps.get_model("households", "FocusGroup").objects.filter(name__in=[g[0] for g in FOCUS_GROUPS]).delete()


class Migration(migrations.Migration):
    dependencies = [("households", "0001_initial")]
    operations = [migrations.RunPython(add, remove)]
