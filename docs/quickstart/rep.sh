#!/usr/bin/env bash
# Rep: grade a recorded pitch, read why, and see what it unlocked. Any
# recording a phone or browser makes will do (M4A, MP3, WAV, OGG, WebM, FLAC).
set -euo pipefail
export PITCHGRADE_SERVER=${PITCHGRADE_SERVER:-http://127.0.0.1:8080}
export PITCHGRADE_TOKEN=${PITCHGRADE_TOKEN:-$(cat alice.token)}

# 1. Upload and wait for the grade: decision, score, each criterion with the
#    moment it was heard, coaching, and the certification and rights it gave.
pitchgrade submit fixtures/sample-pitch.ogg --rubric ledgerly-sales-pitch --wait-seconds 900

# 2. Later, from anywhere: the newest attempt's status and grade again.
id=$(curl -sf -H "Authorization: Bearer $PITCHGRADE_TOKEN" \
  "$PITCHGRADE_SERVER/v1/reps/alice/submissions?limit=1" | jq -r '.submissions[0].id')
pitchgrade result "$id" | head -n 4

# 3. What I may sell now, and when I may try the sales track again.
curl -sf -H "Authorization: Bearer $PITCHGRADE_TOKEN" "$PITCHGRADE_SERVER/v1/reps/alice/rights" | jq .
curl -sf -H "Authorization: Bearer $PITCHGRADE_TOKEN" \
  "$PITCHGRADE_SERVER/v1/reps/alice/retake?track=sales" | jq .
# In a browser: open $PITCHGRADE_SERVER, sign in with the token, and record
# on "New pitch" or read "My pitches".
