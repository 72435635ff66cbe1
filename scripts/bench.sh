#!/usr/bin/env bash
# Benchmarks of the app on a throwaway PostgreSQL cluster (digests, pages, slack, soak) or s3rver (upload) on 127.0.0.1, removed afterwards.
# bench/README.md has the latest figures of each.
#
#   scripts/bench.sh digests [--reps N] [--deals N] [--meetings N] [--out FILE]
#   scripts/bench.sh pages [--requests N] [--out FILE]
#   scripts/bench.sh upload [--small-mib N] [--large-mib N] [--runs N] [--out FILE]
#   scripts/bench.sh slack [--seconds N] [--connections N] [--out FILE]
#   scripts/bench.sh soak [--minutes N] [--reps N] [--out FILE]
#
# digests: seeds reps (2,000 by default) with deals and calendars, runs the real pipeline-digest and meeting-brief jobs once each,
# and prints the time, the ms per rep and the database round trips per rep (counted at the connection); writes them to
# bench/results/digests.json. Without --deals it runs 100, 50 and 400 deals per rep. Exits non-zero if a digest or brief is missing.
#
# pages: seeds the demo org, serves the app on Kestrel on 127.0.0.1 (scheduler off), signs in as the demo owner through a one-time
# link, and requests every admin page (the navigation's and every other admin page the app routes) 5 times to warm up, then
# --requests times (50 by default); prints each page's status, p50, p95 and max ms, bytes and database round trips, and the load
# average, and writes them to bench/results/pages.json. Exits non-zero if a page does not answer 200 or its p95 is not under 200 ms.
#
# upload: streams a generated recording from a loopback HTTP server through the recording store's S3 multipart upload into s3rver, at
# 100 MiB and 1 GiB (--small-mib, --large-mib), beside a raw PutObject of the same bytes to the same s3rver, 3 runs each (--runs);
# prints the throughputs (MB/s), their ratio and the process's peak working-set growth during each upload, and writes them to
# bench/results/upload.json. Exits non-zero if the growth reaches 64 MB at either size or grows with the size, or if the store's
# throughput is under 80% of the raw PUT's.
#
# slack: the Slack front door against Bolt. Runs the Release build of use60 (dotnet Use60.dll, the demo org, a durable PostgreSQL:
# fsync on) and, beside it, the minimal Bolt for JavaScript app in bench/bolt (installed here with npm ci), both on 127.0.0.1 with one
# signing secret and one fake Slack Web API that answers at once. One generator sends both the same validly signed app_mention
# event_callbacks, unique event ids, at 100, 500 and 1000 req/s (open loop) and at saturation (--connections, 64 by default, closed
# loop), --seconds each (20 by default); prints, for both, acknowledged req/s, ack latency p50/p95/p99/max, errors and the replies that
# reached the fake within 10 s, and the ratios use60 / Bolt; writes them to bench/results/slack.json. Exits non-zero if use60
# acknowledges fewer req/s than Bolt at saturation, its p99 at 500 req/s is not under 50 ms, it loses or delays a reply or fails a request,
# or its inbox holds fewer rows than it acknowledged.
#
# soak: seeds reps (2,000 by default, --reps) and serves the app (scheduler on) on Kestrel on 127.0.0.1, with a fake Slack Web API and a
# fake OpenAI-compatible model on 127.0.0.1, for --minutes (15 by default) of steady signed Slack traffic, 30 requests/s: DMs and
# app_mentions to the copilot, /sixty commands, and Mark done / Snooze clicks. The app's clock moves one simulated day per real minute,
# and the daily jobs (digests, meeting briefs, task reminders, deal stalls, win/loss) are started through Quartz at each simulated day,
# for every rep (Quartz's own cron runs on the real clock). Every minute it prints the process's working set, live GC heap (after a full
# collection), thread count and the app's open database connections; exits non-zero if any of them grows over the last five minutes
# (spread over 10%, or for threads and connections more than 2 apart) or more than 1% of requests fail. Writes bench/results/soak.json.
# Under 6 minutes it judges what there is and says it is not the 15-minute soak.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
source scripts/lib/s3rver.sh

usage() {
  printf '%s\n' "usage: scripts/bench.sh digests [--reps N] [--deals N] [--meetings N] [--out FILE]" \
                "       scripts/bench.sh pages [--requests N] [--out FILE]" \
                "       scripts/bench.sh upload [--small-mib N] [--large-mib N] [--runs N] [--out FILE]" \
                "       scripts/bench.sh slack [--seconds N] [--connections N] [--out FILE]" \
                "       scripts/bench.sh soak [--minutes N] [--reps N] [--out FILE]" >&2
  exit 2
}
case "${1:-}" in
  digests|pages|upload|slack|soak) ;;
  *) usage ;;
esac
command -v dotnet >/dev/null || { echo "The .NET 10 SDK is needed: https://dotnet.microsoft.com/download" >&2; exit 1; }

if [ "$1" = upload ]; then
  s3rver_ensure_installed
  dotnet build bench/Use60.Bench -c Release --nologo -v quiet -clp:ErrorsOnly
  s3rver_start bench
  echo "Bench S3: s3rver $S3RVER_VERSION at $S3RVER_URL (node $(node --version)), data in $S3RVER_DIR, $(nproc) cores"
  export USE60_BENCH_S3_URL=$S3RVER_URL
else
  pg_ensure_installed
  if [ "$1" = slack ]; then
    command -v node >/dev/null || { echo "Node.js (20 or later) is needed for the Bolt app: https://nodejs.org" >&2; exit 1; }
    (cd bench/bolt && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    export USE60_BENCH_NODE_VERSION=$(node --version)
  fi
  # Also builds the app itself (Release) into src/Use60/bin, which the slack bench runs as its own process.
  dotnet build bench/Use60.Bench -c Release --nologo -v quiet -clp:ErrorsOnly
  # The slack bench measures acknowledgements given only once the callback is committed: with fsync on, or it would measure less.
  pg_throwaway bench "$([ "$1" = slack ] && echo durable || echo fast)"
  echo "Bench PostgreSQL: 127.0.0.1:$PG_PORT ($("$PG_BIN/postgres" --version)), $(nproc) cores"
  export USE60_BENCH_PG_SUPERUSER="Host=127.0.0.1;Port=$PG_PORT;Username=$(pg_superuser);Password=$PG_SUPER_PW;Database=postgres"
  export USE60_BENCH_PG_OWNER="Host=127.0.0.1;Port=$PG_PORT;Username=use60_owner;Password=$PG_OWNER_PW"
  export USE60_BENCH_PG_APP="Host=127.0.0.1;Port=$PG_PORT;Username=use60_app;Password=$PG_APP_PW"
fi
dotnet bench/Use60.Bench/bin/Release/net10.0/Use60.Bench.dll "$@"
