"""Contact import benchmark: `make bench-import` (or python bench/import_bench.py --rows N).

Generates a realistic contacts CSV (US/CA/UK/AU numbers in mixed national and
international formats, 1-3 phones per row, descriptions, custom columns, a few bad
rows and duplicates), creates a fresh database, runs the real CLI command
(`orchestrator contacts import ... --timings`) in a subprocess, and reports rows/s with
the breakdown the importer measures (wall seconds per stage, and CPU seconds of the main
process, the worker processes and the PostgreSQL server processes). A single-thread
micro-benchmark on a sample splits the phone cost into parse, type match and zone
lookup, beside plain phonenumbers. The generated file is cached in /tmp by row count and
seed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestrator.ledger.migrate import migrate  # noqa: E402

ADMIN_URL = os.environ.get("ORCH_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# Real, valid geographic prefixes (area codes), so phonenumbers accepts nearly all.
US_AREAS = ["201", "202", "203", "205", "206", "207", "208", "210", "212", "213", "214", "215",
            "216", "217", "218", "219", "224", "225", "228", "229", "231", "234", "239", "240",
            "248", "251", "252", "253", "254", "256", "260", "262", "267", "269", "270", "276",
            "281", "301", "302", "303", "304", "305", "307", "308", "309", "310", "312", "313",
            "314", "315", "316", "317", "318", "319", "320", "321", "323", "330", "334", "336",
            "337", "339", "347", "351", "352", "360", "361", "386", "401", "402", "404", "405",
            "406", "407", "408", "409", "410", "412", "413", "414", "415", "417", "419", "423",
            "425", "430", "432", "434", "435", "440", "443", "469", "478", "479", "480", "484",
            "501", "502", "503", "504", "505", "507", "508", "509", "510", "512", "513", "515",
            "516", "517", "518", "520", "530", "540", "541", "551", "559", "561", "562", "563",
            "567", "570", "571", "573", "574", "580", "585", "586", "601", "602", "603", "605",
            "606", "607", "608", "609", "610", "612", "614", "615", "616", "617", "618", "619",
            "620", "623", "626", "630", "631", "636", "641", "646", "650", "651", "660", "661",
            "662", "678", "682", "701", "702", "703", "704", "706", "707", "708", "712", "713",
            "714", "715", "716", "717", "718", "719", "720", "724", "727", "731", "732", "734",
            "740", "754", "757", "760", "763", "765", "770", "772", "773", "774", "775", "781",
            "785", "786", "801", "802", "803", "804", "805", "806", "808", "810", "812", "813",
            "814", "815", "816", "817", "818", "828", "830", "831", "832", "843", "845", "847",
            "848", "850", "856", "857", "858", "859", "860", "862", "863", "864", "865", "870",
            "901", "903", "904", "906", "907", "908", "909", "910", "912", "913", "914", "915",
            "916", "917", "918", "919", "920", "925", "928", "931", "936", "937", "940", "941",
            "947", "949", "951", "952", "954", "956", "970", "971", "972", "973", "978", "979",
            "980", "985", "989"]
CA_AREAS = ["204", "226", "236", "249", "250", "289", "306", "343", "365", "403", "416", "418",
            "431", "437", "438", "450", "506", "514", "519", "548", "579", "581", "587", "604",
            "613", "639", "647", "705", "709", "778", "780", "782", "807", "819", "825", "867",
            "873", "902", "905"]
FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
         "Elizabeth", "Zoë", "José", "Aoife", "Chloé", "Liam", "Olivia", "Noah", "Emma", "Wei",
         "Priya"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "O'Brien",
        "Nguyen", "Müller", "Wilson", "Taylor", "Anderson", "Thomas", "Martin", "Lee", "Walker"]
TIERS = ["gold", "silver", "bronze", "trial"]
DESCS = ["Mobile", "Home", "Work", "Other"]
ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
         "America/Toronto", "Europe/London", "Australia/Sydney"]


def _number(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:  # US, national formats mostly
        a, x, s = rng.choice(US_AREAS), rng.randint(200, 999), rng.randint(0, 9999)
        return rng.choice([f"({a}) {x}-{s:04d}", f"{a}-{x}-{s:04d}", f"+1 {a} {x} {s:04d}",
                           f"{a}{x}{s:04d}", f"1-{a}-{x}-{s:04d}"])
    if r < 0.70:  # Canada
        a, x, s = rng.choice(CA_AREAS), rng.randint(200, 999), rng.randint(0, 9999)
        return rng.choice([f"+1 {a} {x} {s:04d}", f"({a}) {x}-{s:04d}"])
    if r < 0.85:  # UK: mobiles 07xxx and London/Manchester landlines
        if rng.random() < 0.6:
            return f"+44 7{rng.choice('789')}{rng.randint(12, 99)} {rng.randint(100000, 999999)}"
        return f"+44 20 {rng.choice('378')}{rng.randint(0, 999):03d} {rng.randint(0, 9999):04d}"
    if rng.random() < 0.6:  # Australia: mobiles 040x-043x, landlines (02|03|07|08) 9xxx xxxx
        return f"+61 4{rng.randint(0, 3)}{rng.randint(0, 9)} {rng.randint(100, 999)} {rng.randint(100, 999)}"
    return f"+61 {rng.choice('2378')} 9{rng.randint(0, 999):03d} {rng.randint(0, 9999):04d}"


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    header = ("external_id,first_name,last_name,postal_code,timezone,phone1,phone1_description,"
              "phone2,phone2_description,phone3,phone3_description,customer_tier,signup_date,notes\n")
    recent: list[str] = []
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(header)
        for i in range(rows):
            n = rng.choices((1, 2, 3), weights=(50, 35, 15))[0]
            phones: list[str] = []
            for _ in range(n):
                if recent and rng.random() < 0.002:  # a number shared with another contact
                    phones.append(rng.choice(recent))
                else:
                    phones.append(_number(rng))
            if rng.random() < 0.004:  # a bad number (too short / premium-rate)
                phones[0] = rng.choice(["555-123", "+1 900 555 0199", "n/a"])
            if len(recent) < 1000:
                recent.append(phones[0])
            cells = []
            for k in range(3):
                cells += [phones[k], rng.choice(DESCS)] if k < n else ["", ""]
            tz = rng.choice(ZONES) if rng.random() < 0.1 else ""
            if rng.random() < 0.001:
                tz = "Mars/Olympus"
            ext = f"CRM-{i:08d}" if rng.random() > 0.0005 else f"CRM-{max(0, i - 1):08d}"
            note = rng.choice(["", "", "prefers evenings", 'said "call back", maybe', "VIP"])
            if '"' in note:
                note = '"' + note.replace('"', '""') + '"'
            f.write(",".join([
                ext, rng.choice(FIRST), rng.choice(LAST), f"{rng.randint(10000, 99999)}", tz,
                *[f'"{c}"' if "," in c else c for c in cells],
                rng.choice(TIERS), f"20{rng.randint(10, 24)}-{rng.randint(1, 12):02d}-01", note,
            ]) + "\n")


def _url(dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


def micro(path: Path, sample: int = 30000) -> dict[str, float]:
    """Single-thread CPU µs per number of each step of analyze_phone, on the file's numbers,
    and of the plain phonenumbers calls it replaces (parse, is_valid_number, number_type,
    format_number E164, time_zones_for_number)."""
    import csv

    import phonenumbers
    from phonenumbers import timezone as pn_timezone

    from orchestrator.core import phones as ph

    raws: list[str] = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            raws += [row[i] for i in (5, 7, 9) if row[i]]
            if len(raws) >= sample:
                break
    clock = time.process_time
    t0 = clock()
    library = []
    for raw in raws:
        try:
            num = phonenumbers.parse(raw, "US")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            library.append((num, phonenumbers.number_type(num)))
    t1 = clock()
    for num, _kind in library:
        phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        pn_timezone.time_zones_for_number(num)
    t2 = clock()
    parsed = []
    for raw in raws:
        try:
            parsed.append(ph._parse_simple(raw, "US") or (0, ""))
        except phonenumbers.NumberParseException:
            pass
    t3 = clock()
    typed = [(cc, nsn, ph._region_and_type(cc, nsn)[1]) for cc, nsn in parsed if cc]
    t4 = clock()
    for cc, nsn, ntype in typed:
        code = str(cc)
        if phonenumbers.phonenumberutil.is_number_type_geographical(ntype, cc):
            ph._zones_for_prefix(f"{cc}{nsn}"[:9], code)
        else:
            ph._zones_for_prefix(code, code)
    t5 = clock()
    for raw in raws:
        try:
            ph.analyze_phone(raw, "US")
        except ph.PhoneError:
            pass
    t6 = clock()
    k = 1e6 / len(raws)
    return {"phonenumbers parse+valid+type": (t1 - t0) * k, "phonenumbers format+zones": (t2 - t1) * k,
            "our parse": (t3 - t2) * k, "our type": (t4 - t3) * k, "our zones": (t5 - t4) * k,
            "analyze_phone": (t6 - t5) * k}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=None, help="passed to the import command")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()

    path = Path(f"/tmp/import_bench_{args.rows}_{args.seed}.csv")
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.rows, args.seed)
        print(f"generated {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")
    dbname = f"import_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = _url(dbname)
    try:
        migrate(url)
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO campaigns (name) VALUES ('bench')")
            # Some existing DNC entries, as a real list would have.
            conn.execute(
                "INSERT INTO dnc_entries (e164, source) SELECT '+1212555' || lpad(g::text, 4, '0'), "
                "'bench' FROM generate_series(0, 9999) g"
            )
        cmd = [sys.executable, "-m", "orchestrator.cli", "contacts", "import", str(path),
               "--campaign", "bench", "--default-region", "US", "--timings"]
        if args.jobs is not None:
            cmd += ["--jobs", str(args.jobs)]
        env = dict(os.environ, ORCH_DATABASE_URL=url)
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr[-3000:], sep="\n")
            return proc.returncode
        messages = proc.stderr.count("\n")
        print(proc.stdout)
        print(f"wall clock incl. process start: {wall:.2f} s = {args.rows / wall:,.0f} rows/s; "
              f"{messages:,} reject/note lines on stderr")
        cpu = {k: float(v) for k, v in re.findall(r"^\s+(\w+_cpu)\s+([\d.]+)$", proc.stdout, re.M)}
        if cpu:
            per_row = {k: v / args.rows * 1e6 for k, v in cpu.items()}
            print("CPU µs per row: " + ", ".join(f"{k} {v:.1f}" for k, v in per_row.items())
                  + f"; main+workers+server {sum(per_row[k] for k in ('main_cpu', 'workers_cpu', 'server_cpu') if k in per_row):.1f}")
            cores = 2 * wall  # CPU seconds the 2-core machine had during the import
            print(f"CPU used by the import: {sum(cpu[k] for k in ('main_cpu', 'workers_cpu', 'server_cpu') if k in cpu):.1f} s "
                  f"of {cores:.0f} s the machine had ({os.getloadavg()[0]:.1f} load average now)")
        with psycopg.connect(url) as conn:
            c, tg = conn.execute(
                "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM targets)"
            ).fetchone() or (0, 0)
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        print(f"in database: {c:,} contacts, {tg:,} targets, database size {size[0] if size else '?'}")
        m = re.search(r"rate\s+([\d,]+) rows/s", proc.stdout)
        if m:
            print(f"import rate (command's own clock): {m.group(1)} rows/s")
        print("phone cost per number, single thread (µs):",
              ", ".join(f"{k} {v:.1f}" for k, v in micro(path).items()))
    finally:
        if not args.keep_db:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
