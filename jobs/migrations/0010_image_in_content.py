"""The foreign keys to Image lead to the content app's model: the same table, so the state changes and the database
does not.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('content', '0001_initial'),
        ('jobs', '0009_paths_shown_one_to_one'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='fileinstance',
                    name='image',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='instances', to='content.image'),
                ),
                migrations.AlterField(
                    model_name='jobimage',
                    name='image',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='job_images', to='content.image'),
                ),
                migrations.AlterField(
                    model_name='stageclaim',
                    name='image',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='content.image'),
                ),
            ],
            database_operations=[],
        ),
    ]
