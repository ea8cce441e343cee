#!/bin/sh
# The postgres container runs this once, when it creates its database (/docker-entrypoint-initdb.d/): the app's own
# role beside the owner POSTGRES_USER, with the password the app containers connect with.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_role="$POSTGRES_APP_USER" -v app_password="$POSTGRES_APP_PASSWORD" -f /etc/scanner/app-role.sql
