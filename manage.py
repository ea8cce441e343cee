#!/usr/bin/env python
"""Django's command-line utility. With no DJANGO_SETTINGS_MODULE set it runs the embedded configuration."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scanner.settings.embedded")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
