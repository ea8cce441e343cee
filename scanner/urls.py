"""URL configuration. Every route needs a signed-in user (LoginRequiredMiddleware) except allauth's sign-in pages."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from accounts.views import EmailView, LoginView
from api.flower import FlowerProxy
from casework import urls as casework_urls
from gallery import urls as gallery_urls
from jobs import urls as jobs_urls

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="jobs:list"), name="home"),
    # Before allauth's own: its email page with the rule that only a verified address is made primary, and its
    # sign-in page that offers sign-up only while it is open.
    path("accounts/email/", EmailView.as_view(), name="account_email"),
    path("accounts/login/", LoginView.as_view(), name="account_login"),
    path("accounts/", include("allauth.urls")),
    path(
        "jobs/", include(([*jobs_urls.urlpatterns, *gallery_urls.urlpatterns, *casework_urls.job_urlpatterns], "jobs"))
    ),
    path("jobs/", include("verification.urls")),
    path("cases/", include(casework_urls)),
    path("users/", include("accounts.urls")),
    path("hashsets/", include("accounts.hashsets_urls")),
    path("tokens/", include("api.urls")),
    path("admin/gallery/", include("content.urls")),
    path("admin/", admin.site.urls),
    re_path(r"^flower/(?P<path>.*)$", FlowerProxy.as_view(), name="flower"),
]
