#!/usr/bin/env bash
# Runs kiln's whole test suite on a fresh Debian machine with Node: installs the Debian packages
# the tests need (OpenSSH server, QEMU, ISO and FAT tools, swtpm, mmdebstrap + e2fsprogs + fdisk for
# testbed/debian's image, openssl for the download proxy test's certificate, ansible for the
# ansible provisioners' tests, iproute2 for the API doubles' guest addresses on lo), the workspace, builds it, runs vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES="${APT_PACKAGES:-openssh-server openssh-client procps xz-utils zstd xorriso genisoimage qemu-system-x86 qemu-utils dosfstools mtools swtpm swtpm-tools tcsh sudo mmdebstrap e2fsprogs fdisk openssl ansible iproute2}" bash scripts/bootstrap.sh
exec pnpm -s test
