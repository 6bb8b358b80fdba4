# Socle's Airflow image: the same locked dependencies as `make install`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    SOCLE_HOME=/opt/socle/data \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/socle/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/socle/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 airflow

WORKDIR /opt/socle
COPY requirements.lock pyproject.toml README.md ./
RUN python -m pip install --upgrade pip && python -m pip install -r requirements.lock
COPY plugins/ plugins/
COPY dags/ dags/
COPY dbt_project/ dbt_project/
COPY expectations/ expectations/
RUN python -m pip install --no-deps -e . \
    && mkdir -p "$SOCLE_HOME" "$AIRFLOW_HOME" \
    && chown -R airflow: /opt/socle "$AIRFLOW_HOME"

USER airflow
