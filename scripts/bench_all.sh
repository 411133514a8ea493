#!/usr/bin/env bash
# Run every benchmark, one after the other (never two at once: they time and measure the machine),
# then print one table of every figure against its target. Exit 1 when any bench missed a target or failed.
#
# Usage: scripts/bench_all.sh [--quick] [LOG_DIR]   (bench_scale needs Ray: pip install 'dreamvid[cluster]')
#   --quick   small versions (minutes): fewer rounds, frames and seeds, no 8K memory runs
#   LOG_DIR   where each bench's full output goes (default: bench-logs/)
# Python: $PYTHON, else .venv/bin/python, else python3. Timing figures need a quiet machine.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
logs=${1:-bench-logs}
mkdir -p "$logs"
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "$quick" = 1 ]; then
  benches=(
    "bench_engine --size 640x360 --rounds 3 --iters 3 --warmup 1"
    "bench_video --frames 12 --width 160"
    "bench_zoom --frames 60 --size 192"
    "bench_noise --size 160 --only after"
    "bench_vr --seeds 8 --size 256x128 --peak-4k-runs 0"
    "bench_tiles --seeds 2"
    "chaos_resume --kills 2"
    "soak --frames 500 --width 512"
    "bench_scale --width 256"
  )
else
  benches=(
    "bench_engine --allocator-compare"
    "bench_video"
    "bench_zoom"
    "bench_noise --size 224"
    "bench_vr --peak-8k-runs 3"
    "bench_tiles"
    "chaos_resume"
    "soak"
    "bench_scale"
  )
fi

status=0
for bench in "${benches[@]}"; do
  name=${bench%% *}
  args=${bench#"$name"}
  echo "== $name$args" >&2
  started=$(date +%s)
  # shellcheck disable=SC2086
  "$python" "scripts/$name.py" $args >"$logs/$name.log" 2>&1
  code=$?
  echo "   exit $code after $(( $(date +%s) - started )) s; full output in $logs/$name.log" >&2
  [ "$code" = 0 ] || status=1
done

printf '\n%-14s %-28s %12s  %-14s %s\n' bench figure value target result
for bench in "${benches[@]}"; do
  name=${bench%% *}
  grep -E '^[a-z0-9_]+=[^ ]+ target (<=|>=) ' "$logs/$name.log" |
    awk -v bench="$name" '{split($1, kv, "="); printf "%-14s %-28s %12s  %-14s %s\n", bench, kv[1], kv[2], $3 " " $4, $5 ($6 ? " " $6 " " $7 : "")}'
  grep -q '^summary ' "$logs/$name.log" || printf '%-14s %-28s %12s  %-14s %s\n' "$name" "(no summary: it failed)" - - FAILED
done
echo
for bench in "${benches[@]}"; do
  grep -h '^summary ' "$logs/${bench%% *}.log" || echo "summary ${bench%% *}: FAILED (exit status, see its log)"
done
exit $status
