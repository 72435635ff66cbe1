# Shared by test.sh and bench.sh: s3rver (npm, an S3-compatible server) on 127.0.0.1 for the recording store, never a real bucket.
# Functions only; the caller sets `set -euo pipefail`.
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

S3RVER_VERSION=3.7.1
S3RVER_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.tools

# Node and npm from Debian's packages if missing, then s3rver into .tools/node_modules (git ignores it; once per machine).
s3rver_ensure_installed() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  local installed
  installed=$(node -p "require('$S3RVER_TOOLS/node_modules/s3rver/package.json').version" 2>/dev/null || true)
  if [ "$installed" != "$S3RVER_VERSION" ]; then
    echo "Installing s3rver $S3RVER_VERSION into .tools/ from npm..." >&2
    mkdir -p "$S3RVER_TOOLS"
    npm install --prefix "$S3RVER_TOOLS" --no-audit --no-fund --no-save --loglevel=error "s3rver@$S3RVER_VERSION" >/dev/null
  fi
}

# on_exit COMMAND: runs COMMAND when the script exits, after whatever an earlier on_exit or trap ... EXIT set up.
on_exit() {
  local command=$1 existing
  existing=$(trap -p EXIT)
  eval "set -- ${existing:-trap -- true EXIT}"   # trap -- 'EARLIER COMMANDS' EXIT
  # shellcheck disable=SC2064 # expanded now, on purpose
  trap "$command; $3" EXIT
}

# s3rver_start NAME: s3rver on a free port of 127.0.0.1 with its data in a new folder /tmp/use60-NAME-s3.*, stopped and removed
# when the calling script exits. Sets S3RVER_URL (http://127.0.0.1:PORT), S3RVER_DIR and S3RVER_PID.
s3rver_start() {
  local work log
  work=$(mktemp -d "/tmp/use60-$1-s3.XXXXXX")
  S3RVER_DIR=$work/data
  log=$work/s3rver.log
  mkdir -p "$S3RVER_DIR"
  : >"$log"   # exists before the loop below reads it (the background process opens it only when it gets to run)
  node "$(dirname "${BASH_SOURCE[0]}")/s3rver.js" "$S3RVER_DIR" >"$log" 2>&1 &
  S3RVER_PID=$!
  on_exit "kill $S3RVER_PID 2>/dev/null; wait $S3RVER_PID 2>/dev/null; rm -rf '$work'"
  for _ in $(seq 1 100); do
    S3RVER_URL=$(sed -nE 's/^s3rver listening on (http:[^ ]+)$/\1/p' "$log")
    [ -n "$S3RVER_URL" ] && return 0
    kill -0 "$S3RVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "s3rver did not start:" >&2
  cat "$log" >&2
  return 1
}
