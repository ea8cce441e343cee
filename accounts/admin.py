"""The Django admin's user pages, saving and deleting through the account services, so that an account edited or
deleted there is treated as one changed on the users page: open live-progress sockets hear of removed rights, and
the jobs of a deleted account pass to the staff member deleting it."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied

from accounts.services import UserChangeRefused, user_delete, user_save

User = get_user_model()

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
