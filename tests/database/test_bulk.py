"""database.bulk.bulk_insert against the real database: what bulk_create(ignore_conflicts=True) does, through COPY on
PostgreSQL."""

from __future__ import annotations

import sys

import pytest
from django.db import connection, transaction

from content.models import Image
from database.bulk import bulk_insert
from tests.support.bulk import every_kind_of_column_is_written_as_bulk_create_writes_it, image
from tests.support.environment import REPO, embedded_env
from tests.support.processes import child_run


def staged_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bulk_gallery_image")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_rows_go_in_and_a_row_that_conflicts_is_skipped():
    bulk_insert(Image, [image(1), image(2)])
    bulk_insert(Image, [image(2, mime="image/png"), image(3)])
    rows = dict(Image.objects.values_list("size", "mime"))
    assert rows == {1: "image/jpeg", 2: "image/jpeg", 3: "image/jpeg"}  # the row already there is kept as it was
    assert Image.objects.filter(created_at__isnull=True).count() == 0  # auto_now_add filled in, as bulk_create does


@pytest.mark.django_db
def test_the_staging_table_is_empty_after_each_insert_in_one_transaction():
    with transaction.atomic():
        bulk_insert(Image, [image(1)])
        assert staged_rows() == 0
        bulk_insert(Image, [image(2)])
        assert staged_rows() == 0
    assert Image.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_first_insert_that_is_rolled_back_leaves_the_next_one_working():
    connection.close()  # a connection that has never made the staging table

    def failing_transaction() -> None:
        with transaction.atomic():
            bulk_insert(Image, [image(1)])
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        failing_transaction()
    bulk_insert(Image, [image(2)])  # the staging table went with the rollback: it is made again
    bulk_insert(Image, [image(3)])  # and is known to exist from then on
    assert sorted(Image.objects.values_list("size", flat=True)) == [2, 3]


@pytest.mark.django_db
def test_every_kind_of_column_is_written_as_bulk_create_writes_it(django_user_model):
    every_kind_of_column_is_written_as_bulk_create_writes_it(django_user_model.objects.create_user("owner"))


# Runs in the embedded configuration, on a new SQLite database.
_ON_SQLITE = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
call_command("migrate", verbosity=0)
assert connection.vendor == "sqlite"
from tests.support.bulk import every_kind_of_column_is_written_as_bulk_create_writes_it
every_kind_of_column_is_written_as_bulk_create_writes_it(get_user_model().objects.create_user("owner"))
"""


def test_every_kind_of_column_is_written_as_bulk_create_writes_it_on_sqlite(tmp_path):
    env = {**embedded_env(tmp_path), "DJANGO_SETTINGS_MODULE": "scanner.settings.embedded"}  # as manage.py sets it
    done = child_run([sys.executable, "-c", _ON_SQLITE], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
