#!/usr/bin/env bash
# Builds the local control plane's binaries into .bin/ (git-ignored), once per pinned version set.
#
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler  from scripts/controlplane/go.mod
#   kwok, helm                                                     with `go install`
#   metrics-server                                                 from scripts/metrics-server/go.mod
#   kwok-stages.yaml, kwok-metrics.yaml                            kwok's own configs, from its module
#
# Finished binaries are also kept in a machine-wide cache ($INFERENCE_CASCADE_CACHE, default
# ~/.cache/inference-cascade) keyed by a hash of the pins, so a fresh clone on the same machine
# copies them instead of relinking. A cold build takes 20-30 minutes on 2 cores (see README);
# a warm Go build cache brings it down to a few minutes of linking.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/scripts/controlplane"
msmod="$root/scripts/metrics-server"
bin="$root/.bin"

KUBE_VERSION=v1.33.13
KWOK_VERSION=v0.7.0
HELM_VERSION=v3.19.0
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok helm metrics-server kwok-stages.yaml kwok-metrics.yaml)

log() { printf '[build-controlplane] %s\n' "$*" >&2; }

stamp=$(cat "$mod/go.mod" "$mod/go.sum" "$msmod/go.mod" "$msmod/go.sum" "$0" | sha256sum | cut -c1-16)
cache="${INFERENCE_CASCADE_CACHE:-$HOME/.cache/inference-cascade}/controlplane-$stamp"

have_all() {
  local dir=$1 b
  for b in "${BINARIES[@]}"; do [ -s "$dir/$b" ] || return 1; done
  [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]
}

if have_all "$bin"; then
  log "up to date in .bin/ ($stamp)"
  exit 0
fi
mkdir -p "$bin"
if have_all "$cache"; then
  log "copying from machine cache $cache"
  for b in "${BINARIES[@]}"; do cp -f "$cache/$b" "$bin/$b"; done
  echo "$stamp" > "$bin/.stamp"
  exit 0
fi

command -v go >/dev/null || { log "go is not installed: it is needed to build the control plane"; exit 1; }
started=$(date +%s)
export GOFLAGS="${GOFLAGS:-} -mod=mod"

# Prints "[build-controlplane] <what>: <n>/<total> packages" as `go build -v` reports them.
with_progress() {
  local what=$1 total=$2; shift 2
  "$@" 2>&1 | awk -v what="$what" -v total="$total" '
    /^(#|go: |[^ ]+\.go:)/ { print > "/dev/stderr"; next }
    { n++; if (n % 100 == 0) printf "[build-controlplane] %s: %d/~%d packages\n", what, n, total > "/dev/stderr" }
    END { printf "[build-controlplane] %s: %d packages compiled\n", what, n > "/dev/stderr" }'
  return "${PIPESTATUS[0]}"
}

ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=33"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

cd "$mod"
log "downloading modules for kubernetes $KUBE_VERSION"
go mod download
total=$(go list -deps k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler go.etcd.io/etcd/server/v3 | wc -l)
log "compiling kube-apiserver, kube-controller-manager, kube-scheduler, etcd ($total packages)"
with_progress kubernetes "$total" go build -v -trimpath -ldflags "$ldflags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler
with_progress etcd "$total" go build -v -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3

log "installing kwok $KWOK_VERSION and helm $HELM_VERSION"
cd "$root"
GOBIN="$bin" with_progress kwok 400 go install -v -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
GOBIN="$bin" with_progress helm 600 go install -v -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

# metrics-server (the metrics.k8s.io API), pinned in its own module: it needs newer k8s.io
# libraries than the control plane's, and a separate go.mod keeps the two version sets apart.
cd "$msmod"
ms_version=$(go list -m -f '{{.Version}}' sigs.k8s.io/metrics-server)
log "downloading modules for metrics-server $ms_version"
go mod download
ms_total=$(go list -deps sigs.k8s.io/metrics-server/cmd/metrics-server | wc -l)
log "compiling metrics-server $ms_version ($ms_total packages)"
with_progress metrics-server "$ms_total" go build -v -trimpath \
  -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$ms_version" \
  -o "$bin/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server
cd "$root"

# kwok only moves nodes and pods through their lifecycle with Stage configurations; kwokctl embeds
# these, the bare binary takes them through --config. Taken from the kwok module just built.
stages="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  printf -- '---\n'; cat "$stages/$f"
done > "$bin/kwok-stages.yaml"
# kwok's emulation of the kubelet's /metrics/resource (served per node under
# /metrics/nodes/{nodeName}/metrics/resource, which the nodes' metrics.k8s.io/resource-metrics-path
# annotation points metrics-server at) and of pod usage, taken from the pods'
# kwok.x-k8s.io/usage-cpu and kwok.x-k8s.io/usage-memory annotations.
metrics="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/metrics"
for f in resource/metrics-resource.yaml usage/usage-from-annotation.yaml; do
  printf -- '---\n'; cat "$metrics/$f"
done > "$bin/kwok-metrics.yaml"

echo "$stamp" > "$bin/.stamp"
mkdir -p "$cache"
for b in "${BINARIES[@]}"; do cp -f "$bin/$b" "$cache/$b"; done
echo "$stamp" > "$cache/.stamp"
log "done in $(( $(date +%s) - started )) s"
