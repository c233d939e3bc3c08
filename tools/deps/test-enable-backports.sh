#!/usr/bin/env bash
# Checks the sources editing of enable-backports.sh on fixture apt directories (deb822 and
# one-line), twice each (idempotent), without touching the machine's apt or the network.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
script="$here/enable-backports.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
edit() { SIERRA_APT_ROOT="$1" SIERRA_DEPS_EDIT_ONLY=1 bash "$script" >/dev/null; }

# deb822: the stanza with bookworm/bookworm-updates gains the suite once; security is untouched.
mkdir -p "$tmp/a/sources.list.d"
cat >"$tmp/a/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: file:/srv/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: file:/srv/debian-security
Suites: bookworm-security
Components: main
EOF
edit "$tmp/a"
edit "$tmp/a"
grep -qx 'Suites: bookworm bookworm-updates bookworm-backports' "$tmp/a/sources.list.d/debian.sources" ||
  fail "deb822 Suites line not edited as expected"
grep -qx 'Suites: bookworm-security' "$tmp/a/sources.list.d/debian.sources" ||
  fail "security stanza changed"
[ "$(grep -c bookworm-backports "$tmp/a/sources.list.d/debian.sources")" = 1 ] ||
  fail "suite added more than once"
[ "$(find "$tmp/a/sources.list.d" -type f | wc -l)" = 1 ] || fail "stray files left"

# One-line form: the bookworm line (options kept) is copied with the suite replaced, once.
mkdir -p "$tmp/b/sources.list.d"
cat >"$tmp/b/sources.list" <<'EOF'
deb [arch=amd64] file:/srv/debian bookworm main contrib
deb file:/srv/debian-security bookworm-security main
EOF
edit "$tmp/b"
edit "$tmp/b"
list="$tmp/b/sources.list.d/sierradb-bookworm-backports.list"
grep -qx 'deb \[arch=amd64\] file:/srv/debian bookworm-backports main contrib' "$list" ||
  fail "one-line entry not copied as expected"
[ "$(grep -c '^deb ' "$list")" = 1 ] || fail "one-line entry written more than once"

# No Debian entry at all: a clear failure.
mkdir -p "$tmp/c/sources.list.d"
if edit "$tmp/c" 2>/dev/null; then fail "no failure without a bookworm entry"; fi

echo "3 passed, 0 failed"
