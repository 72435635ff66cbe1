# Shared by dev.sh and test.sh: a private PostgreSQL cluster on 127.0.0.1, never the system one.
# Functions only; the caller sets `set -euo pipefail`.
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# Installs PostgreSQL from Debian's packages if no server binaries are present, and sets PG_BIN.
pg_ensure_installed() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    apt_install postgresql
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  local major
  major=$("$PG_BIN/postgres" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
  if [ "$major" -lt 15 ]; then
    echo "PostgreSQL $major found at $PG_BIN; use60 needs 15 or newer." >&2
    return 1
  fi
}

# PostgreSQL refuses to run as root: as root, run the server as the 'postgres' system user.
pg_as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The cluster's superuser is the OS user that runs the server, so local peer authentication lets the scripts in.
pg_superuser() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }

# pg_random_secret: 32 hex characters.
pg_random_secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# pg_free_port: a TCP port on 127.0.0.1 that nothing listens on.
pg_free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "no free port found" >&2
  return 1
}

# pg_init DIR PORT SUPERUSER_PASSWORD [fast]: creates a cluster in DIR (once) listening only on 127.0.0.1:PORT.
# "fast" turns off durability: for throwaway test clusters only.
pg_init() {
  local dir=$1 port=$2 password=$3 mode=${4:-}
  [ -f "$dir/data/PG_VERSION" ] && return 0
  mkdir -p "$dir/data" "$dir/run"
  printf '%s\n' "$password" > "$dir/superuser.pw"
  chmod 700 "$dir/data" "$dir/run"
  chmod 600 "$dir/superuser.pw"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$dir"; fi
  pg_as_server_user "$PG_BIN/initdb" -D "$dir/data" -U "$(pg_superuser)" --pwfile="$dir/superuser.pw" \
    --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$dir/superuser.pw"
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir/run'"
    echo "max_connections = 300"
    echo "shared_buffers = 128MB"
    if [ "$mode" = "fast" ]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } >> "$dir/data/postgresql.conf"
}

# pg_start DIR: starts the cluster unless it already runs; sets PG_STARTED_HERE=1 when this call started it.
pg_start() {
  local dir=$1
  PG_STARTED_HERE=0
  if pg_as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then return 0; fi
  pg_as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { tail -n 30 "$dir/server.log" >&2; return 1; }
  PG_STARTED_HERE=1
}

pg_stop() {
  local dir=$1
  pg_as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_throwaway NAME [durable]: a fresh cluster in a new folder /tmp/use60-NAME.*, on a free port of 127.0.0.1, without durability
# (tests, benchmarks) unless asked for it (a benchmark of writes that must survive a crash), with the owner and app roles; stopped and removed when the calling script exits (this sets its EXIT trap). Sets
# PG_DIR, PG_PORT, PG_SUPER_PW, PG_OWNER_PW and PG_APP_PW. If another process takes the chosen port before PostgreSQL binds
# it, it starts a fresh cluster on another port (up to 3 tries).
pg_throwaway() {
  local work attempt
  work=$(mktemp -d "/tmp/use60-$1.XXXXXX")
  chmod 755 "$work"
  PG_DIR=$work/postgres
  # shellcheck disable=SC2064 # expanded now: the folder of this cluster
  trap "pg_stop '$PG_DIR'; rm -rf '$work'" EXIT
  PG_SUPER_PW=$(pg_random_secret)
  PG_OWNER_PW=$(pg_random_secret)
  PG_APP_PW=$(pg_random_secret)
  for attempt in 1 2 3; do
    PG_PORT=$(pg_free_port)
    pg_init "$PG_DIR" "$PG_PORT" "$PG_SUPER_PW" "$([ "${2:-}" = durable ] && echo durable || echo fast)"
    if pg_start "$PG_DIR"; then break; fi
    [ "$attempt" -lt 3 ] || return 1
    echo "PostgreSQL could not start on port $PG_PORT; trying another port" >&2
    rm -rf "$PG_DIR"
  done
  pg_roles "$PG_DIR" "$PG_OWNER_PW" "$PG_APP_PW"
}

# pg_sql DIR SQL...: runs SQL as the cluster's superuser over its private socket.
pg_sql() {
  local dir=$1
  shift
  local port
  port=$(sed -nE 's/^port = ([0-9]+)$/\1/p' "$dir/data/postgresql.conf" | tail -n 1)
  pg_as_server_user "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" -U "$(pg_superuser)" -d postgres "$@"
}

# pg_roles DIR OWNER_PASSWORD APP_PASSWORD: the schema owner (migrations) and the app's own role, which is
# neither superuser nor BYPASSRLS and owns nothing, so row-level security binds it. Idempotent.
pg_roles() {
  local dir=$1 owner_pw=$2 app_pw=$3
  pg_sql "$dir" -v owner_pw="$owner_pw" -v app_pw="$app_pw" <<'SQL'
SELECT format('CREATE ROLE use60_owner LOGIN NOSUPERUSER NOBYPASSRLS') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'use60_owner') \gexec
SELECT format('CREATE ROLE use60_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'use60_app') \gexec
ALTER ROLE use60_owner PASSWORD :'owner_pw';
ALTER ROLE use60_app PASSWORD :'app_pw';
SQL
}

# pg_database DIR NAME: a database owned by use60_owner. Idempotent.
pg_database() {
  local dir=$1 name=$2
  pg_sql "$dir" -v name="$name" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER use60_owner', :'name') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
SQL
}
