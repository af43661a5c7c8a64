#!/usr/bin/env bash
# make bench: every benchmark, against release binaries ($LONGTASK_BIN), each starting its
# own private stack (fsync on, nginx in front). Results land in bench/results/:
#   latest.json, latest.md   the targets of issue #6 beside pgbench's ceilings (targets.py)
#   llm_concurrency.json     slow LLM calls carried by one worker child
#   batch_enqueue.json       batch vs single create (Python clients)
# Bounded to under 10 minutes on 2 cores: targets.py ~5 min at most (its drains are time-
# bounded), the other two ~2.5 min together.
#
# The HTTP load of targets.py comes from wrk (Debian package `wrk`). As root it is
# installed here when missing; otherwise install it first: sudo apt-get install wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "bench: installing wrk (the HTTP load generator)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
    else
        echo "bench: wrk is missing; install it: sudo apt-get install wrk" >&2
        exit 2
    fi
fi

rc=0
start=$(date +%s)
/usr/bin/python3 bench/targets.py --command "make bench (bench/run.sh)" || rc=$?
/usr/bin/python3 bench/llm_concurrency.py > /dev/null || rc=$?
/usr/bin/python3 bench/batch_enqueue.py > /dev/null || rc=$?
echo "bench: all benchmarks took $(( $(date +%s) - start )) s; see bench/results/latest.md" >&2
exit $rc
