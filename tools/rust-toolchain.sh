#!/usr/bin/env bash
# Prints the rustup toolchain to use for the release rust-toolchain.toml
# pins, when that release is installed under another name (a machine whose
# `stable` is that release): the Makefile exports it as RUSTUP_TOOLCHAIN so
# that rustup does not download the same compiler again. Prints nothing
# when the pinned name is installed, when rustup is absent (cargo is then
# whatever is on PATH), or when no installed toolchain is that release
# (rustup then installs it, as the toolchain file asks).
set -euo pipefail
cd "$(dirname "$0")/.."
pinned=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
command -v rustup >/dev/null 2>&1 || exit 0
installed=$(rustup toolchain list 2>/dev/null | awk '{print $1}')
if grep -q "^${pinned}-" <<<"$installed"; then
  exit 0
fi
for name in $installed; do
  if rustc "+${name}" --version 2>/dev/null | grep -q "^rustc ${pinned} "; then
    echo "$name"
    exit 0
  fi
done
