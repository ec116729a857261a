# Trail application image: `docker compose up` builds it. Python 3.11, non-root, hypercorn by default.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TRAIL_HOST=0.0.0.0 TRAIL_PORT=8000 TRAIL_DATA_DIR=/var/lib/trail

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY trail ./trail
COPY templates ./templates
COPY static ./static
COPY sql ./sql

RUN useradd --system --home /var/lib/trail trail && mkdir -p /var/lib/trail && chown trail /var/lib/trail
USER trail
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
ENTRYPOINT ["python", "-m", "trail"]
CMD ["serve", "--role", "all"]
