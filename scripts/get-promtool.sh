#!/usr/bin/env bash
# promtool (checks the alert rules and the services' metrics in the tests), taken from Debian's
# prometheus package without installing it: extracted into .tools/bin. Idempotent; a promtool
# already on PATH is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
target=.tools/bin/promtool
if command -v promtool >/dev/null 2>&1 || [[ -x "$target" ]]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }
)
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
mkdir -p .tools/bin
install -m 0755 "$work/root/usr/bin/promtool" "$target"
echo "get-promtool: $("$target" --version 2>&1 | head -n1) in $target"
