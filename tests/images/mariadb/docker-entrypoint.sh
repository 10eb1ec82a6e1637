#!/usr/bin/env bash
# First start: mariadb-install-db, then root password, database and user from the environment
# (MARIADB_* wins over MYSQL_*, NAME_FILE is read when NAME is unset), then the server in the
# foreground as the mysql user.
set -euo pipefail
DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

log() { printf '%s [Entrypoint]: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*"; }
die() { log "error: $*" >&2; exit 1; }

file_env() {  # file_env NAME: NAME from MARIADB_NAME, MARIADB_NAME_FILE, MYSQL_NAME, MYSQL_NAME_FILE
  local name="$1" value="" src
  for src in "MARIADB_$name" "MYSQL_$name"; do
    local fsrc="${src}_FILE"
    if [ -n "${!src:-}" ]; then value="${!src}"; break; fi
    if [ -n "${!fsrc:-}" ]; then value="$(cat "${!fsrc}")"; break; fi
  done
  printf -v "DB_$name" '%s' "$value"
}

sql_string() {  # a single-quoted SQL string literal
  local s="${1//\\/\\\\}"
  printf "'%s'" "${s//\'/\\\'}"
}

sql_ident() {  # a backquoted SQL identifier
  printf '`%s`' "${1//\`/\`\`}"
}

is_server() { case "${1:-}" in mariadbd | mysqld | -*) return 0 ;; *) return 1 ;; esac; }

if [ "${1:-}" != "" ] && [ "${1:0:1}" = - ]; then set -- mariadbd "$@"; fi

if is_server "$@" && [ "$(id -u)" = 0 ]; then
  mkdir -p "$DATADIR" /run/mysqld
  chown -R mysql:mysql "$DATADIR" /run/mysqld
  exec gosu mysql "$0" "$@"
fi

if is_server "$@" && [ ! -d "$DATADIR/mysql" ]; then
  for name in ROOT_PASSWORD DATABASE USER PASSWORD ROOT_HOST ALLOW_EMPTY_ROOT_PASSWORD RANDOM_ROOT_PASSWORD; do
    file_env "$name"
  done
  : "${DB_ROOT_HOST:=%}"
  if [ -z "$DB_ROOT_PASSWORD" ] && [ -z "$DB_ALLOW_EMPTY_ROOT_PASSWORD" ] && [ -z "$DB_RANDOM_ROOT_PASSWORD" ]; then
    die "Database is uninitialized and password option is not specified
	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_FILE, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
  fi
  if [ -n "$DB_RANDOM_ROOT_PASSWORD" ] && [ -z "$DB_ROOT_PASSWORD" ]; then
    DB_ROOT_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
    log "GENERATED ROOT PASSWORD: $DB_ROOT_PASSWORD"
  fi
  if [ -n "$DB_USER" ] && [ "$DB_USER" = root ]; then
    die "MARIADB_USER=root: use MARIADB_ROOT_PASSWORD for the root user"
  fi
  if [ -n "$DB_USER" ] && [ -z "$DB_PASSWORD" ]; then
    die "MARIADB_USER is set but MARIADB_PASSWORD is empty"
  fi

  log "Initializing database files"
  mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal --skip-test-db \
    --skip-name-resolve --default-time-zone=SYSTEM --skip-log-bin >/dev/null
  log "Database files initialized"

  "$@" --skip-networking --socket="$SOCKET" --skip-log-bin &
  pid=$!
  for _ in $(seq 1 60); do
    if mariadb --protocol=socket --socket="$SOCKET" -uroot -e 'SELECT 1' >/dev/null 2>&1; then break; fi
    kill -0 "$pid" 2>/dev/null || die "temporary server failed to start"
    sleep 0.5
  done
  mariadb --protocol=socket --socket="$SOCKET" -uroot -e 'SELECT 1' >/dev/null || die "temporary server did not answer"

  hc_password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  {
    echo "DROP USER IF EXISTS ''@'localhost', ''@'$(hostname)', 'root'@'127.0.0.1', 'root'@'::1', 'root'@'$(hostname)';"
    echo "CREATE USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY $(sql_string "$hc_password");"
    echo "CREATE USER 'healthcheck'@'::1' IDENTIFIED BY $(sql_string "$hc_password");"
    echo "CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY $(sql_string "$hc_password");"
    if [ "$DB_ROOT_HOST" != localhost ]; then
      echo "CREATE USER 'root'@$(sql_string "$DB_ROOT_HOST") IDENTIFIED BY $(sql_string "$DB_ROOT_PASSWORD");"
      echo "GRANT ALL ON *.* TO 'root'@$(sql_string "$DB_ROOT_HOST") WITH GRANT OPTION;"
      echo "GRANT PROXY ON ''@'%' TO 'root'@$(sql_string "$DB_ROOT_HOST") WITH GRANT OPTION;"
    fi
    if [ -n "$DB_DATABASE" ]; then
      echo "CREATE DATABASE IF NOT EXISTS $(sql_ident "$DB_DATABASE");"
    fi
    if [ -n "$DB_USER" ]; then
      echo "CREATE USER $(sql_string "$DB_USER")@'%' IDENTIFIED BY $(sql_string "$DB_PASSWORD");"
      if [ -n "$DB_DATABASE" ]; then
        echo "GRANT ALL ON $(sql_ident "${DB_DATABASE//_/\\_}").* TO $(sql_string "$DB_USER")@'%';"
      fi
    fi
    # last: from here on root@localhost needs the password
    echo "SET PASSWORD FOR 'root'@'localhost' = PASSWORD($(sql_string "$DB_ROOT_PASSWORD"));"
    echo "FLUSH PRIVILEGES;"
  } | mariadb --protocol=socket --socket="$SOCKET" -uroot --binary-mode mysql

  umask 077
  printf '[mariadb-client]\nport=3306\nsocket=%s\nuser=healthcheck\npassword=%s\nprotocol=tcp\n' \
    "$SOCKET" "$hc_password" >"$DATADIR/.my-healthcheck.cnf"
  umask 022

  export MYSQL_PWD="$DB_ROOT_PASSWORD"
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh) log "running $f"; . "$f" ;;
      *.sql) log "running $f"; mariadb --socket="$SOCKET" -uroot "${DB_DATABASE:-mysql}" <"$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | mariadb --socket="$SOCKET" -uroot "${DB_DATABASE:-mysql}" ;;
      *) log "ignoring $f" ;;
    esac
  done
  unset MYSQL_PWD

  kill -TERM "$pid"
  wait "$pid" || true
  log "MariaDB init process done. Ready for start up."
fi

exec "$@"
