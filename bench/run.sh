#!/usr/bin/env bash
# make bench: every benchmark, against release binaries ($LONGTASK_BIN), each starting its
# own private stack. Results land in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 bench/llm_concurrency.py
/usr/bin/python3 bench/batch_enqueue.py
