#!/usr/bin/env bash
# `make run`: a county server and two stations of two villages on loopback,
# with demo records, synced. `make stop` (this script with "stop") ends them.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=run
BIN=dist
PORT=${PORT:-8870}
URL=http://127.0.0.1:$PORT

stop() {
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

if [ "${1:-}" = stop ]; then
  stop
  echo "stopped; data stays in $RUN/ (make clean removes it)"
  exit 0
fi

stop
rm -rf "$RUN"
mkdir -p "$RUN"
"$BIN/county-server" serve --data "$RUN/county" --listen "127.0.0.1:$PORT" --county 340123 >"$RUN/county.log" 2>&1 </dev/null &
echo $! >"$RUN/county.pid"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

i=0
for village in 340123101201 340123102203; do
  i=$((i + 1))
  data="$RUN/station$i"
  # Records first, with the network "down": the station works before it
  # ever reaches the county.
  "$BIN/station-agent" demo --data "$data" --persons 4 --seed "$i" --by "村干部$i" >/dev/null
  code=$("$BIN/county-server" station add --data "$RUN/county" --county 340123 --village "$village")
  "$BIN/station-agent" enroll --data "$data" --server "$URL" --code "$code"
  "$BIN/station-agent" sync --data "$data"
  "$BIN/station-agent" run --data "$data" --interval 5s --listen "127.0.0.1:$((8483 + i))" >"$RUN/station$i.log" 2>&1 </dev/null &
  echo $! >"$RUN/station$i.pid"
done

# A county administrator for the county's pages (loopback only, demo password).
printf 'demo-admin-2026\n' | "$BIN/county-server" user add --data "$RUN/county" --county 340123 \
  --username admin --name 演示管理员 --role admin >/dev/null 2>&1 || true

app=$("$BIN/station-agent" list --data "$RUN/station1" --kind application | sed -n 's/.*"ID": "\(.*\)".*/\1/p' | head -1)
"$BIN/station-agent" intent --data "$RUN/station1" --app "$app" --op submit --by 村干部1
"$BIN/station-agent" sync --data "$RUN/station1" >/dev/null 2>&1 || true

cat <<EOT

村站通 demo is running:
  county server  $URL   (log: $RUN/county.log, data: $RUN/county/county.db)
  station 1      village 340123101201   data: $RUN/station1   log: $RUN/station1.log
  station 2      village 340123102203   data: $RUN/station2   log: $RUN/station2.log
  station pages  http://127.0.0.1:8484/ (station 1), http://127.0.0.1:8485/ (station 2): first visit makes an account

  county pages   $URL/   (user admin, password demo-admin-2026; public portal: $URL/public/)

Look at it:
  $BIN/county-server station list --data $RUN/county
  $BIN/county-server records --data $RUN/county --kind person --village 340123101201
  $BIN/station-agent status --data $RUN/station1

Station 1 submitted application $app. Decide it at the county and watch it
reach the station within a few seconds:
  $BIN/county-server decide --data $RUN/county --app $app --op accept
  $BIN/county-server decide --data $RUN/county --app $app --op approve --amount 300 --from 2026-12
  $BIN/station-agent list --data $RUN/station1 --kind application

Stop everything with: make stop
EOT
