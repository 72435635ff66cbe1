#!/usr/bin/env bash
# What CI runs: a throwaway PostgreSQL cluster on 127.0.0.1, then every test of the solution, then the
# cluster is removed. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

command -v dotnet >/dev/null || { echo "The .NET 10 SDK is needed: https://dotnet.microsoft.com/download" >&2; exit 1; }
pg_ensure_installed
chromium_ensure_installed

WORK=$(mktemp -d /tmp/use60-test.XXXXXX)
chmod 755 "$WORK"
PG_DIR=$WORK/postgres
cleanup() {
  pg_stop "$PG_DIR"
  rm -rf "$WORK"
}
trap cleanup EXIT

SUPER_PW=$(pg_random_secret)
OWNER_PW=$(pg_random_secret)
APP_PW=$(pg_random_secret)
for attempt in 1 2 3; do
  PG_PORT=$(pg_free_port)
  pg_init "$PG_DIR" "$PG_PORT" "$SUPER_PW" fast
  if pg_start "$PG_DIR"; then break; fi
  # Another process took the port between the check and the bind: a fresh cluster on another port.
  [ "$attempt" -lt 3 ] || exit 1
  echo "PostgreSQL could not start on port $PG_PORT; trying another port" >&2
  rm -rf "$PG_DIR"
done
pg_roles "$PG_DIR" "$OWNER_PW" "$APP_PW"
echo "Test PostgreSQL: 127.0.0.1:$PG_PORT ($("$PG_BIN/postgres" --version))"

# The tests make a database per test class; these say how to reach the cluster and its two roles.
export USE60_TEST_PG_SUPERUSER="Host=127.0.0.1;Port=$PG_PORT;Username=$(pg_superuser);Password=$SUPER_PW;Database=postgres"
export USE60_TEST_PG_OWNER="Host=127.0.0.1;Port=$PG_PORT;Username=use60_owner;Password=$OWNER_PW"
export USE60_TEST_PG_APP="Host=127.0.0.1;Port=$PG_PORT;Username=use60_app;Password=$APP_PW"
export PG_BIN

dotnet test Use60.sln --nologo -c Release --logger "console;verbosity=normal" "$@"
