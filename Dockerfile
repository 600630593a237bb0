FROM python:3.11-slim

# tini forwards SIGTERM so the service can finish the current file and exit cleanly
RUN apt-get update && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md service.py ./
COPY cli ./cli
COPY wiring ./wiring
COPY config ./config
COPY store ./store
COPY ingest ./ingest
COPY metrics ./metrics
COPY rules ./rules
COPY notify ./notify
COPY fitwriter ./fitwriter
COPY charts ./charts
COPY digest ./digest
RUN pip install --no-cache-dir . && useradd --uid 1000 --create-home strideguard

USER strideguard
ENV STRIDEGUARD_CONFIG=/config/strideguard.yaml
# /healthz, /readyz and /metrics (http.listen in the config; 0.0.0.0:9464 for other containers)
EXPOSE 9464
# healthy = /readyz answers 200: database reachable and migrated, inbox readable, scheduler
# running. cli/healthcheck.py (Python's urllib, no curl in the image, never through a proxy);
# a 503 exits 1 printing the reasons (shown by `docker inspect`). STRIDEGUARD_HEALTH_URL:
# where to ask, for a config listening elsewhere
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "cli.healthcheck"]
ENTRYPOINT ["tini", "--"]
CMD ["strideguard", "run"]
