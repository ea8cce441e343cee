"""Project VIC VICS JSON (1.x: `odata.metadata`, its cases' `Media` arrays under `value`; 2.0: `@odata.context`, the
media themselves under `value`) and CAID JSON, which is shaped as VICS is (the UK's CAID exports its hashes in the
VICS data model, its own categories in `Category`).

A document may be gigabytes: it is parsed as a stream. Arrays named `Media` or `value` are never held whole: each of
their elements is parsed alone, a medium with its MD5, SHA1 and SHA256 giving entries (its `Category` the entries',
`MediaID`, `MediaSize` and `PhotoDNA` kept as data), and dropped. Anything else (a case's fields, the odata URL) is
small and parsed as it is. A medium with a bad hash is reported with the line it starts on and the reading goes on;
JSON that breaks off or is not JSON stops it (`FormatError`): a stream of JSON cannot be picked up again after a
syntax error."""

from __future__ import annotations

import codecs
import json
from collections.abc import Generator, Iterator
from typing import Any

from hashformats.base import Entry, FormatError, HashingReader, Item, Malformed, Source, digest_algorithm

# The largest single value (a medium, a string) held while it is parsed, in characters.
MAX_VALUE = 16 * 1024 * 1024
# An element of a streamed array up to this size is parsed whole by the json module (the common case: a medium),
# a larger one (a VICS 1.x case holding its Media) member by member.
WHOLE = 1024 * 1024
_STREAMED_ARRAYS = {"media", "value"}
_HASH_KEYS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256"}
_KEPT = ("MediaID", "MediaSize", "PhotoDNA")
# The longest text kept of those (a PhotoDNA hash is 144 bytes, 192 characters of base64).
MAX_KEPT = 1024
_STREAMED = object()  # stands for an array that was streamed, in the object holding it


class _Text:
    """The document's text, decoded as it is read, with the line number of the position reached."""

    def __init__(self, raw: HashingReader) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self._json = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self._line = 1  # the line of buf[_counted]
        self._counted = 0
        self._eof = False

    def line(self) -> int:
        """The line of the position (counted on from where it was last asked: positions only move forward)."""
        self._line += self.buf.count("\n", self._counted, self.pos)
        self._counted = self.pos
        return self._line

    def _more(self) -> bool:
        if self._eof:
            return False
        data = self._raw.read(1 << 16)
        self.line()  # what is dropped from the buffer is counted first
        self._counted = 0
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as error:
            raise FormatError(f"line {self.line()}: not UTF-8 text") from error
        self.buf, self.pos = self.buf[self.pos :] + text, 0
        if len(self.buf) > MAX_VALUE:
            raise FormatError(f"line {self.line()}: a value longer than {MAX_VALUE} characters")
        self._eof = not data
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end), left unread."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def take(self, expected: str) -> str:
        found = self.peek()
        if found not in expected or not found:
            raise FormatError(f"line {self.line()}: expected {' or '.join(expected)}, found {found or 'the end'}")
        self.pos += 1
        return found

    def whole(self) -> dict | None:
        """The object at the position, parsed whole, if it ends within WHOLE characters and holds no array to be
        streamed; else None, the position unchanged."""
        while True:
            try:
                value, end = self._json.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if len(self.buf) - self.pos > WHOLE or not self._more():
                    return None
                continue
            if not isinstance(value, dict) or any(key.lower() in _STREAMED_ARRAYS for key in value):
                return None
            self.pos = end
            return value

    def scalar(self) -> Any:
        """A string, number, true, false or null."""
        while True:
            self.peek()
            try:
                value, end = self._json.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if self._more():
                    continue
                raise FormatError(f"line {self.line()}: not JSON") from None
            # A number or a word may go on in the part not read yet.
            if end == len(self.buf) and not isinstance(value, str) and self._more():
                continue
            self.pos = end
            return value


def _value(text: _Text, key: str, source: Source) -> Generator[Item, None, Any]:
    first = text.peek()
    if first == "{":
        return (yield from _object(text, source))
    if first == "[":
        if key.lower() in _STREAMED_ARRAYS:
            yield from _streamed(text, source)
            return _STREAMED
        return (yield from _array(text, source))
    return text.scalar()


def _object(text: _Text, source: Source) -> Generator[Item, None, dict]:
    text.take("{")
    members: dict[str, Any] = {}
    if text.peek() == "}":
        text.pos += 1
        return members
    while True:
        key = text.scalar()
        if not isinstance(key, str):
            raise FormatError(f"line {text.line()}: a member name that is not a string")
        text.take(":")
        members[key] = yield from _value(text, key, source)
        if text.take(",}") == "}":
            return members


def _array(text: _Text, source: Source) -> Generator[Item, None, list]:
    text.take("[")
    values: list[Any] = []
    if text.peek() == "]":
        text.pos += 1
        return values
    while True:
        values.append((yield from _value(text, "", source)))
        if text.take(",]") == "]":
            return values


def _streamed(text: _Text, source: Source) -> Generator[Item, None, None]:
    """A `Media` or `value` array: each medium in it gives its entries and is dropped."""
    text.take("[")
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        first = text.peek()
        line = text.line()
        element = text.whole() if first == "{" else None
        if element is None:
            element = yield from _value(text, "", source)
        if isinstance(element, dict):
            yield from _medium(line, element, source)
        if text.take(",]") == "]":
            return


def _version(source: Source, holder: dict[str, Any]) -> None:
    version = holder.get("Version") or holder.get("version")
    if isinstance(version, str | int | float) and not source.version:
        source.version = str(version)[:100]


def _medium(line: int, medium: dict[str, Any], source: Source) -> Iterator[Item]:
    hashes = {_HASH_KEYS[key.lower()]: value for key, value in medium.items() if key.lower() in _HASH_KEYS}
    if any(value is _STREAMED for value in medium.values()):
        _version(source, medium)  # a VICS 1.x case (its media were read from its Media array) names the version
        return
    if not any(isinstance(value, str) and value.strip() for value in hashes.values()):
        yield Malformed(line, "a medium with no MD5, SHA1 or SHA256")
        return
    category = medium.get("Category")
    category = "" if category is None or isinstance(category, dict | list) else str(category)[:32]
    extra = {}
    for key in _KEPT:
        value = medium.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        if isinstance(value, str) and len(value) > MAX_KEPT:
            yield Malformed(line, f"{key} longer than {MAX_KEPT} characters: not kept")
            continue
        extra[key] = value
    extra = extra or None
    for algorithm, value in hashes.items():
        if value is None or value == "":
            continue
        checked = digest_algorithm(value, expected=algorithm) if isinstance(value, str) else "not a string"
        if isinstance(checked, str):
            yield Malformed(line, f"{algorithm.upper()}: {checked}")
            continue
        yield Entry(checked[0], checked[1], category=category, extra=extra)


def read_vics(raw: HashingReader, source: Source) -> Iterator[Item]:
    text = _Text(raw)
    if text.peek() != "{":
        raise FormatError("not a JSON object")
    document = yield from _object(text, source)
    if text.peek():
        raise FormatError(f"line {text.line()}: more after the end of the JSON document")
    context = document.get("@odata.context") or document.get("odata.metadata") or ""
    source.notes["odata"] = str(context)[:500]
    _version(source, document)
