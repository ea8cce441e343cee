from django.apps import AppConfig


class HashsetsConfig(AppConfig):
    name = "hashsets"
    verbose_name = "Hash sets"
