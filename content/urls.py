"""The admin pages of the content models were served under /admin/gallery/ while they lived in the gallery app; those
addresses (bookmarks, links in notes) lead permanently to the same page under /admin/content/."""

from django.http import HttpResponsePermanentRedirect
from django.urls import re_path, reverse
from django.utils.encoding import escape_uri_path
from django.views.generic import RedirectView


class _MovedForGood(HttpResponsePermanentRedirect):
    status_code = 308  # as 301, but a form posted to the old address is posted again, not turned into a GET


class AdminMovedView(RedirectView):
    permanent = True

    def get(self, request, *args, **kwargs) -> _MovedForGood:
        return _MovedForGood(self.get_redirect_url(*args, **kwargs))

    def get_redirect_url(self, *args, rest: str, **kwargs) -> str:
        url = reverse("admin:app_list", kwargs={"app_label": "content"}) + escape_uri_path(rest)
        query = self.request.META.get("QUERY_STRING", "")
        return f"{url}?{query}" if query else url


urlpatterns = [re_path(r"^(?P<rest>.*)$", AdminMovedView.as_view())]
