# One image for every process of the distributed configuration (web, workers, Flower, gRPC).
# REQUIREMENTS=ml for CPU workers with the ML stages, gpu for the CUDA worker, base for web and exif only.
FROM python:3.11-slim-bookworm
ARG REQUIREMENTS=ml
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=scanner.settings.distributed
# exiftool: the forensic stage reads XMP and IPTC with it (README "Forensic checks"). Pango (and its fonts): WeasyPrint
# renders the case report's PDF with it (README "Case report").
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 libimage-exiftool-perl libpango-1.0-0 \
    libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements/ requirements/
# The gpu image: onnxruntime-gpu in place of the onnxruntime that insightface pulls in (requirements/gpu.txt says why).
RUN pip install --no-cache-dir -r requirements/base.txt \
    && if [ "$REQUIREMENTS" != base ]; then pip install --no-cache-dir -r requirements/$REQUIREMENTS.txt; fi \
    && if [ "$REQUIREMENTS" = gpu ]; then pip uninstall -y onnxruntime \
        && pip install --no-cache-dir --force-reinstall --no-deps "$(grep '^onnxruntime-gpu==' requirements/gpu.txt)"; fi
COPY . .
RUN useradd --system --home /app scanner && mkdir -p var && chown scanner var
USER scanner
EXPOSE 8000
# The web server, with its database connections in one bounded pool (README: Database connections).
CMD ["env", "DATABASE_POOL=true", "daphne", "-b", "0.0.0.0", "-p", "8000", "scanner.asgi:application"]
