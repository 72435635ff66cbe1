# apt_install PACKAGE...: installs Debian packages (with sudo unless root), refreshing the package lists first,
# since a fresh machine may have none.
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing $* from Debian's packages..." >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Debian's Chromium, for the admin site's browser tests (Playwright drives it; it never downloads a browser).
chromium_ensure_installed() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

# Debian's ffmpeg: the recordings' tests make media with `ffmpeg -f lavfi`, and thumbnails are cut with it.
ffmpeg_ensure_installed() {
  command -v ffmpeg >/dev/null || apt_install ffmpeg
}
