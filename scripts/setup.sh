#!/usr/bin/env bash
# Installs everything pitchgrade needs on a fresh Debian machine, idempotently:
# system packages (whisper.cpp build, test audio tools) and the default models.
# Safe to run again: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for p in cmake clang libclang-dev pkg-config espeak-ng ffmpeg sox libsox-fmt-all curl jq openssl; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

scripts/fetch-models.sh
