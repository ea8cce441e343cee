"""The registry of analysis stages. Built-ins are listed explicitly; adding a stage is one line here.

The registry is built once per process (workers build it on `worker_process_init`); extractor instances, and the
models they load, are cached by stage name for the life of the process. `reset_registry` exists for tests only.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable, Iterable

from extractors.base import Extractor, ExtractorContext, Provenance

BUILTIN_EXTRACTORS: tuple[str, ...] = (
    "extractors.exif:ExifExtractor",
    "extractors.faces:FacesExtractor",
    "extractors.classify:ClassifyExtractor",
)


def _import(path: str) -> type[Extractor]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class Registry:
    def __init__(self, classes: list[type[Extractor]]) -> None:
        self._classes = {cls.name: cls for cls in classes}
        self._loaded: dict[str, tuple[Extractor, Provenance]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self._classes)

    def extractor_class(self, name: str) -> type[Extractor]:
        try:
            return self._classes[name]
        except KeyError:
            raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(self._classes)}") from None

    def versions(self) -> dict[str, str]:
        return {name: cls.version for name, cls in self._classes.items()}

    def loaded(self, name: str, context: Callable[[str], ExtractorContext]) -> tuple[Extractor, Provenance]:
        """The stage's extractor with its models loaded, once per process. Raises StageUnavailable (not cached:
        installing the model makes the stage available without restarting the worker)."""
        with self._lock:
            if name not in self._loaded:
                extractor = self.extractor_class(name)(context(name))
                self._loaded[name] = (extractor, extractor.load())
            return self._loaded[name]


_extra: tuple[str, ...] = ()


def register_extra(paths: Iterable[str]) -> None:
    """Add stages beyond the built-ins ("module:Class" paths), before the registry is first used."""
    global _extra
    _extra = tuple(paths)
    get_registry.cache_clear()


@functools.cache
def get_registry() -> Registry:
    return Registry([_import(path) for path in (*BUILTIN_EXTRACTORS, *_extra)])


def reset_registry() -> None:
    """Forget the registry and every loaded model. For test fixtures only."""
    get_registry.cache_clear()
