from django.urls import path

from accounts import hashsets

app_name = "hashsets"
urlpatterns = [
    path("", hashsets.hash_sets, name="list"),
    path("import", hashsets.hash_set_import_view, name="import"),
    path("<int:hash_set_id>/enabled", hashsets.hash_set_enabled, name="enabled"),
    path("<int:hash_set_id>/delete", hashsets.hash_set_remove, name="delete"),
]
