"""Pickling the small frozen records that probe processes send back (`evidence.probe`)."""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter


def pickled_by_position(cls: type) -> type:
    """Class decorator for a frozen dataclass with slots: pickle its instances as the class and its field values
    in order. Pickle's own way for such a class names every field in every object, and rebuilding it from those
    names costs more than the rest of a probe's trip from a worker process (evidence.probe)."""
    values = attrgetter(*(f.name for f in fields(cls)))
    cls.__reduce__ = lambda self: (type(self), values(self))
    return cls
