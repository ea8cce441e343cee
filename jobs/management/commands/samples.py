"""`manage.py samples DIR`: write a small generated evidence folder (for the demo)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.samples import make_sample_tree


class Command(BaseCommand):
    help = "Generate a small evidence folder: photos with EXIF/GPS, a duplicate, a damaged JPEG, a non-image."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder")

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(options["folder"])
        if root.exists() and any(root.iterdir()):
            raise CommandError(f"{root} is not empty; give a new folder")
        expected = make_sample_tree(root)
        self.stdout.write(f"{expected['files']} files written to {root}")
