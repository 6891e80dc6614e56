#!/usr/bin/env bash
# Make sure a PostgreSQL server answers: ORCH_DATABASE_URL if set, else 127.0.0.1:5432.
# If none answers, install Debian's postgresql and start it (we run as root on dev/CI machines).
set -euo pipefail
if [ -n "${ORCH_DATABASE_URL:-}" ]; then
  exit 0
fi
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  exit 0
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "no PostgreSQL answers on 127.0.0.1:5432: installing Debian's postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q postgresql
fi
ver=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432
# Local trust auth for user postgres over TCP loopback, as on the dev machines.
if ! psql -w -h 127.0.0.1 -U postgres -c 'select 1' >/dev/null 2>&1; then
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
fi
