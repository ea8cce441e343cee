"""The files every portable case made from the command line or the case page carries besides its images and file
exports (reports.portable): the case report and the interchange exports, each a PortableFile."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from audit.services import cli_actor, user_name
from cases.models import Case
from cases.selectors import vics_incompatible
from interchange.selectors import ExportScope
from interchange.services import export_write
from reports.build import SECTIONS
from reports.portable import PortableFile
from reports.selectors import scope_of
from reports.services import report_write

User = AbstractBaseUser | AnonymousUser


def _export_file(name: str, scope: ExportScope, fmt: str) -> PortableFile:
    def write(out: BinaryIO) -> None:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        try:
            export_write(scope=scope, fmt=fmt, out=text, audited={"portable": True})
        finally:
            text.flush()
            text.detach()

    return PortableFile(name=name, write=write)


def _report_file(case: Case, user: User | None) -> PortableFile:
    def write(out: BinaryIO) -> None:
        with tempfile.TemporaryDirectory(prefix="portable-report-") as scratch:
            written = report_write(
                scope=scope_of(case=case), sections=tuple(SECTIONS), fmt="html", reveal=False,
                requester=user_name(user) if user is not None else cli_actor().client,
                target=Path(scratch) / "report.html",
            )  # fmt: skip
            with open(written.path, "rb") as report:
                shutil.copyfileobj(report, out)

    return PortableFile(name="report.html", write=write)


def portable_extra_files(*, case: Case, user: User | None) -> list[PortableFile]:
    """The further files every portable case made from the command line or the case page carries, each a
    PortableFile, the one place that adds them: the case report (report.html: every section, veiled pictures
    blurred), the case's CASE/UCO graph (exports/case.jsonld) and, where its scheme numbers its categories, its
    categorised media as VICS (exports/vics.json)."""
    scope = ExportScope(case=case)
    files = [_report_file(case, user), _export_file("exports/case.jsonld", scope, "case")]
    if not vics_incompatible(case):
        files.append(_export_file("exports/vics.json", scope, "vics"))
    return files
