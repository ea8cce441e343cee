"""C2PA content credentials of an evidence file, read and validated by c2pa-python (the C2PA SDK).

The reader never reaches the network: remote manifests and OCSP are not fetched, and no trust list is set, so a
well-signed manifest validates as "valid" (signature and hashes hold; who signed it is what the examiner weighs),
one whose signature or hashes fail as "invalid".

Whether a manifest declares the picture AI-made is read from its actions' `digitalSourceType` (IPTC's digital
source types, https://cv.iptc.org/newscodes/digitalsourcetype/): `trainedAlgorithmicMedia` or `compositeSynthetic`
in the active manifest is "generated"; `compositeWithTrainedAlgorithmicMedia` there, or an AI-generated ingredient
(any other manifest of the store), is "edited".
"""

from __future__ import annotations

import functools
import json
from importlib.metadata import version
from typing import Any, BinaryIO

from extractors.xmp import jsonb_value

# c2pa (a native library) is imported where credentials are read, not by every process that loads the registry.

_GENERATED = frozenset(("trainedAlgorithmicMedia", "compositeSynthetic"))
_EDITED = frozenset(("compositeWithTrainedAlgorithmicMedia",))
MAX_FAILURES = 20


def c2pa_version() -> str:
    return f"c2pa-python {version('c2pa-python')}"


@functools.cache
def _offline() -> Any:
    import c2pa

    settings = c2pa.Settings.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
    return c2pa.Context(settings=settings)


def _source_types(manifest: dict[str, Any]) -> set[str]:
    """The digital source types a manifest's actions declare (the last part of the IPTC term)."""
    found = set()
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict) or not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            term = action.get("digitalSourceType") if isinstance(action, dict) else None
            if isinstance(term, str) and term:
                found.add(term.rstrip("/").rsplit("/", 1)[-1])
    return found


def summarise_store(store: dict[str, Any]) -> dict[str, Any]:
    """What an examiner needs of a manifest store (the Reader's JSON): the validation state, who signed the active
    manifest, what made it, the failures, and whether it declares the picture AI-generated or AI-edited."""
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "") or {}
    signature = active.get("signature_info") or {}
    generator = ", ".join(
        " ".join(str(part) for part in (info.get("name"), info.get("version")) if part)
        for info in active.get("claim_generator_info") or []
        if isinstance(info, dict)
    ) or str(active.get("claim_generator") or "")
    failures = ((store.get("validation_results") or {}).get("activeManifest") or {}).get("failure") or []
    own = _source_types(active)
    ingredients = set().union(
        *(_source_types(m) for label, m in manifests.items() if m is not active and isinstance(m, dict))
    )
    ai = "generated" if own & _GENERATED else "edited" if own & _EDITED or ingredients & _GENERATED else ""
    return jsonb_value(
        {
            "state": str(store.get("validation_state") or "").lower(),
            "signer": str(signature.get("common_name") or ""),
            "issuer": str(signature.get("issuer") or ""),
            "signed_at": str(signature.get("time") or ""),
            "generator": generator,
            "failures": [str(f.get("code", "")) for f in failures[:MAX_FAILURES] if isinstance(f, dict)],
            "source_types": sorted(own | ingredients),
            "ai": ai,
            "manifests": len(manifests),
        }
    )


def read_credentials(fp: BinaryIO, mime: str) -> dict[str, Any]:
    """The file's content credentials summarised (`summarise_store`); {} when it has none or the SDK does not read
    its format; {"state": "unreadable", "error": ...} for a manifest store that cannot be read. Never raises for
    what the file holds."""
    import c2pa

    if mime not in c2pa.Reader.get_supported_mime_types():
        return {}
    fp.seek(0)
    try:
        reader = c2pa.Reader.try_create(mime, fp, None, _offline())
        if reader is None:
            return {}
        with reader:
            return summarise_store(json.loads(reader.json()))
    except c2pa.C2paError as exc:
        if type(exc).__name__.endswith("NotSupported"):
            return {}
        return {"state": "unreadable", "error": str(exc)[:500]}
    except ValueError as exc:  # a manifest store whose JSON does not parse
        return {"state": "unreadable", "error": str(exc)[:500]}
