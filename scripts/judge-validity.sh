#!/usr/bin/env bash
# Judge validity: grades every labelled set in rubrics/tests/ and reports how
# far the grader agrees with the human labels, development and held-out sets
# apart (BENCHMARKS.md, "Judge validity"). Typed text always; with --audio each
# pitch is also spoken by espeak-ng (voice, speed and channel picked from its
# name, so every run renders the same audio), decoded, transcribed by the
# configured backend (default local Whisper) and judged: the whole pipeline.
#
#   scripts/judge-validity.sh                 # typed transcripts, every set
#   scripts/judge-validity.sh --audio         # and from audio
#   scripts/judge-validity.sh --audio --sample 8   # from audio, 8 pitches a set
#                                             # (picked by a hash of the name)
#   scripts/judge-validity.sh --sets a,b      # only these sets
#   scripts/judge-validity.sh --calibrated    # and each rubric's bars fitted to its
#                                             # own labels (`rubric calibrate`),
#                                             # reported cross-validated only
#   scripts/judge-validity.sh --robustness    # the same speech in six containers,
#                                             # with 4 s pauses and at 230 wpm
#   JUDGE_FLAGS="--judge-engine f32" scripts/judge-validity.sh
#
# Transcripts of the rendered audio are kept in $PITCHGRADE_VALIDITY_DIR
# (default ~/.cache/pitchgrade-validity) and reused, so re-running after a
# judge change costs no transcription. Results: $OUT (default target/validity).
set -euo pipefail
cd "$(dirname "$0")/.."
audio=0
robust=0
calibrated=0
sample=0
sets=""
while [ $# -gt 0 ]; do
  case "$1" in
    --audio) audio=1 ;;
    --robustness) robust=1 ;;
    --calibrated) calibrated=1 ;;
    --sets) sets="$2"; shift ;;
    --sample) sample="$2"; shift ;;
    *) echo "usage: $0 [--audio] [--calibrated] [--robustness] [--sample N] [--sets a,b]" >&2; exit 2 ;;
  esac
  shift
done
scripts/setup.sh >&2
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pitchgrade-target}
# The binary of the test build: a plain `cargo build` resolves dependency
# features without the dev-dependencies and would compile a second set of them.
if [ -n "${PITCHGRADE_BIN:-}" ]; then
  bin=$PITCHGRADE_BIN   # another build, e.g. to measure the judge before a change
else
  cargo test --locked --quiet --no-run --test cli_rubric >&2
  bin="$CARGO_TARGET_DIR/debug/pitchgrade"
fi
cache=${PITCHGRADE_VALIDITY_DIR:-$HOME/.cache/pitchgrade-validity}
out=${OUT:-target/validity}
mkdir -p "$out"
rm -rf "$out"/*.json "$out/robustness"

for dir in rubrics/tests/*/; do
  set_name=$(basename "$dir")
  ls "$dir"/*.expect.toml >/dev/null 2>&1 || continue
  if [ -n "$sets" ] && [[ ",$sets," != *",$set_name,"* ]]; then continue; fi
  rubric="$dir/rubric.toml"
  [ -f "$rubric" ] || rubric="rubrics/$set_name.toml"
  echo "judge-validity: $set_name (typed)" >&2
  # Exit 1 only means mismatches; the figures are what this reports.
  "$bin" rubric test "$dir" --rubric "$rubric" --json ${JUDGE_FLAGS:-} > "$out/typed.$set_name.json" || [ $? -eq 1 ]
  if [ "$calibrated" = 1 ]; then
    echo "judge-validity: $set_name (typed, calibrated, cross-validated)" >&2
    "$bin" rubric calibrate "$dir" --rubric "$rubric" --json ${JUDGE_FLAGS:-} > "$out/calibrated.$set_name.json"
  fi
  if [ "$audio" = 1 ]; then
    audio_dir="$cache/$set_name"
    mkdir -p "$audio_dir"
    for txt in "$dir"/*.txt; do
      name=$(basename "$txt" .txt)
      wav="$audio_dir/$name.wav"
      # Re-render only when the pitch text changed.
      if [ ! -f "$wav" ] || [ "$txt" -nt "$wav" ]; then
        python3 scripts/judge_validity.py render "$txt" "$wav" >&2
      fi
    done
    cases="$dir"
    if [ "$sample" -gt 0 ]; then
      cases="$cache/sample-$sample/$set_name"
      python3 scripts/judge_validity.py sample "$dir" "$cases" "$sample" >&2
    fi
    echo "judge-validity: $set_name (audio)" >&2
    "$bin" rubric test "$cases" --rubric "$rubric" --audio-dir "$audio_dir" --json ${JUDGE_FLAGS:-} > "$out/audio.$set_name.json" || [ $? -eq 1 ]
    if [ "$calibrated" = 1 ]; then
      echo "judge-validity: $set_name (audio, calibrated, cross-validated)" >&2
      "$bin" rubric calibrate "$cases" --rubric "$rubric" --audio-dir "$audio_dir" --json ${JUDGE_FLAGS:-} > "$out/calibrated-audio.$set_name.json"
    fi
  fi
  if [ "$robust" = 1 ]; then
    var="$cache/variants/$set_name"
    python3 scripts/judge_validity.py variants "$dir" "$var" "${ROBUST_PITCHES:-2}" >&2
    for kind in wav mp3 m4a ogg flac webm pauses fast; do
      mkdir -p "$out/robustness/$kind"
      echo "judge-validity: $set_name ($kind)" >&2
      "$bin" rubric test "$var/$kind/cases" --rubric "$rubric" --audio-dir "$var/$kind/audio" --json ${JUDGE_FLAGS:-} \
        > "$out/robustness/$kind/$set_name.json" || [ $? -eq 1 ]
    done
  fi
done
python3 scripts/judge_validity.py report "$out" rubrics/tests/README.md
if [ "$robust" = 1 ]; then
  echo; echo "### The same speech, other containers and timing"; echo
  python3 scripts/judge_validity.py robustness "$out/robustness"
fi
