# One image for every role: api (default), daemon, erp-sim and migrate.
#   docker build -t billing .
#   docker run -e BILLING_DATABASE_URL=postgresql+psycopg://… billing migrate
#   docker run -p 8080:8080 -e BILLING_DATABASE_URL=… -e BILLING_AUTH__JWT_SECRET=… billing api
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 BILLING_ENV=production \
    BILLING_API__HOST=0.0.0.0 BILLING_LOG__FORMAT=json
RUN useradd --system --create-home --uid 10001 billing
COPY --from=build /install /usr/local
WORKDIR /app
COPY config ./config
COPY templates ./templates
RUN printf '%s\n' '#!/bin/sh' 'set -e' 'case "$1" in' \
      '  api)     shift; exec billing serve "$@" ;;' \
      '  daemon)  shift; exec billing daemon "$@" ;;' \
      '  erp-sim) shift; exec billing erp-sim --host 0.0.0.0 "$@" ;;' \
      '  migrate) shift; exec billing db upgrade "$@" ;;' \
      '  *)       exec "$@" ;;' 'esac' > /usr/local/bin/entrypoint
RUN chmod 0755 /usr/local/bin/entrypoint && mkdir -p /app/var && chown -R billing /app/var
USER billing
EXPOSE 8080 9464 7047
ENTRYPOINT ["entrypoint"]
CMD ["api"]
