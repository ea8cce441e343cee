"""The registry keeps each stage's loaded models for the life of the process."""

from extractors.faces import FacesExtractor
from extractors.registry import get_registry
from tests.support.ml import context, faces_params


def test_models_load_once_per_process_not_once_per_batch(tiny_models, tmp_path, fresh_registry, mocker):
    load = mocker.spy(FacesExtractor, "load")  # the real load runs; the spy only counts it
    registry = get_registry()
    first, provenance = registry.loaded("faces", context(tiny_models, faces_params()))
    for _batch in range(3):
        again, same = registry.loaded("faces", context(tiny_models, faces_params()))
        assert again is first
        assert same is provenance
    assert load.call_count == 1
    # Parameters that change results (a job's frozen settings) load the models they name, once.
    stricter, changed = registry.loaded("faces", context(tiny_models, faces_params(det_threshold=0.7)))
    assert stricter is not first
    assert changed.params["det_threshold"] == 0.7
    assert registry.loaded("faces", context(tiny_models, faces_params(det_threshold=0.7)))[0] is stricter
    assert load.call_count == 2
