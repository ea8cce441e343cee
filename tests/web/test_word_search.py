"""Search by words from the gallery: a job's images ranked by a sentence with the classify model's text
embedding, and what the box says when the classify model is not installed."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from jobs.search import job_images_by_text
from tests.support.facesearch import store_real_faces
from tests.support.ml import classify_params

pytestmark = pytest.mark.integration


def test_the_gallery_ranks_a_jobs_images_by_a_sentence(
    scan, examiner, other, client_for, settings, tiny_models, fresh_registry
):
    settings.MODELS_ROOT = tiny_models
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "classify": classify_params()}
    job = scan(examiner)
    store_real_faces(job, stage="classify")
    alice = client_for(examiner)
    gallery = alice.get(reverse("jobs:gallery", args=[job.pk]))
    assert f'action="{reverse("jobs:word_search", args=[job.pk])}"' in gallery.text

    response = alice.get(reverse("jobs:word_search", args=[job.pk]), {"q": "a red car at night"})
    assert response.status_code == 200
    shown = [int(v) for v in re.findall(r'data-image="(\d+)" data-testid="wordsearch-hit"', response.text)]
    expected = job_images_by_text(job=job, text="a red car at night", limit=60)
    assert len(shown) == len(expected) >= 5
    assert shown == [hit.image_id for hit in expected]
    assert AuditEvent.objects.filter(action="images.search", target="a red car at night", job_id=job.pk).count() == 1
    assert client_for(other).get(reverse("jobs:word_search", args=[job.pk]), {"q": "car"}).status_code == 404
    assert alice.get(reverse("jobs:word_search", args=[job.pk]), {"q": "x" * 301}).status_code == 400


def test_without_the_classify_model_the_box_says_why_and_what_installs_it(
    scan, examiner, client_for, settings, tmp_path, fresh_registry
):
    settings.MODELS_ROOT = tmp_path / "no-models"
    job = scan(examiner)
    response = client_for(examiner).get(reverse("jobs:word_search", args=[job.pk]), {"q": "a red car"})
    assert response.status_code == 200
    [notice] = re.findall(r'data-testid="wordsearch-unavailable">(.*?)</p>', response.text, re.S)
    assert "Search by words is unavailable: classify:" in notice
    assert "To install it: <code>" in notice
