#!/usr/bin/env bash
# Exit 0 when the server accepts SQL connections over TCP on 127.0.0.1:3306 (so not during the
# first-start initialisation, whose temporary server does not listen on the network).
# Like the official image's script, it uses the healthcheck user created at initialisation;
# options such as --connect or --innodb_initialized are accepted and mean the same here.
set -u
cnf=/var/lib/mysql/.my-healthcheck.cnf
if [ -r "$cnf" ]; then
  exec mariadb --defaults-extra-file="$cnf" -h 127.0.0.1 --connect-timeout=2 -N -B -e 'SELECT 1' >/dev/null
fi
pw="${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"
for f in "${MARIADB_ROOT_PASSWORD_FILE:-}" "${MYSQL_ROOT_PASSWORD_FILE:-}"; do
  if [ -z "$pw" ] && [ -n "$f" ] && [ -r "$f" ]; then pw="$(cat "$f")"; fi
done
MYSQL_PWD="$pw" exec mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -uroot --connect-timeout=2 -N -B -e 'SELECT 1' >/dev/null
