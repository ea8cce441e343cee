"""Data migrations of the jobs app, run on rows as an earlier version recorded them."""

from __future__ import annotations

import hashlib
import importlib

from django.apps import apps

from cases.services import case_create
from jobs.models import FileInstance, Job

paths_shown_one_to_one = importlib.import_module("jobs.migrations.0009_paths_shown_one_to_one")


def test_paths_recorded_before_the_one_to_one_rule_are_shown_by_it(db, django_user_model):
    owner = django_user_model.objects.create_user(username="examiner", email="examiner@lab.example")
    job = Job.objects.create(
        name="before", owner=owner, source_path="/evidence", case=case_create(reference="2024-017", title="t")
    )
    # (path, path_bytes) as the earlier rule recorded them -> as the migration leaves them.
    rows = {
        ("photos/IMG_0001.jpg", None): ("photos/IMG_0001.jpg", None),
        ("café.jpg", None): ("café.jpg", None),
        ("bad\\xff.jpg", b"bad\xff.jpg"): ("bad\\xff.jpg", b"bad\xff.jpg"),  # the byte
        ("bad\\xff.jpg", None): ("bad\\\\xff.jpg", b"bad\\xff.jpg"),  # the text, shown as the byte until now
        ("invoice\u202egpj.exe", None): ("invoice\\u202egpj.exe", "invoice\u202egpj.exe".encode()),
    }
    digests = {}
    for path, path_bytes in rows:
        digest = hashlib.sha256(path_bytes if path_bytes is not None else path.encode()).hexdigest()
        FileInstance.objects.create(job=job, path=path, path_bytes=path_bytes, path_digest=digest, status="image")
        digests[(path, path_bytes)] = digest

    paths_shown_one_to_one._show_paths_one_to_one(apps, None)

    for before, after in rows.items():
        migrated = FileInstance.objects.get(job=job, path_digest=digests[before])
        assert (migrated.path, None if migrated.path_bytes is None else bytes(migrated.path_bytes)) == after
