#!/usr/bin/env bash
# Reviewer: work the queue of grades the machine was unsure of. The web page
# ($PITCHGRADE_SERVER/review) plays the audio with the transcript following
# it; this is the same work through the API.
set -euo pipefail
server=${PITCHGRADE_SERVER:-http://127.0.0.1:8080}
token=${REVIEWER_TOKEN:-$(cat reviewer.token)}
auth=(-sf -H "Authorization: Bearer $token")

# 0. On a fresh install the queue is empty: ben submits the bundled
#    borderline sample (it leaves out the customer story and the migration
#    objection, so it lands inside the review band).
PITCHGRADE_TOKEN=$(cat ben.token) pitchgrade submit fixtures/borderline-pitch.ogg \
  --rubric ledgerly-sales-pitch --wait-seconds 900

# 1. The queue, oldest first, each with why it needs a human.
curl "${auth[@]}" "$server/v1/reviews" | jq '.[] | {id, rep_id, machine_score, why: [.reasons[] | .message]}'

# 2. Claim the oldest (no other reviewer can decide it while you hold it),
#    then decide with a reason; criteria can be overridden one by one too.
review=$(curl "${auth[@]}" -X POST "$server/v1/reviews/claim")
id=$(jq -r .id <<<"$review")
curl "${auth[@]}" -H "Content-Type: application/json" -X POST "$server/v1/reviews/$id/decision" \
  -d '{"decision": "pass", "reason": "Strong discovery and a clear next step; the missing customer story is coached."}' |
  jq .
