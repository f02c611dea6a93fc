#!/usr/bin/env bash
# First start of the postgres container (empty data volume): the roles and the two databases
# Handoff needs, as handoff.platform.bootstrap creates them for `handoff up`:
#   airflow                  owns the `airflow` database (Airflow's metadata)
#   handoff_loader           writes raw_* and ops in `handoff` (extract, reverse sync)
#   handoff_transformer      builds the dbt schemas in `handoff`
#   handoff_analyst          reads marts only (schema grants come with the schemas)
# Passwords come from the environment (docker/.env.example), never from this file.
# The postgres image runs this only when the data volume is empty; airflow-init re-runs the
# idempotent bootstrap on every start, so changed passwords in the env file are applied too.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set}"
: "${HANDOFF_LOADER_PASSWORD:?HANDOFF_LOADER_PASSWORD is not set}"
: "${HANDOFF_TRANSFORMER_PASSWORD:?HANDOFF_TRANSFORMER_PASSWORD is not set}"
: "${HANDOFF_ANALYST_PASSWORD:?HANDOFF_ANALYST_PASSWORD is not set}"

# psql substitutes :'name' with a quoted literal, so passwords never need escaping here.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v airflow_pw="$AIRFLOW_DB_PASSWORD" \
    -v loader_pw="$HANDOFF_LOADER_PASSWORD" \
    -v transformer_pw="$HANDOFF_TRANSFORMER_PASSWORD" \
    -v analyst_pw="$HANDOFF_ANALYST_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE ROLE handoff_loader LOGIN PASSWORD :'loader_pw';
CREATE ROLE handoff_transformer LOGIN PASSWORD :'transformer_pw';
CREATE ROLE handoff_analyst LOGIN PASSWORD :'analyst_pw';

CREATE DATABASE airflow OWNER airflow;
CREATE DATABASE handoff OWNER postgres;

\connect handoff
REVOKE ALL ON DATABASE handoff FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE handoff TO handoff_loader, handoff_transformer, handoff_analyst;
GRANT CREATE, TEMPORARY ON DATABASE handoff TO handoff_loader, handoff_transformer;
SQL
