# The link of an issue to the visit it was raised on moves from the issue (Issue.visit) to the
# visits app. Schema only: 0006 copies the links, issues 0005 then drops the old column.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('issues', '0004_record_versions'),
        ('visits', '0004_tallies'),
    ]

    operations = [
        migrations.CreateModel(
            name='RaisedIssue',
            fields=[
                ('issue', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='raised_on', serialize=False, to='issues.issue', verbose_name='诉求')),
                ('visit', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='raised', to='visits.visit', verbose_name='来源走访')),
            ],
            options={
                'verbose_name': '诉求来源走访',
                'verbose_name_plural': '诉求来源走访',
            },
        ),
        migrations.AddField(
            model_name='visit',
            name='issues',
            field=models.ManyToManyField(related_name='+', through='visits.RaisedIssue', to='issues.issue', verbose_name='诉求'),
        ),
    ]
