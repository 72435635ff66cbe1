#!/usr/bin/env bash
# What CI runs: a throwaway PostgreSQL cluster and an s3rver (S3-compatible store) on 127.0.0.1, then every test of the
# solution, then both are removed. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
source scripts/lib/s3rver.sh

command -v dotnet >/dev/null || { echo "The .NET 10 SDK is needed: https://dotnet.microsoft.com/download" >&2; exit 1; }
pg_ensure_installed
chromium_ensure_installed
s3rver_ensure_installed
ffmpeg_ensure_installed

pg_throwaway test
echo "Test PostgreSQL: 127.0.0.1:$PG_PORT ($("$PG_BIN/postgres" --version))"

# The tests make a database per test class; these say how to reach the cluster and its two roles.
export USE60_TEST_PG_SUPERUSER="Host=127.0.0.1;Port=$PG_PORT;Username=$(pg_superuser);Password=$PG_SUPER_PW;Database=postgres"
export USE60_TEST_PG_OWNER="Host=127.0.0.1;Port=$PG_PORT;Username=use60_owner;Password=$PG_OWNER_PW"
export USE60_TEST_PG_APP="Host=127.0.0.1;Port=$PG_PORT;Username=use60_app;Password=$PG_APP_PW"
export PG_BIN

# The recording store's tests: s3rver on its own free port, credentials S3RVER / S3RVER.
s3rver_start test
echo "Test S3 (s3rver $S3RVER_VERSION): $S3RVER_URL"
export USE60_TEST_S3_URL=$S3RVER_URL

# A test that hangs fails the run within minutes, naming itself, instead of holding CI until its time limit.
dotnet test Use60.sln --nologo -c Release --logger "console;verbosity=normal" --blame-hang-timeout 10m --blame-hang-dump-type none "$@"

