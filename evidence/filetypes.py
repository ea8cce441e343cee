"""What a file's bytes say it is, and whether its name's extension says the same: the magic bytes decide (libmagic),
the extension only where the bytes say nothing. Used by discovery on the first bytes of every file."""

from __future__ import annotations

import mimetypes
import os

import magic

from evidence.display import display_path
from evidence.images import MIME_FORMATS

_magic = magic.Magic(mime=True)
# libmagic's verdict when it does not recognise the bytes: only then does the extension decide.
_INCONCLUSIVE = {"application/octet-stream", "application/x-empty", "inode/x-empty"}
EXTENSION_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".jfif": "image/jpeg",
    ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".bmp": "image/bmp", ".heic": "image/heic", ".heif": "image/heif", ".avif": "image/avif",
}  # fmt: skip
# Extensions of formats stored inside another container: a camera's raw file is a TIFF to libmagic, a multi-picture
# or thumbnail file a JPEG. Under these names that content is what the name says, not a disguise. (Only for that:
# content with no known signature is not typed by these names.)
_CONTAINER_EXTENSIONS = {
    ".dng": "image/tiff", ".nef": "image/tiff", ".nrw": "image/tiff", ".cr2": "image/tiff", ".arw": "image/tiff",
    ".srf": "image/tiff", ".sr2": "image/tiff", ".pef": "image/tiff", ".orf": "image/tiff", ".erf": "image/tiff",
    ".3fr": "image/tiff", ".mos": "image/tiff", ".kdc": "image/tiff", ".dcr": "image/tiff", ".srw": "image/tiff",
    ".mpo": "image/jpeg", ".thm": "image/jpeg", ".apng": "image/png", ".hif": "image/heif",
}  # fmt: skip


def sniff(head: bytes, relpath: bytes) -> tuple[str, str, bool]:
    """(MIME type, note, whether the extension contradicts the content). Magic bytes decide; the extension only when
    the bytes say nothing. The extension contradicts the content either way round: an image extension on content
    that is not an image the scanner opens ("photo.jpg" holding a PDF), and an image the scanner opens under an
    extension naming anything else ("invoice_scan.txt" holding a JPEG). A name without an extension claims nothing,
    and a suffix without a letter is no extension ("Scan 2020.03.14", "IMG_0001.1")."""
    mime = _magic.from_buffer(head) if head else "inode/x-empty"
    # Only ASCII extensions name a type; the note shows the extension by the display rule (it is the suspect's text).
    suffix = os.path.splitext(relpath)[1].lower()
    if not any(character.isalpha() for character in os.fsdecode(suffix)):
        suffix = b""
    ext, shown = suffix.decode("ascii", "replace"), display_path(suffix)
    by_extension = EXTENSION_TYPES.get(ext) or mimetypes.types_map.get(ext, "")
    if mime in _INCONCLUSIVE and head:
        if by_extension in MIME_FORMATS:
            return by_extension, f"type from the {shown} extension: the content has no known signature", False
        return mime, "", False
    if by_extension in MIME_FORMATS and mime not in MIME_FORMATS:
        return mime, f"the {shown} extension does not match the content ({mime})", True
    named = _CONTAINER_EXTENSIONS.get(ext) or by_extension
    if ext and mime in MIME_FORMATS and not (named in MIME_FORMATS and _same_format(mime, named)):
        return mime, f"the {shown} extension does not match the content ({mime})", True
    return mime, "", False


def _same_format(mime: str, other: str) -> bool:
    """Whether two image types are the same format under two names (image/bmp and image/x-ms-bmp)."""
    return bool(set(MIME_FORMATS[mime]) & set(MIME_FORMATS[other]))
