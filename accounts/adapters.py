"""allauth's hooks for this project."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.http import Http404, HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Self sign-up is open only where ACCOUNT_SIGNUP_ENABLED says so (staff invite users otherwise)."""
        return settings.ACCOUNT_SIGNUP_ENABLED


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def get_provider(self, request: HttpRequest, provider, client_id=None):
        """The provider, or 404 where it is not configured (no client id and secret in the environment): its sign-in
        and callback pages do not exist here, rather than failing with allauth's SocialApp.DoesNotExist."""
        try:
            return super().get_provider(request, provider, client_id=client_id)
        except SocialApp.DoesNotExist:
            raise Http404("No such sign-in provider.") from None
