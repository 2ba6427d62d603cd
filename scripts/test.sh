#!/usr/bin/env bash
# Runs kiln's whole test suite on a fresh Debian machine with Node: installs the Debian packages
# the tests need (OpenSSH server, QEMU, ISO and FAT tools, swtpm, mmdebstrap + e2fsprogs + fdisk for
# testbed/debian's image), the workspace, builds it,
# runs vitest. Debian's ansible is for the ansible provisioners' tests.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES="${APT_PACKAGES:-ansible openssh-server openssh-client procps xz-utils zstd xorriso genisoimage qemu-system-x86 qemu-utils dosfstools mtools swtpm swtpm-tools tcsh sudo mmdebstrap e2fsprogs fdisk}" bash scripts/bootstrap.sh
exec pnpm -s test
