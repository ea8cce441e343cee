"""The deployment files: docker-compose.yml validates offline and demands every secret; the Procfile of `make up`
runs every process type."""

import subprocess
import tempfile

import yaml

from tests.conftest import REPO

SECRETS = {
    "DJANGO_SECRET_KEY": "k",
    "POSTGRES_PASSWORD": "p",
    "REDIS_PASSWORD": "r",
    "EVIDENCE_DIR": "/srv/evidence",
    "FLOWER_BASIC_AUTH": "a:b",
    "GRPC_TLS_CERT": "/srv/tls/grpc.crt",
    "GRPC_TLS_KEY": "/srv/tls/grpc.key",
}


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # An empty env file: a developer's .env must not fill in what the test leaves out.
    with tempfile.NamedTemporaryFile(suffix=".env") as empty:
        return subprocess.run(
            ["docker-compose", "-f", "docker-compose.yml", "--env-file", empty.name, *args],
            cwd=REPO, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
        )  # fmt: skip


def test_compose_file_is_valid_and_defines_every_process():
    checked = compose("config", "-q", env=SECRETS)
    assert checked.returncode == 0, checked.stderr
    config = yaml.safe_load(compose("config", env=SECRETS).stdout)
    assert set(config["services"]) == {
        "postgres", "redis", "web", "worker-jobs", "worker-exif", "worker-faces", "worker-classify", "worker-gpu",
        "flower", "grpc",
    }  # fmt: skip
    gpu = config["services"]["worker-gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "-Q faces.gpu,classify.gpu " in gpu["command"]
    grpc = config["services"]["grpc"]
    assert grpc["environment"]["GRPC_TLS_KEY"] == "/run/secrets/grpc_tls_key"
    assert config["secrets"]["grpc_tls_key"]["file"] == "/srv/tls/grpc.key"
    for name in ("web", "worker-exif", "worker-faces", "flower", "grpc"):
        assert any(v.endswith(":/evidence:ro") for v in _volumes(config["services"][name]))


def _volumes(service: dict) -> list[str]:
    return [v if isinstance(v, str) else f"{v['source']}:{v['target']}:{'ro' if v.get('read_only') else 'rw'}"
            for v in service.get("volumes", [])]  # fmt: skip


def test_compose_refuses_to_run_without_each_secret():
    for missing in SECRETS:
        env = {k: v for k, v in SECRETS.items() if k != missing}
        result = compose("config", "-q", env=env)
        assert result.returncode != 0, f"{missing} has a default"
        assert missing in result.stderr


def test_procfile_starts_web_a_worker_per_queue_flower_and_grpc():
    lines = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if line and line[0] != "#")
    assert set(lines) >= {"web", "worker-jobs", "worker-exif", "worker-faces", "worker-classify", "flower", "grpc"}
    assert "manage.py grpcserver" in lines["grpc"]
    for queue in ("jobs", "exif", "faces", "classify"):
        assert f"-Q {queue} " in lines[f"worker-{queue}"]
