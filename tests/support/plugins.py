"""A stage for pipeline tests, loaded through SCAN_EXTRA_EXTRACTORS like any lab's own stage.

It appends one line per analysed image ("<image id> <pid>") to the file named by its `log` parameter, so a test
can count how often each image was really analysed, and sleeps `delay` seconds per image so a test can kill a
worker in the middle of a batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from extractors.base import ExtractorContext, ImageRef, ItemResult, Outcome, Provenance


class CountingExtractor:
    name = "probe"
    version = "1"
    queue = "probe"

    def __init__(self, context: ExtractorContext) -> None:
        self.log = context.params.get("log", "")
        self.delay = float(context.params.get("delay", 0.0))

    def load(self) -> Provenance:
        return Provenance(stage=self.name, version=self.version, model_name="counting", params={"delay": self.delay})

    def run(self, batch: Sequence[ImageRef]) -> list[ItemResult]:
        results = []
        for ref in batch:
            if self.delay:
                threading.Event().wait(self.delay)  # the work this stage pretends to do
            if self.log:
                with open(self.log, "a") as out:
                    out.write(f"{ref.image_id} {os.getpid()}\n")
            results.append(ItemResult(ref.image_id, Outcome.DONE))
        return results
