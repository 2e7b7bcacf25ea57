#!/usr/bin/env bash
# Renders the dpu-fw chart with deploy/helm/render/main.go (Go text/template +
# sprig, from Debian's packages; see that file for what it covers).
#
#   deploy/helm/render.sh                 # print the chart rendered with its default values
#   deploy/helm/render.sh -f my.yaml      # ... with my.yaml laid over values.yaml
#   deploy/helm/render.sh --write         # rewrite the checked-in deploy/helm/dpu-fw/rendered/*.yaml
#
# Needs: apt-get install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
chart=${CHART:-$here/dpu-fw}
export GOPATH=/usr/share/gocode GO111MODULE=off
export GOCACHE=${GOCACHE:-/tmp/dpu-fw-gocache}
bin=${GOCACHE}/dpu-fw-render
go build -o "$bin" "$here/render/main.go"
if [ "${1:-}" = "--write" ]; then
  "$bin" -chart "$chart" -name dpu-fw >"$chart/rendered/default.yaml"
  for v in "$chart"/ci/*-values.yaml; do
    out="$chart/rendered/$(basename "$v" -values.yaml).yaml"
    "$bin" -chart "$chart" -name dpu-fw -f "$v" >"$out"
  done
  exit 0
fi
exec "$bin" -chart "$chart" -name dpu-fw "$@"
