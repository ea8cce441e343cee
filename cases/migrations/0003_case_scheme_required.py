"""Every case has a scheme (0002 gave the cases of before the general one)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_category_schemes")]

    operations = [
        migrations.AlterField(
            model_name="case",
            name="scheme",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="cases", to="cases.categoryscheme"
            ),
        ),
    ]
