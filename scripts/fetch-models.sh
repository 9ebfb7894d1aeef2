#!/usr/bin/env bash
# Puts the default models in ./models and checks their sha256.
# Order: already there → copy from ../shared/models (CI and this workplace) →
# download once from Hugging Face (a user's machine).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p models/all-MiniLM-L6-v2
shared=../shared/models
HF=https://huggingface.co

fetch() { # fetch <relative path under models/> <url>
  local rel=$1 url=$2
  [ -s "models/$rel" ] && return 0
  if [ -s "$shared/$rel" ]; then
    cp "$shared/$rel" "models/$rel"
  else
    echo "setup: downloading $url" >&2
    curl -fL --retry 3 -o "models/$rel.part" "$url" && mv "models/$rel.part" "models/$rel"
  fi
}

fetch ggml-tiny.en.bin "$HF/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin"
for f in model.safetensors tokenizer.json config.json; do
  fetch "all-MiniLM-L6-v2/$f" "$HF/sentence-transformers/all-MiniLM-L6-v2/resolve/main/$f"
done
(cd models && sha256sum --quiet -c ../scripts/models.sha256)
