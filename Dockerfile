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
ENTRYPOINT ["tini", "--"]
CMD ["strideguard", "run"]
