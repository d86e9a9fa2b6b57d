#!/usr/bin/env bash
# Install what the integration tests run for real: Docker Engine 20.10 (bookworm, system-wide),
# Docker Engine 26 (Debian trixie, unpacked under .cache/ without touching the system), the
# Distribution registry, openssl (test CA), htpasswd (bcrypt users for registry auth) and zstd
# (the zstd-compressed layer of tests/harness/native.py) and skopeo (the peer benchmarks/run.py
# measures beside airgap-tui) and openssh-client (ssh-keygen: signed bundles, issue 20).
# Idempotent, non-interactive, run as root on Debian bookworm.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO_ROOT/.cache"
APT_DIR="$CACHE/trixie-apt"
TRIXIE_ROOT="$CACHE/trixie-docker/root"
# What dockerd 26 needs at run time besides itself: its containerd and docker-init (tini-static).
# Not trixie's runc: it is linked against glibc 2.38 and cannot run on bookworm (glibc 2.36);
# bookworm's runc 1.1.5 (a dependency of the system docker.io) satisfies docker.io 26 instead.
TRIXIE_PACKAGES=(docker.io containerd tini)

log() { printf '[install-test-deps] %s\n' "$*"; }

# --- 1. system packages (bookworm) -------------------------------------------------------------
missing=()
for pkg in docker.io docker-registry openssl apache2-utils ca-certificates zstd skopeo openssh-client; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "system packages present"
fi

# --- 2. Docker Engine 26 from trixie, unpacked into .cache --------------------------------------
# The mirror is whatever this machine's apt already uses (deb822 URIs: or one-line deb entries).
debian_mirror() {
  local files=() f uri
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] && files+=("$f")
  done
  ((${#files[@]})) || return 1
  uri="$(
    {
      grep -hE '^[[:space:]]*URIs:' "${files[@]}" | sed -E 's/^[[:space:]]*URIs:[[:space:]]*//' | tr ' ' '\n'
      grep -hE '^[[:space:]]*deb[[:space:]]' "${files[@]}" | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    } 2>/dev/null | grep -E '^https?://[^ ]+/debian/?$' | head -n1
  )"
  [[ -n "$uri" ]] || return 1
  printf '%s\n' "${uri%/}"
}

if [[ -x "$TRIXIE_ROOT/usr/sbin/dockerd" ]]; then
  log "trixie engine already unpacked in $TRIXIE_ROOT"
else
  mirror="$(debian_mirror)" || { log "no Debian mirror found in /etc/apt/sources.list(.d)"; exit 1; }
  log "fetching ${TRIXIE_PACKAGES[*]} from trixie via $mirror"
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/sources.list.d" \
    "$APT_DIR/debs"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  printf 'deb [signed-by=%s] %s trixie main\n' "$keyring" "$mirror" >"$APT_DIR/sources.list"
  apt_opts=(
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::State::status=$APT_DIR/status"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
    -o "Dir::Etc::SourceParts=$APT_DIR/sources.list.d"
    -o "APT::Architecture=$(dpkg --print-architecture)"
    -o "Debug::NoLocking=1"
  )
  : >"$APT_DIR/status"
  apt-get "${apt_opts[@]}" update -qq
  # `download` writes into the current directory; the _apt sandbox user needs to write there.
  chmod 0777 "$APT_DIR/debs"
  (cd "$APT_DIR/debs" && rm -f ./*.deb && apt-get "${apt_opts[@]}" download "${TRIXIE_PACKAGES[@]}")
  staging="$CACHE/trixie-docker/root.partial"
  rm -rf "$staging"
  mkdir -p "$staging"
  for deb in "$APT_DIR"/debs/*.deb; do
    dpkg -x "$deb" "$staging"
  done
  [[ -x "$staging/usr/sbin/dockerd" ]] || { log "dockerd missing from the unpacked packages"; exit 1; }
  rm -rf "$TRIXIE_ROOT"
  mv "$staging" "$TRIXIE_ROOT"
fi

# --- 3. check both engines run ------------------------------------------------------------------
log "bookworm: $(/usr/sbin/dockerd --version)"
log "trixie:   $(PATH="$TRIXIE_ROOT/usr/bin:$TRIXIE_ROOT/usr/sbin:$PATH" "$TRIXIE_ROOT/usr/sbin/dockerd" --version)"
log "trixie containerd: $("$TRIXIE_ROOT/usr/bin/containerd" --version)"
log "registry: $(docker-registry --version)"
