#!/bin/sh
# PostgreSQL's first start (docker-entrypoint-initdb.d, run once, when the volume is created):
# a role for Temporal owning its two databases, a role for the app owning its own, and nobody
# else connecting to either. The app's role can migrate its schema and nothing more.
set -eu
: "${TEMPORAL_DB_PASSWORD:?}" "${PAYMENTS_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v temporal_password="$TEMPORAL_DB_PASSWORD" -v payments_password="$PAYMENTS_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE ROLE payments LOGIN PASSWORD :'payments_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
CREATE DATABASE payments OWNER payments;
REVOKE ALL ON DATABASE temporal, temporal_visibility, payments FROM PUBLIC;
GRANT CONNECT ON DATABASE temporal, temporal_visibility TO temporal;
GRANT CONNECT ON DATABASE payments TO payments;
SQL
