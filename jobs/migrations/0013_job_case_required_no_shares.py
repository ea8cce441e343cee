"""Every job is in a case (0012 gave each one its own), and who may see it is its case's members: the shares go."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0012_cases_of_their_own")]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="case",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="jobs", to="cases.case"
            ),
        ),
        migrations.DeleteModel(name="JobShare"),
    ]
