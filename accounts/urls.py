from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.users, name="users"),
    path("invite", views.user_invite_view, name="invite"),
    path("<int:user_id>/active", views.user_active, name="active"),
    path("<int:user_id>/delete", views.user_remove, name="delete"),
]
