"""`make dev`: the whole dialer on one machine in under a minute.

Starts pbxsim (random called-party profile, sped up), migrates a demo database,
imports a few thousand generated contacts into a predictive campaign, starts
`orchestrator run`, runs simulated agents through the HTTP API and prints a live
status line (agents by state, lines, dial level, abandon rate, occupancy) until
Ctrl-C. Everything listens on 127.0.0.1 only.

Options (environment): DEMO_AGENTS (20), DEMO_CONTACTS (3000), DEMO_SPEED (5),
DEMO_SECONDS (0 = until Ctrl-C), ORCH_HTTP_PORT (8080), ORCH_DATABASE_URL
(default: a `dialer_demo` database on 127.0.0.1 that is recreated each run).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import phonenumbers
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
WORK = ROOT / "var" / "dev"
AREA_CODES = ("212", "213", "312", "415", "617", "303", "404", "206", "512", "702", "305", "214")


def env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        sys.exit(f"dev: {name} must be a whole number, got {os.environ[name]!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_database() -> str:
    """The demo database URL; the default one is recreated so every demo starts clean."""
    url = os.environ.get("ORCH_DATABASE_URL")
    if url:
        return url
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS dialer_demo WITH (FORCE)")
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("dialer_demo")))
    return "postgresql://postgres@127.0.0.1:5432/dialer_demo"


def demo_contacts(path: Path, count: int, rng: random.Random) -> None:
    """`count` contacts with valid US numbers (1-2 each), as a CSV for the real importer."""
    seen: set[str] = set()

    def number() -> str:
        while True:
            raw = f"+1{rng.choice(AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
            if raw in seen:
                continue
            parsed = phonenumbers.parse(raw)
            if phonenumbers.number_type(parsed) in (
                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
                phonenumbers.PhoneNumberType.FIXED_LINE,
                phonenumbers.PhoneNumberType.MOBILE,
            ):
                seen.add(raw)
                return raw

    first = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Radia", "Ken", "Margaret")
    last = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Perlman", "Thompson")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "first_name", "last_name", "postal_code", "phone1",
                    "phone1_description", "phone2", "phone2_description", "plan"])
        for i in range(count):
            second = number() if rng.random() < 0.3 else ""
            w.writerow([f"D{i:06d}", rng.choice(first), rng.choice(last), f"{rng.randint(10000, 99999)}",
                        number(), "Mobile", second, "Home" if second else "",
                        rng.choice(("gold", "silver", "basic"))])


def run_cli(*args: str, env: dict[str, str]) -> str:
    proc = subprocess.run([str(BIN / "orchestrator"), *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"dev: orchestrator {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return proc.stdout


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    # Own process group: Ctrl-C reaches us first and we stop the children in order.
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=open(log, "w"),
                            text=True, start_new_session=True)


def wait_line(proc: subprocess.Popen[str], prefix: str, what: str, timeout: float = 30) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line.strip()
        if not line and proc.poll() is not None:
            break
    sys.exit(f"dev: {what} did not start (see {WORK})")


def status_line(stats: dict[str, Any], samples: list[float]) -> str:
    camps = stats.get("campaigns") or []
    c = camps[0] if camps else {}
    agents = c.get("agents") or {}
    order = ("available", "reserved", "ringing", "on_call", "hold", "wrap_up", "not_ready")
    states = " ".join(f"{k.replace('_', '-')}={agents[k]}" for k in order if agents.get(k))
    pacing = c.get("pacing") or {}
    ab = c.get("abandon_24h") or {}
    occ = sum(samples) / len(samples) if samples else 0.0
    return (f"agents[{states or 'none'}] lines={c.get('calls_in_progress', 0)} "
            f"dial-level={pacing.get('dial_level', 0.0):.2f} "
            f"answer={100 * (c.get('answer_rate') or 0):.0f}% "
            f"abandon24h={100 * (ab.get('rate') or 0):.2f}% ({ab.get('abandoned', 0)}/{ab.get('live_answers', 0)}) "
            f"occupancy={100 * occ:.0f}% attempts={c.get('attempts', 0)} "
            # 'left' counts every target not yet exhausted (one attempt hardly moves it);
            # 'dialable-now' drops as targets are tried and wait for their cadence
            f"dialable-now={(c.get('targets_by_reason') or {}).get('dialable', 0)} "
            f"left={c.get('targets_left', 0)}")


async def watch(api: str, token: str, seconds: int) -> None:
    """Poll live stats once a second and print the status line."""
    tty = sys.stdout.isatty()
    samples: list[float] = []
    started = time.monotonic()
    last_print = 0.0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        while not seconds or time.monotonic() - started < seconds:
            try:
                async with http.get(f"{api}/api/v1/stats") as r:
                    stats = await r.json()
            except aiohttp.ClientError as exc:
                print(f"\ndev: stats: {exc}", file=sys.stderr)
                await asyncio.sleep(1)
                continue
            camps = stats.get("campaigns") or []
            agents = (camps[0].get("agents") or {}) if camps else {}
            logged = sum(agents.values())
            if logged:
                busy = sum(agents.get(k, 0) for k in ("on_call", "hold", "wrap_up"))
                samples.append(busy / logged)
            line = status_line(stats, samples)
            now = time.monotonic()
            if tty:
                print("\r" + line[: shutil.get_terminal_size().columns - 1].ljust(20), end="", flush=True)
            elif now - last_print >= 5:
                print(line, flush=True)
                last_print = now
            await asyncio.sleep(1)
    print()


def main() -> int:
    agents = env_int("DEMO_AGENTS", 20)
    contacts = env_int("DEMO_CONTACTS", 3000)
    speed = env_int("DEMO_SPEED", 5)
    seconds = env_int("DEMO_SECONDS", 0)
    http_port = env_int("ORCH_HTTP_PORT", 8080)
    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    db = prepare_database()
    env = dict(os.environ, ORCH_DATABASE_URL=db)
    run_cli("migrate", env=env)

    password = secrets.token_urlsafe(16)  # per run; never printed
    pbx = start([str(BIN / "pbxsim"), "--ari-port", "0", "--ami-port", "0", "--control-port", "0",
                 "--user", "dialer", "--password", password, "--profile", "random",
                 "--answer-rate", "0.3", "--speed", str(speed), "--seed", "7",
                 "--call-log", str(WORK / "calls.jsonl")], env, WORK / "pbxsim.log")
    children = [pbx]
    try:
        ready = wait_line(pbx, "pbxsim ready", "pbxsim")
        ports = dict(part.split("=", 1) for part in ready.split()[2:])
        csv_path = WORK / "demo-contacts.csv"
        demo_contacts(csv_path, contacts, random.Random(42))
        name = "demo" if "ORCH_DATABASE_URL" not in os.environ else f"demo-{int(time.time())}"
        team = f"{name}-team"
        run_cli("team", "create", team, env=env)
        run_cli("campaign", "create", name, "--mode", "predictive", "--window", "00:00-23:59",
                "--abandon-cap", "3%", "--silent-call-message", "sound:dialer/silent-call",
                "--wrapup-seconds", "30", "--team", team, env=env)
        run_cli("contacts", "import", str(csv_path), "--campaign", name, "--default-region", "US", env=env)
        # pbxsim answers every phone of [dialer-agents] whose name starts with "agent": the
        # supervisor listens on one, and a person takes calls by hand on another.
        sup = run_cli("agent", "create", "demo-supervisor", "--name", "Demo Supervisor",
                      "--role", "supervisor", "--endpoint", "Local/agentboss@dialer-agents",
                      env=env)
        sup_token = next((w for w in sup.split() if len(w) >= 32), "")
        you = run_cli("agent", "create", "demo-you", "--name", "You (by hand)",
                      "--endpoint", "Local/agentyou@dialer-agents", "--team", team, env=env)
        you_token = next((w for w in you.split() if len(w) >= 32), "")

        ari_host, ari_port = ports["ari"].rsplit(":", 1)
        ami_host, ami_port = ports["ami"].rsplit(":", 1)
        svc_env = dict(env, ORCH_ARI_URL=f"http://{ari_host}:{ari_port}/ari", ORCH_ARI_USER="dialer",
                       ORCH_ARI_PASSWORD=password, ORCH_AMI_HOST=ami_host, ORCH_AMI_PORT=ami_port,
                       ORCH_AMI_USER="dialer", ORCH_AMI_SECRET=password, ORCH_HTTP_PORT=str(http_port),
                       ORCH_TIME_SCALE=str(speed), ORCH_INSTANCE_ID="demo-1",
                       # consult and transfer to numbers like 1001 (pbxsim: the last digit
                       # picks the outcome, 0-4 answer) and to the "survey" entry point
                       ORCH_TRANSFER_NUMBERS=os.environ.get("ORCH_TRANSFER_NUMBERS", "1???"),
                       ORCH_ENTRY_POINTS=os.environ.get("ORCH_ENTRY_POINTS", "survey"))
        svc = start([str(BIN / "orchestrator"), "run"], svc_env, WORK / "orchestrator.log")
        children.append(svc)
        wait_line(svc, "orchestrator listening", "orchestrator run")
        run_cli("campaign", "start", name, env=env)
        api = f"http://127.0.0.1:{http_port}"
        sim = start([str(BIN / "orchestrator"), "simulate-agents", str(agents), "--campaign", name,
                     "--api", api, "--talk", f"{60 / speed:.0f}-{300 / speed:.0f}",
                     "--wrap", f"{5 / speed:.1f}-{25 / speed:.1f}", "--seed", "1"],
                    svc_env, WORK / "agents.log")
        children.append(sim)
        print(f"dev: ready in {time.monotonic() - t0:.0f} s — pbxsim x{speed}, {contacts} contacts, "
              f"{agents} simulated agents, predictive campaign '{name}'")
        print(f"  API          {api}/api/v1   (OpenAPI: {api}/openapi.json)")
        print(f"  metrics      {api}/metrics")
        print(f"  agent page   {api}/agent      supervisor page {api}/supervisor")
        print(f"  supervisor token (this run only): {sup_token}")
        print(f"  take a call by hand: open {api}/agent, sign in with this token (this run only)")
        print(f"    {you_token}")
        print(f"    log in to campaign '{name}' and press Available: your phone")
        print("    (Local/agentyou@dialer-agents) answers in pbxsim; consult an agent by id, a")
        print("    number such as 1001, or the entry point 'survey'; Alt+H/C/T/X for hold,")
        print("    consult, transfer, hang up. The supervisor page can listen, whisper, barge.")
        print(f"  logs         {WORK}/  (orchestrator.log, pbxsim.log, agents.log, calls.jsonl)")
        print("  Ctrl-C stops everything.")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(watch(api, sup_token, seconds))
    finally:
        for proc in reversed(children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(children):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
