#!/usr/bin/env bash
# The demo: on a fresh Debian machine with Node, set kiln up and run a real build of
# examples/appliance.yaml — QEMU boots kiln's test appliance installer ISO, kiln types the boot
# command, serves the install config over HTTP, provisions the machine over SSH and saves its
# disk as examples/output-appliance/appliance.qcow2 (plus a manifest and a sha256 checksum).
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES="qemu-system-x86 qemu-utils xorriso" bash scripts/bootstrap.sh

echo "kiln: building the test appliance from Debian packages (cached after the first time)..."
KILN_APPLIANCE_DIR="$(bash testbed/appliance/build.sh | sed -n 's/^cache_dir=//p')"
export KILN_APPLIANCE_DIR

kiln() { node packages/cli/bin.js "$@"; }
echo
echo "\$ kiln validate examples/appliance.yaml"
kiln validate examples/appliance.yaml
echo
echo "\$ kiln build --force examples/appliance.yaml"
kiln build --force examples/appliance.yaml
echo
ls -l examples/output-appliance/
