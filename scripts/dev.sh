#!/usr/bin/env bash
# `make dev`: PostgreSQL (ensured by make), then the full demo: pbxsim, the service,
# a predictive campaign and simulated agents, with a live status line.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/dev_demo.py
