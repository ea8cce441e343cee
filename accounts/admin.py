"""The Django admin's sign-in and user pages. Its sign-in is allauth's (the admin's own form would sign in through
ModelBackend, without the verified address that every sign-in needs). Its user pages save and delete through the
account services, so that an account edited or deleted there is treated as one changed on the users page: open
live-progress sockets hear of removed rights, and the jobs of a deleted account pass to the staff member deleting
it."""

from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied

from accounts.services import UserChangeRefused, user_delete, user_save

User = get_user_model()

admin.site.login = secure_admin_login(admin.site.login)

admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(UserAdmin):
    def save_model(self, request, obj, form, change) -> None:
        user_save(user=obj)

    def delete_model(self, request, obj) -> None:
        try:
            user_delete(user=obj, by=request.user)
        except UserChangeRefused as refused:
            raise PermissionDenied(str(refused)) from refused

    def delete_queryset(self, request, queryset) -> None:
        for user in queryset:
            self.delete_model(request, user)
