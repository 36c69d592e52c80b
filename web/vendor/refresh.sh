#!/usr/bin/env bash
# Refresh the vendored front-end libraries from the npm registry at the exact versions below.
# Usage: web/vendor/refresh.sh   (needs npm and tar; writes web/vendor/<name>-<version>/)
set -euo pipefail
cd "$(dirname "$0")"
PREACT=11.2.0
HTM=3.1.1
UPLOT=1.6.32
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fetch() {  # fetch NAME VERSION -> unpacked in $tmp/NAME
  (cd "$tmp" && npm pack "$1@$2" --silent >/dev/null && mkdir -p "$1" && tar xzf "$1-$2.tgz" -C "$1")
}
fetch preact "$PREACT"; fetch htm "$HTM"; fetch uplot "$UPLOT"
rm -rf preact-* htm-* uplot-*
mkdir -p "preact-$PREACT" "htm-$HTM" "uplot-$UPLOT"
cp "$tmp/preact/package/dist/preact.mjs" "$tmp/preact/package/hooks/dist/hooks.mjs" "$tmp/preact/package/LICENSE" "preact-$PREACT/"
cp "$tmp/htm/package/dist/htm.mjs" "$tmp/htm/package/LICENSE" "htm-$HTM/"
cp "$tmp/uplot/package/dist/uPlot.esm.js" "$tmp/uplot/package/dist/uPlot.min.css" "$tmp/uplot/package/LICENSE" "uplot-$UPLOT/"
echo "vendored preact $PREACT, htm $HTM, uplot $UPLOT"
