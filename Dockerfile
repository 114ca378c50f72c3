# The operator and the backup tool in one image (the backup CronJobs run odoo-tenant-backup).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir '.[backup]'
USER 65532:65532
ENTRYPOINT ["odoo-tenant-operator"]
