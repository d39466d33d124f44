#!/usr/bin/env bash
# Deploy prowlarr-k8s on a local MicroK8s with one command, from a fresh Ubuntu machine.
#
# Safe to run again: every step skips what is already in place, and a second run refreshes the
# deployed application with a freshly packed charm. See --help.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly CHARM_NAME="prowlarr-k8s"
readonly TESTER_NAME="media-indexer-tester"
readonly TESTER_DIR="$ROOT/tests/integration/tester"
readonly LIBRARY="lib/charms/prowlarr_k8s/v0/media_indexer.py"

# The charm assumes juju >= 3.6: the client and the controller it bootstraps come from this track.
JUJU_CHANNEL="${JUJU_CHANNEL:-3.6/stable}"
readonly MIN_JUJU_VERSION="3.6"
# Juju 3.x reads MicroK8s' credentials only from the strictly confined snap (a "-strict" track).
# 1.32-strict is the oldest track whose containerd AppArmor profile has network rules: on kernels
# that enforce them, 1.31's denies pods their sockets and CoreDNS and calico crash-loop.
MICROK8S_CHANNEL="${MICROK8S_CHANNEL:-1.32-strict/stable}"
CHARMCRAFT_CHANNEL="${CHARMCRAFT_CHANNEL:-latest/stable}"
# This MicroK8s' kubeconfig, for the integration tests' Kubernetes client; ~/.kube/config, which
# may point at another cluster, is left alone.
readonly KUBECONFIG_FILE="$HOME/.kube/microk8s.config"
# What charmcraft's uv plugin installs before it builds: craft-parts' Python plugins ask for these
# packages and the parts ask for the astral-uv snap. As a user other than root, craft-parts skips
# `apt-get update` and cannot install them, so --destructive-mode installs them here first.
readonly BUILD_PACKAGES=(findutils python3-dev python3-venv)
readonly BUILD_SNAPS=(astral-uv)

controller="microk8s-localhost"
model="prowlarr"
app="prowlarr"
tester_app="$TESTER_NAME"
charm=""
destructive=false
with_tester=false
setup_only=false
metallb_range="${METALLB_RANGE:-}"

usage() {
  cat <<EOF
Usage: scripts/deploy-local.sh [options]

Installs what is missing (snapd, MicroK8s, Juju, charmcraft, LXD), bootstraps a Juju controller
on MicroK8s, adds a model, packs the charm, deploys it with the pinned Prowlarr image from
metadata.yaml, waits until it is active, and prints how to reach the UI and how to integrate a
media manager. Run it as a user with sudo rights (or as root).

Installed snaps are moved to what the charm needs when they track something else: Juju to the
track of JUJU_CHANNEL, charmcraft to the track of CHARMCRAFT_CHANNEL, MicroK8s to
MICROK8S_CHANNEL when its strict track is older (never downgraded; a classic MicroK8s stops the
script). An existing controller must answer and run Juju >= $MIN_JUJU_VERSION. This MicroK8s'
kubeconfig is written to $KUBECONFIG_FILE (export KUBECONFIG=<that file>);
~/.kube/config is not touched.

Options:
  --model NAME         Juju model to deploy into (default: $model)
  --controller NAME    Juju controller to use, bootstrapped on MicroK8s if this client does
                       not know it (default: $controller)
  --app NAME           application name (default: $app)
  --charm PATH         deploy this packed .charm instead of packing one
  --destructive-mode   pack on this host instead of in an LXD container; only on Ubuntu 24.04,
                       the charm's build base. Installs the build packages on the host, as
                       root: ${BUILD_PACKAGES[*]} and the ${BUILD_SNAPS[*]} snap.
                       With --setup-only: prepares 'tox -e integration -- --destructive-mode'.
  --with-tester        also pack and deploy the media-indexer tester charm of the integration
                       tests (a Radarr stand-in) as "$tester_app" and integrate it
  --setup-only         install and bootstrap only, deploy nothing: what 'tox -e integration'
                       needs (it creates its own model)
  --metallb-range R    addresses MetalLB may hand to LoadBalancer Services, FIRST-LAST (e.g.
                       192.168.1.240-192.168.1.249): free addresses of this host's network.
                       traefik-k8s serves on its own LoadBalancer Service and stays Waiting
                       without one. Default: the last ten of this host's /24, if it is on one.
  -h, --help           show this help

Environment: JUJU_CHANNEL ($JUJU_CHANNEL), MICROK8S_CHANNEL ($MICROK8S_CHANNEL),
CHARMCRAFT_CHANNEL ($CHARMCRAFT_CHANNEL), METALLB_RANGE (as --metallb-range).

It changes this machine: it installs snaps (and apt packages with --destructive-mode), adds
you to the snap_microk8s and lxd groups, and enables the MicroK8s add-ons dns,
hostpath-storage and metallb.

Packing uses LXD by default: clean, and works on any Ubuntu release. If Docker is installed, its
firewall rules can cut LXD containers off the network; see the charmcraft docs, or use
--destructive-mode on Ubuntu 24.04.
EOF
}

log() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

in_group() { id -nG | tr ' ' '\n' | grep -qx "$1"; }

# Run a command as you, with a group this login does not have yet (just added by this script).
with_group() {
  local group="$1"
  shift
  if [ "$(id -u)" -eq 0 ] || in_group "$group"; then "$@"; else sudo -g "$group" -E "$@"; fi
}

add_to_group() {
  local group="$1" user
  user="$(id -un)"
  [ "$user" = root ] && return 0
  if ! id -nG "$user" | tr ' ' '\n' | grep -qx "$group"; then
    as_root usermod -a -G "$group" "$user"
    echo "Added $user to group $group (effective at your next login; this run uses sudo)."
  fi
}

# The track of a channel given as track/risk; a bare risk ("stable") is on track "latest".
track_of() {
  case "$1" in
    */*) echo "${1%%/*}" ;;
    *) echo latest ;;
  esac
}

# Whether version $1 is older than version $2 (dotted numbers: 1.31 < 1.32, 3.5.7 < 3.6).
version_lt() {
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}

# The channel snap $1 tracks: "" when it is not installed, "-" when installed from a file.
snap_tracking() {
  { snap list "$1" 2>/dev/null || true; } | awk 'NR == 2 { print $4 }'
}

# Install snap $1 from channel $2 if it is missing; an installed one is left as it is (LXD may
# serve other projects). Further arguments go to snap install.
install_snap() {
  local name="$1" channel="$2" tracking
  shift 2
  tracking="$(snap_tracking "$name")"
  if [ -n "$tracking" ]; then
    echo "$name: $tracking (left as it is)"
  else
    as_root snap install "$name" --channel="$channel" "$@"
  fi
}

# Install snap $1 from channel $2, or refresh an installed one that is on another track.
# Further arguments (--classic) go to snap install and snap refresh.
ensure_snap() {
  local name="$1" channel="$2" tracking
  shift 2
  tracking="$(snap_tracking "$name")"
  if [ -z "$tracking" ]; then
    as_root snap install "$name" --channel="$channel" "$@"
  elif [ "$tracking" = "-" ]; then
    echo "$name: installed from a file, left as it is (this script would use $channel)"
  elif [ "$(track_of "$tracking")" = "$(track_of "$channel")" ]; then
    echo "$name: $tracking"
  else
    echo "$name: tracks $tracking; refreshing to $channel"
    as_root snap refresh "$name" --channel="$channel" "$@"
  fi
}

# MicroK8s: strictly confined, on MICROK8S_CHANNEL's track or a newer one.
ensure_microk8s() {
  local tracking track wanted
  tracking="$(snap_tracking microk8s)"
  if [ -z "$tracking" ]; then
    as_root snap install microk8s --channel="$MICROK8S_CHANNEL"
    return 0
  fi
  if snap list microk8s | awk 'NR == 2 && $NF ~ /classic/ { c = 1 } END { exit !c }'; then
    die "MicroK8s is installed with classic confinement; Juju 3.x needs the strict snap.
Remove it (sudo snap remove microk8s) and run this script again."
  fi
  track="$(track_of "$tracking")"
  wanted="$(track_of "$MICROK8S_CHANNEL")"
  case "$track" in
    [0-9]*.[0-9]*-strict) ;;
    *)
      echo "microk8s: tracks $tracking, not a <version>-strict track; left as it is"
      return 0
      ;;
  esac
  if version_lt "${track%-strict}" "${wanted%-strict}"; then
    echo "microk8s: tracks $tracking, older than $MICROK8S_CHANNEL; refreshing"
    as_root snap refresh microk8s --channel="$MICROK8S_CHANNEL"
  else
    echo "microk8s: $tracking"
  fi
}

# Write this MicroK8s' kubeconfig to KUBECONFIG_FILE, on every run: a refresh of MicroK8s can
# change its certificates.
write_kubeconfig() {
  local tmp
  mkdir -p "$(dirname "$KUBECONFIG_FILE")"
  tmp="$(mktemp "$KUBECONFIG_FILE.XXXXXX")" # created with mode 600
  as_root microk8s config >"$tmp"
  mv "$tmp" "$KUBECONFIG_FILE"
  echo "Wrote $KUBECONFIG_FILE, the kubeconfig of this MicroK8s."
}

# As root, what a --destructive-mode pack needs on this host.
install_build_packages() {
  local name
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${BUILD_PACKAGES[@]}"
  for name in "${BUILD_SNAPS[@]}"; do
    install_snap "$name" latest/stable --classic
  done
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --model) model="${2:?--model needs a name}"; shift 2 ;;
      --controller) controller="${2:?--controller needs a name}"; shift 2 ;;
      --app) app="${2:?--app needs a name}"; shift 2 ;;
      --charm) charm="${2:?--charm needs a path}"; shift 2 ;;
      --destructive-mode) destructive=true; shift ;;
      --with-tester) with_tester=true; shift ;;
      --setup-only) setup_only=true; shift ;;
      --metallb-range) metallb_range="${2:?--metallb-range needs FIRST-LAST}"; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown option: $1" ;;
    esac
  done
  if [ -n "$charm" ]; then
    [ -f "$charm" ] || die "no such charm file: $charm"
    charm="$(cd "$(dirname "$charm")" && pwd)/$(basename "$charm")"
  fi
}

# The last ten addresses of this host's /24 network (by the default route), or nothing.
guess_metallb_range() {
  local ip prefix
  ip="$(ip -o -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
  [ -n "$ip" ] || return 0
  prefix="$(ip -o -4 addr show | awk -v ip="$ip" '{ split($4, a, "/"); if (a[1] == ip) print a[2] }')"
  [ "$prefix" = "24" ] || return 0
  echo "${ip%.*}.240-${ip%.*}.249"
}

# traefik-k8s serves on its own LoadBalancer Service: MetalLB gives it an address.
enable_metallb() {
  local range
  if as_root microk8s status -a metallb 2>/dev/null | grep -q '^enabled'; then
    return 0
  fi
  range="${metallb_range:-$(guess_metallb_range)}"
  [ -n "$range" ] ||
    die "cannot choose addresses for MetalLB from this host's network: pass --metallb-range FIRST-LAST (free addresses of your network)"
  log "Enabling MetalLB with $range (check that no other machine uses these addresses)"
  as_root microk8s enable "metallb:$range"
}

install_tools() {
  log "Installing what is missing"
  if ! command -v snap >/dev/null 2>&1; then
    as_root apt-get update
    as_root apt-get install -y snapd
  fi

  ensure_microk8s
  add_to_group snap_microk8s
  as_root microk8s status --wait-ready --timeout 600 >/dev/null
  as_root microk8s enable dns
  as_root microk8s enable hostpath-storage
  enable_metallb
  write_kubeconfig

  ensure_snap juju "$JUJU_CHANNEL"
  mkdir -p "$HOME/.local/share" # the strictly confined juju snap does not create it

  ensure_snap charmcraft "$CHARMCRAFT_CHANNEL" --classic
  if [ "$destructive" = true ]; then
    # shellcheck source=/dev/null
    [ "$(. /etc/os-release && echo "${VERSION_ID:-}")" = "24.04" ] ||
      die "--destructive-mode packs on this host: it must be Ubuntu 24.04 like the charm's base"
    install_build_packages
  else
    install_snap lxd 5.21/stable
    as_root lxd waitready
    if [ -z "$(as_root lxc storage list --format csv)" ]; then
      as_root lxd init --auto
    fi
    add_to_group lxd
  fi
}

# The agent version of controller $1 as this client last saw it: "?" when the client does not
# say, "" when the client does not know the controller.
controller_version() {
  juju controllers --format=json 2>/dev/null | python3 -c '
import json, sys
try:
    known = json.load(sys.stdin).get("controllers") or {}
except ValueError:
    known = {}
if sys.argv[1] in known:
    print((known[sys.argv[1]] or {}).get("agent-version") or "?")
' "$1" 2>/dev/null || true
}

bootstrap() {
  local version
  log "Juju controller $controller and model $model"
  if [ -n "$(controller_version "$controller")" ]; then
    # Known to this client is not alive: ask the controller itself, within a time limit.
    if ! timeout 120 juju models --controller "$controller" >/dev/null 2>&1; then
      die "controller $controller is known to this Juju client but does not answer.
Is MicroK8s up?  sudo microk8s status --wait-ready
If that controller is gone (MicroK8s removed or reset, for example), make this client forget
it with 'juju unregister $controller', then run this script again to bootstrap a new one."
    fi
    echo "controller $controller: answering"
  else
    # Juju reads MicroK8s' credentials, which only the snap_microk8s group may read.
    with_group snap_microk8s juju bootstrap microk8s "$controller"
  fi
  version="$(controller_version "$controller")"
  if [ "$version" = "?" ]; then
    echo "controller $controller: version not reported (the charm needs Juju >= $MIN_JUJU_VERSION)"
  elif version_lt "$version" "$MIN_JUJU_VERSION"; then
    die "controller $controller runs Juju $version; the charm assumes juju >= $MIN_JUJU_VERSION.
Juju upgrades a controller in place only within its minor version: run this script again with
--controller NAME (a name this client does not know) to bootstrap a $MIN_JUJU_VERSION controller."
  fi
  if juju show-model "$controller:$model" >/dev/null 2>&1; then
    echo "model $model: already there"
  else
    juju add-model "$model" --controller "$controller"
  fi
  juju switch "$controller:$model" >/dev/null
}

# Pack the charm in $1 named $2 and print the path of the .charm built for this machine.
pack() {
  local dir="$1" name="$2" arch newest="" file
  arch="$(dpkg --print-architecture)"
  (
    cd "$dir"
    if [ "$destructive" = true ]; then
      charmcraft pack --destructive-mode
    else
      with_group lxd charmcraft pack
    fi
  ) >&2
  for file in "$dir/${name}_"*"$arch"*.charm; do
    [ -f "$file" ] || continue
    if [ -z "$newest" ] || [ "$file" -nt "$newest" ]; then newest="$file"; fi
  done
  [ -n "$newest" ] || die "charmcraft pack left no ${name}_*${arch}*.charm in $dir"
  echo "$newest"
}

remove_library_copy() { rm -rf "${TESTER_DIR:?}/lib"; }

pack_tester() {
  mkdir -p "$(dirname "$TESTER_DIR/$LIBRARY")"
  cp "$ROOT/$LIBRARY" "$TESTER_DIR/$LIBRARY"
  trap remove_library_copy EXIT
  pack "$TESTER_DIR" "$TESTER_NAME"
  remove_library_copy
  trap - EXIT
}

# The pinned image of resource $1: resources.<name>.upstream-source in metadata.yaml.
pinned_image() {
  awk -v name="$1" '
    /^resources:/ { in_resources = 1; next }
    in_resources && /^[^ #]/ { in_resources = 0 }
    in_resources && $0 == "  " name ":" { in_image = 1; next }
    in_image && /^  [^ ]/ { in_image = 0 }
    in_image && $1 == "upstream-source:" { gsub(/["\047]/, "", $2); print $2; exit }
  ' "$ROOT/metadata.yaml"
}

# Deploy charm file $2 as application $1, or refresh $1 to it. Further arguments are resources
# (name=value). No --trust: the charm never calls the Kubernetes API.
deploy_or_refresh() {
  local name="$1" file="$2" resource options=()
  shift 2
  for resource in "$@"; do options+=(--resource "$resource"); done
  if juju show-application "$name" >/dev/null 2>&1; then
    log "Refreshing $name with $file"
    juju refresh "$name" --path "$file" "${options[@]}"
  else
    log "Deploying $file as $name"
    juju deploy "$file" "$name" "${options[@]}"
  fi
}

integrate_tester() {
  local output
  if ! output="$(juju integrate "$app:media-indexer" "$tester_app:media-indexer" 2>&1)"; then
    grep -q "already exists" <<<"$output" || die "juju integrate failed: $output"
  fi
}

print_next_steps() {
  local ip
  ip="$(as_root microk8s kubectl -n "$model" get pod "$app-0" -o jsonpath='{.status.podIP}' || true)"
  cat <<EOF

Prowlarr is active in model $controller:$model.

Reach the UI
  from this machine:        http://${ip:-<pod IP>}:9696
  through the Service:      sudo microk8s kubectl -n $model port-forward svc/$app 9696:9696
                            then http://localhost:9696
Prowlarr's API key (admins only; it lives in a Juju secret, nowhere else):
  juju secrets --owner application-$app
  juju show-secret <ID> --reveal
Integrate a media manager (Radarr, Sonarr, Lidarr, Readarr or Whisparr charm):
  juju integrate $app:media-indexer <media-manager>:media-indexer
  (or try it with the tests' Radarr stand-in: scripts/deploy-local.sh --with-tester)
Rotate the key (the action runs on the leader):
  juju run $app/leader rotate-api-key
Follow it:       juju status --watch 2s   |   juju debug-log --include $app
Kubernetes:      export KUBECONFIG=$KUBECONFIG_FILE   (this MicroK8s)
EOF
}

print_setup_done() {
  local pack_option=""
  [ "$destructive" = false ] || pack_option=" -- --destructive-mode"
  cat <<EOF

Ready: Juju controller $controller on MicroK8s ($(snap_tracking microk8s)).
Run the integration tests (their Kubernetes client reads KUBECONFIG):
  export KUBECONFIG=$KUBECONFIG_FILE
  tox -e integration$pack_option
EOF
}

main() {
  parse_args "$@"
  install_tools
  bootstrap
  if [ "$setup_only" = true ]; then
    print_setup_done
    return 0
  fi

  local image resource resources=()
  for resource in prowlarr-image exportarr-image; do
    image="$(pinned_image "$resource")"
    [ -n "$image" ] || die "no upstream-source for $resource in metadata.yaml"
    resources+=("$resource=$image")
  done
  if [ -z "$charm" ]; then
    log "Packing $CHARM_NAME"
    charm="$(pack "$ROOT" "$CHARM_NAME")"
  fi
  deploy_or_refresh "$app" "$charm" "${resources[@]}"

  if [ "$with_tester" = true ]; then
    log "Packing $TESTER_NAME"
    local tester_charm
    tester_charm="$(pack_tester)"
    deploy_or_refresh "$tester_app" "$tester_charm"
    integrate_tester
  fi

  log "Waiting for $app to be active"
  juju wait-for application "$app" --timeout 30m
  if [ "$with_tester" = true ]; then
    juju wait-for application "$tester_app" --timeout 15m
  fi
  print_next_steps
}

main "$@"
