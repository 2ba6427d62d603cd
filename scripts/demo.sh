#!/usr/bin/env bash
# The demo: sets kiln up on a fresh Debian machine with Node and runs it on examples/appliance.yaml.
# Until the QEMU builder runs builds, the demo validates the example and shows what it would build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
kiln() { node packages/cli/bin.js "$@"; }
echo
echo "\$ kiln validate examples/appliance.yaml"
kiln validate examples/appliance.yaml
echo
echo "\$ kiln inspect examples/appliance.yaml"
kiln inspect examples/appliance.yaml
