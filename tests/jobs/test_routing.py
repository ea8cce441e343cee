"""Where tasks go. The router (jobs.pipeline.routing) is a pure function of the settings and the canvas: no broker."""

from jobs import canvas
from jobs.pipeline.routing import route_task
from scanner.celery import app
from scanner.settings.base import env

GPU_QUEUES = {"faces": "faces.gpu", "classify": "classify.gpu"}


def _routes(stages: list[str]) -> tuple[dict[str, dict], dict]:
    """The queue of each stage task of a batch's chord, and of its body."""
    chord = canvas.batch_canvas(batch_id=7, stages=stages)
    header = {sig.args[1]: route_task(sig.task, sig.args, sig.kwargs, sig.options) for sig in chord.tasks}
    body = chord.body
    return header, route_task(body.task, body.args, body.kwargs, body.options)


def test_each_stage_goes_to_its_extractors_queue(settings):
    settings.SCAN_STAGE_QUEUES = {}
    header, body = _routes(["exif", "faces", "classify"])
    assert header == {"exif": {"queue": "exif"}, "faces": {"queue": "faces"}, "classify": {"queue": "classify"}}
    assert body == {"queue": "jobs"}
    assert route_task(canvas.SCAN_TASK, (1,), {}, {}) == {"queue": "jobs"}


def test_scan_stage_queues_sends_the_ml_stages_to_the_gpu_queues(settings, monkeypatch):
    # The value as an operator writes it in the environment (README, docker-compose.yml).
    monkeypatch.setenv("SCAN_STAGE_QUEUES", "faces=faces.gpu,classify=classify.gpu")
    settings.SCAN_STAGE_QUEUES = env.dict("SCAN_STAGE_QUEUES", default={})
    assert settings.SCAN_STAGE_QUEUES == GPU_QUEUES
    header, body = _routes(["exif", "faces", "classify"])
    assert header == {
        "exif": {"queue": "exif"},
        "faces": {"queue": "faces.gpu"},
        "classify": {"queue": "classify.gpu"},
    }
    assert body == {"queue": "jobs"}
    # Keyword arguments route the same way as positional ones.
    assert route_task(canvas.STAGE_TASK, (), {"batch_id": 7, "stage": "faces"}, {}) == {"queue": "faces.gpu"}
    # And Celery itself takes the router from the settings (CELERY_TASK_ROUTES).
    route = app.amqp.router.route({}, canvas.STAGE_TASK, args=(7, "classify"), kwargs={})
    assert route["queue"].name == "classify.gpu"
