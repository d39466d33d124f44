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

JUJU_CHANNEL="${JUJU_CHANNEL:-3.6/stable}"
# Juju 3.x reads MicroK8s' credentials only from the strictly confined snap (a "-strict" track).
MICROK8S_CHANNEL="${MICROK8S_CHANNEL:-1.31-strict/stable}"
CHARMCRAFT_CHANNEL="${CHARMCRAFT_CHANNEL:-latest/stable}"

controller="microk8s-localhost"
model="prowlarr"
app="prowlarr"
tester_app="$TESTER_NAME"
charm=""
destructive=false
with_tester=false
setup_only=false

usage() {
  cat <<EOF
Usage: scripts/deploy-local.sh [options]

Installs what is missing (snapd, MicroK8s, Juju, charmcraft, LXD), bootstraps a Juju controller
on MicroK8s, adds a model, packs the charm, deploys it with the pinned Prowlarr image from
metadata.yaml and --trust, waits until it is active, and prints how to reach the UI and how to
integrate a media manager. Run it as a user with sudo rights (or as root).

Options:
  --model NAME         Juju model to deploy into (default: $model)
  --controller NAME    Juju controller to use, bootstrapped on MicroK8s if this client does
                       not know it (default: $controller)
  --app NAME           application name (default: $app)
  --charm PATH         deploy this packed .charm instead of packing one
  --destructive-mode   pack on this host instead of in an LXD container; only on Ubuntu 24.04,
                       the charm's build base (it installs build packages on the host)
  --with-tester        also pack and deploy the media-indexer tester charm of the integration
                       tests (a Radarr stand-in) as "$tester_app" and integrate it
  --setup-only         install and bootstrap only, deploy nothing: what 'tox -e integration'
                       needs (it creates its own model)
  -h, --help           show this help

Environment: JUJU_CHANNEL ($JUJU_CHANNEL), MICROK8S_CHANNEL ($MICROK8S_CHANNEL),
CHARMCRAFT_CHANNEL ($CHARMCRAFT_CHANNEL).

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

ensure_snap() {
  local name="$1" channel="$2"
  shift 2
  if snap list "$name" >/dev/null 2>&1; then
    echo "$name: already installed"
  else
    as_root snap install "$name" --channel="$channel" "$@"
  fi
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
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown option: $1" ;;
    esac
  done
  if [ -n "$charm" ]; then
    [ -f "$charm" ] || die "no such charm file: $charm"
    charm="$(cd "$(dirname "$charm")" && pwd)/$(basename "$charm")"
  fi
}

install_tools() {
  log "Installing what is missing"
  if ! command -v snap >/dev/null 2>&1; then
    as_root apt-get update
    as_root apt-get install -y snapd
  fi

  ensure_snap microk8s "$MICROK8S_CHANNEL"
  if snap list microk8s | awk 'NR == 2 && $NF ~ /classic/ { c = 1 } END { exit !c }'; then
    die "MicroK8s is installed with classic confinement; Juju 3.x needs the strict snap.
Remove it (sudo snap remove microk8s) and run this script again."
  fi
  add_to_group snap_microk8s
  as_root microk8s status --wait-ready --timeout 600 >/dev/null
  as_root microk8s enable dns
  as_root microk8s enable hostpath-storage

  if [ ! -e "$HOME/.kube/config" ]; then
    # The integration tests (lightkube) and kubectl read it.
    mkdir -p "$HOME/.kube"
    as_root microk8s config >"$HOME/.kube/config"
    chmod 600 "$HOME/.kube/config"
    echo "Wrote $HOME/.kube/config for MicroK8s."
  fi

  ensure_snap juju "$JUJU_CHANNEL"
  mkdir -p "$HOME/.local/share" # the strictly confined juju snap does not create it

  ensure_snap charmcraft "$CHARMCRAFT_CHANNEL" --classic
  if [ "$destructive" = true ]; then
    # shellcheck source=/dev/null
    [ "$(. /etc/os-release && echo "${VERSION_ID:-}")" = "24.04" ] ||
      die "--destructive-mode packs on this host: it must be Ubuntu 24.04 like the charm's base"
  else
    ensure_snap lxd 5.21/stable
    as_root lxd waitready
    if [ -z "$(as_root lxc storage list --format csv)" ]; then
      as_root lxd init --auto
    fi
    add_to_group lxd
  fi
}

bootstrap() {
  log "Juju controller $controller and model $model"
  if juju switch "$controller" >/dev/null 2>&1; then
    echo "controller $controller: already bootstrapped"
  else
    # Juju reads MicroK8s' credentials, which only the snap_microk8s group may read.
    with_group snap_microk8s juju bootstrap microk8s "$controller"
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

# The pinned image: resources.prowlarr-image.upstream-source in metadata.yaml.
pinned_image() {
  awk '
    /^resources:/ { in_resources = 1; next }
    in_resources && /^[^ #]/ { in_resources = 0 }
    in_resources && /^  prowlarr-image:/ { in_image = 1; next }
    in_image && /^  [^ ]/ { in_image = 0 }
    in_image && $1 == "upstream-source:" { gsub(/["\047]/, "", $2); print $2; exit }
  ' "$ROOT/metadata.yaml"
}

# Deploy charm file $2 as application $1, or refresh $1 to it. Further arguments are resources
# (name=value); an application deployed with resources (Prowlarr) is also deployed with --trust.
deploy_or_refresh() {
  local name="$1" file="$2" resource options=()
  shift 2
  for resource in "$@"; do options+=(--resource "$resource"); done
  if juju show-application "$name" >/dev/null 2>&1; then
    log "Refreshing $name with $file"
    juju refresh "$name" --path "$file" "${options[@]}"
  else
    [ $# -gt 0 ] && options+=(--trust)
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
Rotate the key:  juju run $app/0 rotate-api-key
Follow it:       juju status --watch 2s   |   juju debug-log --include $app
EOF
}

main() {
  parse_args "$@"
  install_tools
  bootstrap
  if [ "$setup_only" = true ]; then
    log "Ready: Juju controller $controller on MicroK8s"
    echo "Run the integration tests with: tox -e integration"
    return 0
  fi

  local image
  image="$(pinned_image)"
  [ -n "$image" ] || die "no upstream-source for prowlarr-image in metadata.yaml"
  if [ -z "$charm" ]; then
    log "Packing $CHARM_NAME"
    charm="$(pack "$ROOT" "$CHARM_NAME")"
  fi
  deploy_or_refresh "$app" "$charm" "prowlarr-image=$image"

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
