"""allauth's hooks for this project."""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Labs that create accounts themselves close self sign-up (ACCOUNT_SIGNUP_ENABLED=false)."""
        return settings.ACCOUNT_SIGNUP_ENABLED
