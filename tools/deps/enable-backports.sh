#!/usr/bin/env bash
# Installs C-Raft 0.22.1 (libraft-dev) from Debian's bookworm-backports suite, the consensus
# library of the cluster (docs/CLUSTER.md, "Raft library and shim").
#
# 1. Enables bookworm-backports by editing the machine's EXISTING Debian sources entry, so the
#    mirror the machine already uses is the one asked (no host name is written by this script):
#    - deb822 (/etc/apt/sources.list.d/*.sources): `bookworm-backports` is added to the `Suites:`
#      line of each stanza whose suites name `bookworm` or `bookworm-updates`;
#    - one-line form (/etc/apt/sources.list, *.list): the existing `bookworm` line is copied into
#      /etc/apt/sources.list.d/sierradb-bookworm-backports.list with the suite replaced.
# 2. apt-get update, then installs exactly libraft-dev 0.22.1-* from bookworm-backports (the shim's
#    ownership rules are those of 0.22.1: they changed after it) and holds it at that version.
#
# Idempotent: when libraft-dev 0.22.1-* is installed it checks and exits without touching apt.
# Runs as root (re-runs itself through sudo otherwise). Fails with a message naming what is
# missing. Environment: SIERRA_APT_ROOT overrides /etc/apt (used only to test the editing).
set -euo pipefail

readonly RAFT_UPSTREAM_VERSION="0.22.1"
readonly SUITE="bookworm-backports"
readonly APT_ROOT="${SIERRA_APT_ROOT:-/etc/apt}"
readonly LIST_FILE="$APT_ROOT/sources.list.d/sierradb-bookworm-backports.list"

die() {
  echo "enable-backports: $*" >&2
  exit 1
}
log() { echo "enable-backports: $*"; }

installed_version() {
  { dpkg-query -W -f='${Status} ${Version}\n' libraft-dev 2>/dev/null || true; } |
    awk '$3 == "installed" { print $4 }' # status: "install ok" or "hold ok"
}

is_pinned_version() { [[ "$1" == "$RAFT_UPSTREAM_VERSION"-* ]]; }

# True when some active sources entry already names bookworm-backports.
backports_enabled() {
  local f
  for f in "$APT_ROOT"/sources.list "$APT_ROOT"/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    grep -Eq "^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+$SUITE([[:space:]]|\$)" "$f" &&
      return 0
  done
  for f in "$APT_ROOT"/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    grep -Eiq "^Suites:.*[[:space:]]$SUITE([[:space:]]|\$)" "$f" && return 0
  done
  return 1
}

# Adds the suite to each deb822 stanza that names bookworm or bookworm-updates. Prints the files
# it changed. The file is rewritten through a temporary copy so a failure leaves it unchanged.
edit_deb822() {
  local f tmp changed=1
  for f in "$APT_ROOT"/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    grep -Eiq '^Suites:(.*[[:space:]])?bookworm(-updates)?([[:space:]]|$)' "$f" || continue
    tmp="$(mktemp "$f.XXXXXX")"
    awk -v suite="$SUITE" '
      tolower($1) == "suites:" {
        has_base = 0; has_new = 0
        for (i = 2; i <= NF; i++) {
          if ($i == "bookworm" || $i == "bookworm-updates") has_base = 1
          if ($i == suite) has_new = 1
        }
        if (has_base && !has_new) { sub(/[[:space:]]*$/, ""); $0 = $0 " " suite }
      }
      { print }' "$f" >"$tmp"
    chmod --reference="$f" "$tmp"
    mv "$tmp" "$f"
    echo "$f"
    changed=0
  done
  return $changed
}

# Copies the first one-line `deb <uri> bookworm ...` entry into a new list file for the suite.
edit_one_line() {
  local f line
  for f in "$APT_ROOT"/sources.list "$APT_ROOT"/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    line="$(grep -E '^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+bookworm[[:space:]]' "$f" |
      head -n 1 || true)"
    [[ -n "$line" ]] || continue
    mkdir -p "$APT_ROOT/sources.list.d"
    {
      echo "# Added by SierraDB tools/deps/enable-backports.sh from the bookworm entry of $f."
      # Field 3 (after `deb` and the URI, or after `deb [options] URI`) is the suite.
      echo "$line" | sed -E "s/^([[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+)bookworm([[:space:]])/\1$SUITE\3/"
    } >"$LIST_FILE"
    echo "$LIST_FILE"
    return 0
  done
  return 1
}

enable_suite() {
  if backports_enabled; then
    log "$SUITE already enabled"
    return 0
  fi
  local changed
  if changed="$(edit_deb822)"; then
    log "added $SUITE to the Suites: line of $changed"
  elif changed="$(edit_one_line)"; then
    log "copied the bookworm entry into $changed"
  else
    die "no Debian bookworm entry found in $APT_ROOT/sources.list or $APT_ROOT/sources.list.d/ to add $SUITE to"
  fi
  backports_enabled || die "editing the sources did not enable $SUITE"
}

# The exact Debian version of libraft-dev 0.22.1 that bookworm-backports offers, or nothing.
backports_candidate() {
  apt-cache madison libraft-dev 2>/dev/null |
    awk -F'|' -v suite="$SUITE" -v up="$RAFT_UPSTREAM_VERSION" '
      { v = $2; gsub(/[[:space:]]/, "", v) }
      index($3, suite "/") && index(v, up "-") == 1 { print v; exit }'
}

main() {
  if [[ "${SIERRA_DEPS_EDIT_ONLY:-0}" = 1 ]]; then # test hook: only the sources edit
    enable_suite
    return 0
  fi
  local have
  have="$(installed_version)"
  if [[ -n "$have" ]] && is_pinned_version "$have"; then
    exit 0 # already there: quiet, as `make deps` is
  fi
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (no sudo found)"
    exec sudo -E bash "$0" "$@"
  fi
  export DEBIAN_FRONTEND=noninteractive
  enable_suite
  log "apt-get update"
  apt-get update -qq || die "apt-get update failed"
  local version
  version="$(backports_candidate)"
  [[ -n "$version" ]] ||
    die "libraft-dev $RAFT_UPSTREAM_VERSION-* is not offered by $SUITE (apt-cache policy libraft-dev:
$(apt-cache policy libraft-dev 2>&1))"
  log "installing libraft-dev=$version from $SUITE"
  # A held package is not changed by apt-get install=version unless allowed; unhold it first.
  apt-mark unhold libraft-dev libraft0 >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends --allow-downgrades -t "$SUITE" \
    "libraft-dev=$version" >/dev/null || die "apt-get install libraft-dev=$version failed"
  # Hold both (headers and shared library): packages installed from backports follow backports
  # upgrades, and the shim is written against 0.22.1's ownership rules.
  apt-mark hold libraft-dev libraft0 >/dev/null
  have="$(installed_version)"
  is_pinned_version "$have" || die "libraft-dev is at '$have' after the install, not $RAFT_UPSTREAM_VERSION-*"
  if command -v pkg-config >/dev/null 2>&1; then
    local pc
    pc="$(pkg-config --modversion raft 2>/dev/null || true)"
    [[ "$pc" = "$RAFT_UPSTREAM_VERSION" ]] || die "pkg-config reports raft '$pc', expected $RAFT_UPSTREAM_VERSION"
  fi
  log "libraft-dev $have installed (held)"
}

main "$@"
