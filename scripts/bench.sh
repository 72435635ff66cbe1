#!/usr/bin/env bash
# Benchmarks of the app on a throwaway PostgreSQL cluster on 127.0.0.1, removed afterwards.
#
#   scripts/bench.sh digests [--reps N] [--deals N] [--meetings N] [--out FILE]
#
# digests: seeds reps (2,000 by default) with deals and calendars, runs the real pipeline-digest and meeting-brief jobs once each,
# and prints the time, the ms per rep and the database round trips per rep (counted at the connection); writes them to
# bench/results/digests.json. Without --deals it runs 100, 50 and 400 deals per rep. Exits non-zero if a digest or brief is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

[ "${1:-}" = "digests" ] || { echo "usage: scripts/bench.sh digests [--reps N] [--deals N] [--meetings N] [--out FILE]" >&2; exit 2; }
command -v dotnet >/dev/null || { echo "The .NET 10 SDK is needed: https://dotnet.microsoft.com/download" >&2; exit 1; }
pg_ensure_installed

dotnet build bench/Use60.Bench -c Release --nologo -v quiet -clp:ErrorsOnly
pg_throwaway bench
echo "Bench PostgreSQL: 127.0.0.1:$PG_PORT ($("$PG_BIN/postgres" --version)), $(nproc) cores"

export USE60_BENCH_PG_SUPERUSER="Host=127.0.0.1;Port=$PG_PORT;Username=$(pg_superuser);Password=$PG_SUPER_PW;Database=postgres"
export USE60_BENCH_PG_OWNER="Host=127.0.0.1;Port=$PG_PORT;Username=use60_owner;Password=$PG_OWNER_PW"
export USE60_BENCH_PG_APP="Host=127.0.0.1;Port=$PG_PORT;Username=use60_app;Password=$PG_APP_PW"
dotnet bench/Use60.Bench/bin/Release/net10.0/Use60.Bench.dll "$@"
