#!/usr/bin/env bash
# Operator: run pitchgrade on one machine with the embedded defaults (SQLite
# and recordings under ./pitchgrade-data, local Whisper, offline judge, the
# sample program in config/program.toml), enrol a partner firm and two reps,
# and hand out tokens. Run it from the checkout.
set -euo pipefail
export PITCHGRADE_ADMIN_TOKEN=${PITCHGRADE_ADMIN_TOKEN:-$(openssl rand -hex 32)}
listen=${PITCHGRADE_LISTEN:-127.0.0.1:8080}
server=http://$listen

# 1. Start the server (web pages, API, two grading workers, the daily sweep).
pitchgrade serve --listen "$listen" >pitchgrade-serve.log 2>&1 &
echo $! >pitchgrade-serve.pid
until curl -sf "$server/readyz" >/dev/null; do sleep 1; done

# 2. Enrol a partner firm and its reps (the program's tracks decide what
#    each role may take).
admin=(-sf -H "Authorization: Bearer $PITCHGRADE_ADMIN_TOKEN" -H "Content-Type: application/json")
curl "${admin[@]}" -X PUT "$server/v1/firms/acme" -d '{"name": "Acme Partners"}'
for rep in alice ben; do
  curl "${admin[@]}" -X PUT "$server/v1/reps/$rep" -d '{"firm": "acme", "role": "sales"}'
done

# 3. Tokens, printed once (only their hashes are stored).
pitchgrade token create --role rep --rep alice >alice.token
pitchgrade token create --role rep --rep ben >ben.token
pitchgrade token create --role reviewer >reviewer.token
pitchgrade token create --role enablement >enablement.token
pitchgrade token create --role partner_admin --firm acme >acme-admin.token

# 4. Check on it.
curl -sf "$server/metrics" | grep '^pitchgrade_' | head -n 5
echo "pitchgrade is serving $server (stop it: kill \$(cat pitchgrade-serve.pid))"
