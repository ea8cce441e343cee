"""The content models' admin pages, served under /admin/content/ since the models moved out of the gallery app; the
addresses under /admin/gallery/ lead there for good."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/admin/gallery/", "/admin/content/"),
        ("/admin/gallery/image/", "/admin/content/image/"),
        ("/admin/gallery/image/?q=abc&mime=image%2Fjpeg", "/admin/content/image/?q=abc&mime=image%2Fjpeg"),
        ("/admin/gallery/stageresult/7/change/", "/admin/content/stageresult/7/change/"),
        ("/admin/gallery/exifdata/", "/admin/content/exifdata/"),
        ("/admin/gallery/face/3/change/", "/admin/content/face/3/change/"),
        ("/admin/gallery/classification/", "/admin/content/classification/"),
    ],
)
def test_an_old_admin_address_leads_for_good_to_the_content_app(admin_client, old, new):
    response = admin_client.get(old)
    assert response.status_code == 308
    assert response["Location"] == new


@pytest.mark.parametrize("model", ["image", "stageresult", "exifdata", "face", "classification"])
def test_the_content_models_are_listed_under_the_content_app(admin_client, model):
    assert admin_client.get(f"/admin/content/{model}/").status_code == 200
    assert admin_client.get(f"/admin/gallery/{model}/", follow=True).redirect_chain == [
        (f"/admin/content/{model}/", 308)
    ]
