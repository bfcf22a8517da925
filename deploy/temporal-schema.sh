#!/bin/sh
# Creates and migrates the Temporal server's two PostgreSQL databases (the main store and the
# visibility store). Idempotent: every step is a no-op once done, so it runs before every start.
#
# docker-compose.yml runs it in temporalio/admin-tools (temporal-sql-tool and the schemas in
# /etc/temporal/schema); `npm run temporal:server` runs the same file against the embedded
# PostgreSQL with the tools it built. The password is passed in the environment, never as an argument.
set -eu
: "${SQL_HOST:?the PostgreSQL host}" "${SQL_USER:?the role Temporal connects as}" "${SQL_PASSWORD:?its password}"
export SQL_PORT="${SQL_PORT:-5432}" SQL_PLUGIN=postgres12
SCHEMA_DIR="${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
DBNAME="${DBNAME:-temporal}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"

for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
  db="${pair%%:*}"
  schema="${pair#*:}"
  # With separate roles the databases are made by PostgreSQL's init (owned by SQL_USER, which
  # cannot create databases): SKIP_DB_CREATE=true.
  if [ "${SKIP_DB_CREATE:-false}" != true ]; then temporal-sql-tool --db "$db" create-database; fi
  temporal-sql-tool --db "$db" setup-schema -v 0.0
  temporal-sql-tool --db "$db" update-schema -d "$SCHEMA_DIR/$schema/versioned"
  echo "$db: schema up to date"
done
