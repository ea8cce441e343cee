"""The deployment files: docker-compose.yml validates offline and demands every secret; the Procfile of `make up`
runs every process type; the GPU requirements provide what the ML stages need."""

import re
import shlex
import subprocess
import tempfile

import pytest
import yaml

from tests.support.environment import REPO

SECRETS = {
    "DJANGO_SECRET_KEY": "k",
    "POSTGRES_PASSWORD": "p",
    "POSTGRES_APP_PASSWORD": "a",
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
        "postgres", "app-role", "migrate", "redis", "web", "worker-jobs", "worker-exif", "worker-faces",
        "worker-classify", "worker-pdq", "worker-gpu", "flower", "grpc",
    }  # fmt: skip
    gpu = config["services"]["worker-gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "-Q faces.gpu,classify.gpu " in gpu["command"]
    grpc = config["services"]["grpc"]
    assert grpc["environment"]["GRPC_TLS_KEY"] == "/run/secrets/grpc_tls_key"
    assert config["secrets"]["grpc_tls_key"]["file"] == "/srv/tls/grpc.key"
    for name in ("web", "worker-exif", "worker-faces", "worker-pdq", "flower", "grpc"):
        assert any(v.endswith(":/evidence:ro") for v in _volumes(config["services"][name]))
    # Flower is reached through the web app (its /flower/, staff only, audited); its own port only from the host.
    flower, web = config["services"]["flower"], config["services"]["web"]
    assert "--url_prefix=flower" in flower["command"]
    assert all(port.startswith("127.0.0.1:") for port in flower["ports"])
    assert web["environment"]["FLOWER_URL"] == "http://flower:5555"
    assert web["environment"]["FLOWER_BASIC_AUTH"] == SECRETS["FLOWER_BASIC_AUTH"]


# Each worker's own variable for the number of tasks it runs at once.
CONCURRENCY = {
    "worker-jobs": "WORKER_JOBS_CONCURRENCY",
    "worker-exif": "WORKER_EXIF_CONCURRENCY",
    "worker-faces": "WORKER_FACES_CONCURRENCY",
    "worker-classify": "WORKER_CLASSIFY_CONCURRENCY",
    "worker-pdq": "WORKER_PDQ_CONCURRENCY",
    "worker-gpu": "WORKER_GPU_CONCURRENCY",
}


APP_SERVICES = (
    "web", "worker-jobs", "worker-exif", "worker-faces", "worker-classify", "worker-pdq", "worker-gpu", "flower",
    "grpc",
)  # fmt: skip


def test_compose_runs_the_app_as_its_own_role_and_migrates_as_the_owner():
    config = yaml.safe_load(compose("config", env=SECRETS).stdout)
    services = config["services"]
    owner = services["postgres"]["environment"]["POSTGRES_USER"]
    app = services["app-role"]["environment"]["POSTGRES_APP_USER"]
    assert app != owner
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"] == f"postgres://{app}:a@postgres:5432/scanner", name
        assert environment["DATABASE_APP_ROLE"] == app, name
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert "migrate" not in services[name]["command"], name
    # Migrations run as the owner, and grant the app's role (DATABASE_APP_ROLE) its rights.
    migrate = services["migrate"]
    assert "manage.py migrate" in migrate["command"]
    assert migrate["environment"]["DATABASE_URL"] == f"postgres://{owner}:p@postgres:5432/scanner"
    assert migrate["environment"]["DATABASE_APP_ROLE"] == app
    assert "migrate" not in migrate["depends_on"]
    assert migrate["depends_on"]["app-role"] == {"condition": "service_completed_successfully"}
    # Only the web server pools its connections: a worker's pool processes fork.
    assert [name for name in services if services[name].get("environment", {}).get("DATABASE_POOL")] == ["web"]


def test_compose_makes_the_app_role_on_every_up_as_the_owner(tmp_path):
    """A one-shot service runs deploy/postgres/app-role.sql as the owner before the migrations, on every `up`: a
    database made before the app had its own role gets it too (the postgres image's init scripts run only on an
    empty data volume), and the role's password follows POSTGRES_APP_PASSWORD. Its command runs here with a psql
    that only records its arguments."""
    config = yaml.safe_load(compose("config", env=SECRETS).stdout)
    service, postgres = config["services"]["app-role"], config["services"]["postgres"]
    assert service["image"] == postgres["image"]
    assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert service["restart"] != "unless-stopped"  # it exits once done
    assert f"{REPO}/deploy/postgres/app-role.sql:/deploy/postgres/app-role.sql:ro" in _volumes(service)
    assert not any("initdb" in volume for volume in _volumes(postgres))
    psql = tmp_path / "psql"
    psql.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS"\n')
    psql.chmod(0o755)
    # docker-compose writes the container's own `$` as `$$` in the configuration it prints.
    command = shlex.split(service["command"].replace("$$", "$"))
    environment = {**service["environment"], "PATH": f"{tmp_path}:/usr/bin:/bin", "ARGS": str(tmp_path / "args")}
    subprocess.run(command, env=environment, check=True)
    args = (tmp_path / "args").read_text().splitlines()
    owner = postgres["environment"]["POSTGRES_USER"]
    assert environment["PGPASSWORD"] == postgres["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert _option(args, "-h") == "postgres"
    assert (_option(args, "-U"), _option(args, "-d")) == (owner, postgres["environment"]["POSTGRES_DB"])
    variables = [args[i + 1] for i, arg in enumerate(args) if arg == "-v"]
    assert "ON_ERROR_STOP=1" in variables
    assert "app_role=scanner_app" in variables
    assert f"app_password={SECRETS['POSTGRES_APP_PASSWORD']}" in variables
    assert _option(args, "-f") == "/deploy/postgres/app-role.sql"
    # The script may run again and again: it makes the role only when missing, and sets its password each time.
    script = (REPO / "deploy/postgres/app-role.sql").read_text()
    assert "WHERE NOT EXISTS (SELECT FROM pg_roles" in script
    assert "ALTER ROLE %I PASSWORD %L" in script


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_compose_takes_each_workers_concurrency_and_the_stage_routing_from_the_environment():
    chosen = {variable: str(3 + i) for i, variable in enumerate(CONCURRENCY.values())}
    routing = "faces=faces.gpu,classify=classify.gpu"
    config = yaml.safe_load(compose("config", env={**SECRETS, **chosen, "SCAN_STAGE_QUEUES": routing}).stdout)
    for service, variable in CONCURRENCY.items():
        assert f" -c {chosen[variable]} " in config["services"][service]["command"], service
    # Stage tasks are routed where they are queued: by discovery, on worker-jobs.
    assert config["services"]["worker-jobs"]["environment"]["SCAN_STAGE_QUEUES"] == routing
    default = yaml.safe_load(compose("config", env=SECRETS).stdout)
    assert default["services"]["worker-jobs"]["environment"]["SCAN_STAGE_QUEUES"] == ""


def test_compose_keeps_https_on_whatever_plain_http_values_the_env_holds():
    """`make up`'s .env turns the redirect, secure cookies and HSTS off for plain HTTP on loopback; docker-compose
    reads the same .env, but its web app, meant to sit behind TLS, never takes those values, and takes the proxy's
    scheme header."""
    plain = {"DJANGO_SECURE_SSL_REDIRECT": "false", "DJANGO_SECURE_COOKIES": "false", "DJANGO_SECURE_HSTS_SECONDS": "0"}
    proxy = {"DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"}
    config = yaml.safe_load(compose("config", env={**SECRETS, **plain, **proxy}).stdout)
    for name, service in config["services"].items():
        assert not set(plain) & set(service.get("environment") or {}), name
    assert config["services"]["web"]["environment"]["DJANGO_SECURE_PROXY_SSL_HEADER"] == "HTTP_X_FORWARDED_PROTO"


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
    assert set(lines) >= {
        "web", "worker-jobs", "worker-exif", "worker-faces", "worker-classify", "worker-pdq", "flower", "grpc",
    }  # fmt: skip
    assert "manage.py grpcserver" in lines["grpc"]
    for queue in ("jobs", "exif", "faces", "classify", "pdq"):
        assert f"-Q {queue} " in lines[f"worker-{queue}"]
        assert f" -c ${{{CONCURRENCY[f'worker-{queue}']}:-" in lines[f"worker-{queue}"]


def test_procfile_flower_refuses_to_start_without_a_login():
    lines = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if line and line[0] != "#")
    # No celery on this PATH: should the line not refuse by itself, it fails without starting anything.
    result = subprocess.run(
        ["sh", "-c", lines["flower"]], cwd=REPO, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "set FLOWER_BASIC_AUTH" in result.stderr


def _pins(name: str) -> dict[str, str]:
    """What requirements/`name` pins, with the files it includes (-r): normalised package name -> version."""
    pins = {}
    for line in (REPO / "requirements" / name).read_text().splitlines():
        line = line.partition("#")[0].strip()
        if line.startswith("-r "):
            pins.update(_pins(line.removeprefix("-r ").strip()))
        elif line:
            pinned = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[[^]]*\])?==(\S+)", line)
            assert pinned, f"requirements/{name}: {line!r} is not pinned"
            pins[re.sub(r"[-_.]+", "-", pinned[1].lower())] = pinned[2]
    return pins


@pytest.mark.parametrize("needs", ["faces.txt", "ml.txt"])
def test_the_gpu_requirements_provide_every_package_the_ml_stages_need(needs):
    """A GPU worker (faces and classify) is installed from gpu.txt alone: every package of faces.txt and ml.txt is
    there at the same pin, or its -gpu build (which installs the same module) in its place."""
    gpu = _pins("gpu.txt")
    for package, version in _pins(needs).items():
        if package in gpu:
            assert gpu[package] == version, f"{package}: {needs} pins {version}, gpu.txt {gpu[package]}"
        else:
            assert f"{package}-gpu" in gpu, f"gpu.txt lacks {package} (requirements/{needs})"
    # The CPU and GPU builds of one runtime cannot share a venv: gpu.txt names one of them.
    assert not [package for package in gpu if f"{package}-gpu" in gpu]
