# One image for every fieldops process; docker-compose.yml picks the command.
# The portal's front-end assets come from the npm registry at the lockfile's exact versions.
FROM node:20-slim AS web-assets
WORKDIR /web
COPY services/web/package.json services/web/package-lock.json services/web/.npmrc ./
RUN npm ci --omit=dev

FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml constraints.txt ./
COPY shared ./shared
COPY services ./services
COPY workflows ./workflows
COPY deploy ./deploy
COPY --from=web-assets /web/node_modules ./services/web/node_modules
RUN pip install --no-cache-dir -c constraints.txt -e .
USER nobody
