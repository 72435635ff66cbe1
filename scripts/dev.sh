#!/usr/bin/env bash
# Runs use60 on this machine: a private PostgreSQL under .data/ (127.0.0.1 only), migrated and seeded with the
# demo org, and the app on http://127.0.0.1:5175. Ctrl-C stops both; the next run reuses the same data.
# Values already in the environment win (DATABASE_URL, SLACK_SIGNING_SECRET, ...; see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

command -v dotnet >/dev/null || { echo "The .NET 10 SDK is needed: https://dotnet.microsoft.com/download" >&2; exit 1; }
# Thumbnails of kept recordings are cut with ffmpeg; without it the app runs and recordings simply have none.
ffmpeg_ensure_installed || echo "Could not install ffmpeg: recordings will be kept without thumbnails (see the README, Notetaker)." >&2
DATA_DIR=$PWD/.data
PG_DIR=$DATA_DIR/postgres
PG_PORT=${USE60_PG_PORT:-55432}
APP_URL=${USE60_URL:-http://127.0.0.1:5175}
mkdir -p "$DATA_DIR"
chmod 711 "$DATA_DIR"   # the postgres user (when run as root) must reach .data/postgres

# Secrets for the local cluster and the master key are made once and kept in .data/ (git ignores it).
if [ ! -f "$DATA_DIR/local.env" ]; then
  umask 077
  {
    echo "PG_SUPERUSER_PASSWORD=$(pg_random_secret)"
    echo "PG_OWNER_PASSWORD=$(pg_random_secret)"
    echo "PG_APP_PASSWORD=$(pg_random_secret)"
    echo "LOCAL_MASTER_KEY=$(head -c 32 /dev/urandom | base64)"
  } > "$DATA_DIR/local.env"
fi
source "$DATA_DIR/local.env"

if [ -z "${DATABASE_URL:-}" ]; then
  pg_ensure_installed
  pg_init "$PG_DIR" "$PG_PORT" "$PG_SUPERUSER_PASSWORD"
  pg_start "$PG_DIR"
  if [ "$PG_STARTED_HERE" = 1 ]; then
    # Stop the cluster we started when the app stops (Ctrl-C included); a second run starts it again.
    stop_postgres() { pg_stop "$PG_DIR"; echo "PostgreSQL stopped." >&2 2>/dev/null || true; }
    trap stop_postgres EXIT
    trap 'exit 130' INT TERM
  fi
  pg_roles "$PG_DIR" "$PG_OWNER_PASSWORD" "$PG_APP_PASSWORD"
  pg_database "$PG_DIR" use60
  export DATABASE_URL="postgres://use60_app:$PG_APP_PASSWORD@127.0.0.1:$PG_PORT/use60"
  export DATABASE_OWNER_URL="postgres://use60_owner:$PG_OWNER_PASSWORD@127.0.0.1:$PG_PORT/use60"
  echo "PostgreSQL: 127.0.0.1:$PG_PORT, data in $PG_DIR"
fi
export USE60_MASTER_KEY=${USE60_MASTER_KEY:-$LOCAL_MASTER_KEY}
export PUBLIC_URL=${PUBLIC_URL:-$APP_URL}
export ASPNETCORE_ENVIRONMENT=${ASPNETCORE_ENVIRONMENT:-Development}

dotnet build src/Use60 --nologo -v quiet -clp:ErrorsOnly
use60() { dotnet run --no-build --project src/Use60 -- "$@"; }
use60 seed-demo
echo
use60 admin-link alex@acme-robotics.example
echo
echo "use60 is starting on $APP_URL (admin site: $APP_URL/admin). Ctrl-C stops it."
use60 --urls "$APP_URL"
