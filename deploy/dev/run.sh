#!/bin/sh
# `make run`: the whole longtask service in the foreground (see deploy/dev/stack.py).
# Environment: LONGTASK_VAR (default ./var), LONGTASK_PORT (default 8080),
# LONGTASK_DATABASE_URL (use that database instead of a private cluster),
# LONGTASK_LLM_BASE_URL and LONGTASK_LLM_API_KEY (a real OpenAI-compatible provider
# instead of the built-in fake one), LONGTASK_BIN (where the binaries are; the Makefile
# sets it).
exec /usr/bin/python3 "$(dirname "$0")/stack.py" run
