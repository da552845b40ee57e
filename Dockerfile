# Pulse API image: `docker build -t pulse .`, then `docker run -p 8080:8080 pulse`.
# Configuration comes from the environment (see .env.example and docs/configuration.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the wheel needs: a change to tests or docs does not rebuild this layer.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /app/src

# Never run as root; DATA_DIR holds the SQLite file and local recordings when no
# MONGO_URI / S3_BUCKET is configured.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin pulse \
    && mkdir -p /app/data \
    && chown pulse /app/data
USER pulse

# Inside a container the API must listen on every interface, not the 127.0.0.1 default.
ENV HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/app/data
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8080')}/health\", timeout=2)"]

CMD ["pulse", "serve"]
