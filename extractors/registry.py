"""The registry of analysis stages. Built-ins are listed explicitly; adding a stage is one line here.

The registry is built once per process (workers build it on `worker_process_init`); extractor instances, and the
models they load, are cached by stage name for the life of the process. `reset_registry` exists for tests only.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Iterable, Mapping

from extractors.base import Extractor, ExtractorContext, Provenance, effective_version

BUILTIN_EXTRACTORS: tuple[str, ...] = (
    "extractors.exif:ExifExtractor",
    "extractors.faces:FacesExtractor",
    "extractors.classify:ClassifyExtractor",
    "extractors.forensic:ForensicExtractor",
    "extractors.pdq:PdqExtractor",
)


def _import(path: str) -> type[Extractor]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class Registry:
    def __init__(self, classes: list[type[Extractor]]) -> None:
        self._classes = {cls.name: cls for cls in classes}
        # stage -> (effective version, extractor, provenance): the models of the settings last asked for.
        self._loaded: dict[str, tuple[str, Extractor, Provenance]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self._classes)

    def extractor_class(self, name: str) -> type[Extractor]:
        try:
            return self._classes[name]
        except KeyError:
            raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(self._classes)}") from None

    def versions(self, params: Mapping[str, Mapping] | None = None) -> dict[str, str]:
        """Each stage's effective version (see extractors.base.effective_version) under these stage parameters."""
        params = params or {}
        return {name: effective_version(cls, params.get(name, {})) for name, cls in self._classes.items()}

    def loaded(self, name: str, context: ExtractorContext) -> tuple[Extractor, Provenance]:
        """The stage's extractor with its models loaded, once per process and set of result parameters (a job
        run with other settings loads its own models, which then replace the earlier ones). Raises
        StageUnavailable, which is not cached: installing the model makes the stage available without
        restarting the worker."""
        cls = self.extractor_class(name)
        version = effective_version(cls, context.params)
        with self._lock:
            cached = self._loaded.get(name)
            if cached is None or cached[0] != version:
                extractor = cls(context)
                self._loaded[name] = (version, extractor, extractor.load())
            _version, extractor, provenance = self._loaded[name]
            return extractor, provenance


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
