#!/usr/bin/env bash
# Installs what kiln's workspace needs on a fresh Debian machine with Node >= 20.19, then builds it.
# Idempotent and non-interactive. Used by scripts/demo.sh, scripts/test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.8
export DEBIAN_FRONTEND=noninteractive

# apt packages: APT_PACKAGES="a b" scripts/bootstrap.sh installs those that are missing (as root or with sudo).
apt_install() {
  local missing=() SUDO="" need_lists=""
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  # package lists are needed to install, and by testbed/appliance to download guest packages
  compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null || need_lists=1
  [ ${#missing[@]} -eq 0 ] && [ -z "$need_lists" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "kiln: run as root, or first: apt-get update && apt-get install ${missing[*]}" >&2; return 1
    fi
  fi
  $SUDO apt-get update -qq
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "kiln: installing Debian packages: ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
if [ -n "${APT_PACKAGES:-}" ]; then
  # shellcheck disable=SC2086
  apt_install $APT_PACKAGES
fi

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("kiln needs Node >= 20.19, this is "+process.versions.node); process.exit(1) }'

if ! command -v pnpm >/dev/null || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "kiln: installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || npm install -g "pnpm@$PNPM_VERSION"
fi

pnpm install --frozen-lockfile --reporter=append-only >/dev/null
pnpm run -s build
