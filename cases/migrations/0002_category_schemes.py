"""Category schemes: the built-in ones (cases.schemes), and every case made before them given the general scheme."""

import django.db.models.deletion
from django.db import migrations, models

from cases.schemes import GENERAL, schemes_built_in


def built_in_schemes(apps, schema_editor):
    CategoryScheme = apps.get_model("cases", "CategoryScheme")
    schemes_built_in(CategoryScheme, apps.get_model("cases", "Category"))
    Case = apps.get_model("cases", "Case")
    Case.objects.filter(scheme__isnull=True).update(scheme=CategoryScheme.objects.get(name=GENERAL))


class Migration(migrations.Migration):
    # After the migrations that make cases for the jobs of before (jobs/0012): they find no scheme to set.
    dependencies = [("cases", "0001_initial"), ("jobs", "0013_job_case_required_no_shares")]

    operations = [
        migrations.CreateModel(
            name="CategoryScheme",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                ("description", models.TextField(blank=True)),
                ("built_in", models.BooleanField(default=False, editable=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="Category",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=32)),
                ("label", models.CharField(max_length=100)),
                (
                    "key",
                    models.CharField(
                        blank=True, help_text="the key that sets it in review mode (0-9, a letter)", max_length=1
                    ),
                ),
                ("needs_confirmation", models.BooleanField(default=False)),
                ("sensitive", models.BooleanField(default=False)),
                ("clears", models.BooleanField(default=False)),
                ("position", models.PositiveSmallIntegerField(default=0)),
                (
                    "scheme",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="categories", to="cases.categoryscheme"
                    ),
                ),
            ],
            options={"verbose_name_plural": "categories", "ordering": ["scheme", "position", "id"]},
        ),
        migrations.AddConstraint(
            model_name="category",
            constraint=models.UniqueConstraint(fields=("scheme", "code"), name="category_code_once"),
        ),
        migrations.AddConstraint(
            model_name="category",
            constraint=models.UniqueConstraint(
                condition=models.Q(("key", ""), _negated=True), fields=("scheme", "key"), name="category_key_once"
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="scheme",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="cases", to="cases.categoryscheme"
            ),
        ),
        migrations.RunPython(built_in_schemes, migrations.RunPython.noop),
    ]
