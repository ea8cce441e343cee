"""The staff's hash-set page: list, upload and import, enable, disable, delete; anyone else gets 404, audited."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from hashsets.models import HashEntry, HashSet
from tests.support import hashsets as build

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = build.digests(6)


def _upload(tmp_path, builder=build.csv_list, **kwargs) -> SimpleUploadedFile:
    path = builder(tmp_path, ROWS, **kwargs)
    return SimpleUploadedFile(path.name, path.read_bytes())


def test_staff_import_an_upload_and_see_it_listed(make_user, client_for, tmp_path, settings) -> None:
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100  # the upload goes to a temporary file, as a large one does
    staff = make_user("lead@example.org", staff=True)
    client = client_for(staff)
    upload = _upload(tmp_path, extra_lines=["x.jpg,zz,,1"])
    response = client.post(
        reverse("hashsets:import"), {"file": upload, "name": "Lab <b>list</b>", "kind": "known-bad"}, follow=True
    )
    assert response.status_code == 200
    hash_set = HashSet.objects.get()
    assert (hash_set.status, hash_set.entries, hash_set.malformed, hash_set.source_name) == (
        "ready",
        12,
        1,
        "hashes.csv",
    )
    assert hash_set.imported_by == staff
    page = response.text
    assert (
        "Lab &lt;b&gt;list&lt;/b&gt; imported: 12 entries, 1 malformed lines (line 8: MD5: not a hexadecimal hash)"
        in page
    )
    assert hash_set.source_sha256 in page
    assert AuditEvent.objects.get(action="hashset.import").via == "web"


def test_a_refused_import_is_said_on_the_page(make_user, client_for, tmp_path) -> None:
    client = client_for(make_user("lead@example.org", staff=True))
    notes = SimpleUploadedFile("notes.txt", b"dear diary\n")
    page = client.post(reverse("hashsets:import"), {"file": notes, "name": "N", "kind": "alert"}, follow=True).text
    assert "notes.txt: not a hash list of any format known" in page
    page = client.post(reverse("hashsets:import"), {"name": "N", "kind": "alert"}, follow=True).text
    assert "This field is required." in page
    assert not HashSet.objects.exists()
    assert AuditEvent.objects.filter(action="hashset.import", outcome="refused").count() == 2


def test_staff_enable_disable_delete(make_user, client_for, tmp_path) -> None:
    client = client_for(make_user("lead@example.org", staff=True))
    client.post(reverse("hashsets:import"), {"file": _upload(tmp_path, build.plain), "name": "Own", "kind": "alert"})
    hash_set = HashSet.objects.get()
    assert client.post(reverse("hashsets:enabled", args=[hash_set.pk]), {"enabled": "0"}).status_code == 302
    assert not HashSet.objects.get().enabled
    client.post(reverse("hashsets:enabled", args=[hash_set.pk]), {"enabled": "1"})
    assert HashSet.objects.get().enabled
    assert client.post(reverse("hashsets:delete", args=[hash_set.pk])).status_code == 302
    assert not HashSet.objects.exists()
    assert not HashEntry.objects.exists()
    assert client.post(reverse("hashsets:delete", args=[hash_set.pk])).status_code == 404


def test_anyone_but_staff_gets_404_and_is_audited(examiner, client_for, tmp_path) -> None:
    hash_set = HashSet.objects.create(name="Kept", kind="known-bad", status="ready")
    client = client_for(examiner)
    assert client.get(reverse("hashsets:list")).status_code == 404
    upload = _upload(tmp_path, build.plain)
    assert client.post(reverse("hashsets:import"), {"file": upload, "name": "X", "kind": "alert"}).status_code == 404
    assert client.post(reverse("hashsets:enabled", args=[hash_set.pk]), {"enabled": "0"}).status_code == 404
    assert client.post(reverse("hashsets:delete", args=[hash_set.pk])).status_code == 404
    assert list(HashSet.objects.values_list("name", "enabled")) == [("Kept", True)]
    refused = list(AuditEvent.objects.filter(outcome="refused").order_by("pk").values_list("action", "username"))
    assert refused == [
        (a, examiner.email) for a in ("hashset.list", "hashset.import", "hashset.enable", "hashset.delete")
    ]
    assert "Hash sets" not in client.get(reverse("jobs:list")).text


def test_the_admin_lists_the_sets_read_only(make_user, client_for) -> None:
    hash_set = HashSet.objects.create(name="Listed", kind="known-good", status="ready")
    client = client_for(make_user("root@example.org", staff=True, superuser=True))
    assert "Hash sets" in client.get(reverse("jobs:list")).text
    assert "Listed" in client.get(reverse("admin:hashsets_hashset_changelist")).text
    assert client.get(reverse("admin:hashsets_hashset_add")).status_code == 403
    assert client.post(reverse("admin:hashsets_hashset_delete", args=[hash_set.pk]), {"post": "yes"}).status_code == 403
    assert HashSet.objects.filter(pk=hash_set.pk).exists()


def test_signed_out_visitors_are_sent_to_sign_in(client) -> None:
    for response in (client.get(reverse("hashsets:list")), client.post(reverse("hashsets:import"))):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
