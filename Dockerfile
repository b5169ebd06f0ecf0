# One image for every fieldops process; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml constraints.txt ./
COPY shared ./shared
COPY services ./services
COPY workflows ./workflows
COPY deploy ./deploy
RUN pip install --no-cache-dir -c constraints.txt -e .
USER nobody
