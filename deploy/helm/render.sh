#!/usr/bin/env bash
# Renders the dpu-fw chart like `helm template` with deploy/helm/render/main.go
# (Go text/template + sprig from Debian's packages; that file says what it
# covers of helm).
#
#   deploy/helm/render.sh -name dpu-fw                       # print the render for values.yaml
#   deploy/helm/render.sh -name fw -f my-values.yaml         # ... with my-values.yaml laid over it
#   deploy/helm/render.sh --write                            # rewrite deploy/helm/dpu-fw/rendered/*.yaml
#
# --write renders values.yaml to rendered/default.yaml (release dpu-fw) and
# each ci/NAME-values.yaml laid over it to rendered/NAME.yaml (release
# dpf-dpu-fw, a name unlike the chart's so that names not taken from the
# release show). Line 1 of each is the command that renders the rest; run
# from the chart directory. deploy/validate re-renders and compares.
#
# Needs: apt-get install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
chart=$here/dpu-fw
export GOPATH=/usr/share/gocode GO111MODULE=off
export GOCACHE=${GOCACHE:-/tmp/dpu-fw-gocache}
if [ -n "${DPU_FW_RENDER_BIN:-}" ]; then
  bin=$DPU_FW_RENDER_BIN   # built already (deploy/validate --self-test builds it once)
else
  bin=$(mktemp -d)/render
  trap 'rm -rf "$(dirname "$bin")"' EXIT
  go build -o "$bin" "$here/render/main.go"
fi
if [ "${1:-}" = "--write" ]; then
  cd "$chart"
  { echo "# deploy/helm/render.sh -name dpu-fw"; "$bin" -chart . -name dpu-fw; } >rendered/default.yaml
  for v in ci/*-values.yaml; do
    out="rendered/$(basename "$v" -values.yaml).yaml"
    { echo "# deploy/helm/render.sh -name dpf-dpu-fw -f $v"; "$bin" -chart . -name dpf-dpu-fw -f "$v"; } >"$out"
  done
  exit 0
fi
"$bin" -chart "$chart" "$@"
