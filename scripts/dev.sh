#!/usr/bin/env bash
# `make dev`: migrate a local database and import the demo contact list.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export ORCH_DATABASE_URL="${ORCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/dialer_dev}"
$BIN/orchestrator migrate
