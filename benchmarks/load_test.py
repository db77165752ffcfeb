"""Load test of the clinic web app on loopback: concurrent clinicians for a bounded time.

The real server (``ketamine-ptsd serve``: uvicorn, one process) runs on 127.0.0.1 with a
fresh SQLite file seeded with clinician accounts and patients (each with a dosing session,
a screening and PCL-5/MADRS scores). Then ``--clinicians`` virtual clinicians (default
100), each signed in with their own account and session cookie, work at once for
``--seconds`` (default 60), by default with no pause between requests (so the run finds the
server's capacity; ``--think-s`` adds a random pause of that mean): page views (the patient list,
a search, a patient page with its chart, a session page) and score entries (a PCL-5 posted
to the JSON API), in the ratio ``--write-share``. The client runs one thread per clinician,
each on its own keep-alive connection (the standard library's ``http.client``), on the same
machine as the server, so both share its cores. (An asyncio httpx client was tried first:
here it could not send more than about 130 requests per second for a static file while the
server sat at a fifth of a core, so it measured itself, not the app.)

Reported: requests per second, p50 and p99 latency (all requests, page views, score
entries), the error count (any answer other than the expected 200/201, or no answer), and
the check that every acknowledged score entry (a 201 with its id) is in the database
afterwards with the patient, time and items it was sent with. Sign-in and three warm-up
page views per clinician happen before the timed window and are not measured; the seeded
accounts use a low-cost argon2 hash so that 100 sign-ins do not take a minute (the
production cost is 0.7 s per sign-in here).

Usage::

    python benchmarks/load_test.py [--clinicians 100] [--seconds 60] [--patients 200]
                                   [--write-share 0.3] [--think-s 0] [--seed 0]

Results are printed and written to ``benchmarks/results/load_test.json`` (with a pause:
``load_test_think_<s>s.json``). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from argon2 import PasswordHasher
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select

from ketamine_ptsd.store import Records
from ketamine_ptsd.store.models import Assessment, User, utcnow

HOST = "127.0.0.1"
RESULTS = Path(__file__).resolve().parent / "results"
SERVE = "import typer; from ketamine_ptsd.cli_web import serve; typer.run(serve)"
PASSWORD = "load-test-password"
REQUEST_TIMEOUT_S = 60.0
#: uvicorn closes a keep-alive connection idle for 5 s (its default); a clinician who paused
#: longer opens a new one, as a browser does, rather than sending into a closed socket.
IDLE_RECONNECT_S = 4.0
console = Console()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def seed(db: str, n_clinicians: int, n_patients: int, rng: random.Random) -> dict[int, int]:
    """Accounts clinician-0.., and patients with a session, a screening and two scores each.
    Returns patient id -> session id."""
    records = Records.open(db, actor="load-test-setup")
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    with records.transaction() as session:
        for i in range(n_clinicians):
            session.add(User(name=f"clinician-{i}", role="clinician", password_hash=cheap, created_at=utcnow()))
    now = dt.datetime.now(dt.UTC)
    sessions = {}
    for i in range(n_patients):
        patient = records.add_patient(name=f"Load Patient {i:04d}", mrn=f"LOAD-{i:04d}",
                                      sex=rng.choice(["female", "male"]), weight_kg=round(rng.uniform(50, 110), 1),
                                      birth_date=dt.date(1970 + i % 30, 1, 1))
        records.record_screening(patient.id, {"product": "racemic", "bp_readings": ["128/82"]})
        records.record_assessment(patient.id, "pcl5", [rng.randint(1, 4) for _ in range(20)],
                                  now - dt.timedelta(days=9))
        record = records.record_session(patient.id, started_at=now - dt.timedelta(days=8), dose="0.5mg/kg",
                                        readings=[{"time_min": -5, "label": "pre_dose", "sbp": 126, "dbp": 80,
                                                   "hr": 70, "spo2": 98},
                                                  {"time_min": 40, "sbp": 150, "dbp": 92, "hr": 84, "spo2": 97,
                                                   "cadss": 6, "moaas": 5}])
        records.record_assessment(patient.id, "madrs", [rng.randint(1, 4) for _ in range(10)],
                                  now - dt.timedelta(days=7))
        sessions[patient.id] = record.id
    records.close()
    return sessions


def start_server(db: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "KETAMINE_PTSD_SECRET_KEY": "load-test-secret-key-0123456789"}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-c", SERVE, "--host", HOST, "--port", str(port), "--db", db],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://{HOST}:{port}/login", timeout=2)
            return process
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"the server did not start:\n{log.read_text()}") from None
            time.sleep(0.3)


class Tally:
    """Every request's kind, latency (s) and outcome, and the acknowledged score entries
    (appends from many threads; list.append is atomic)."""

    def __init__(self):
        self.latency: dict[str, list[float]] = {"page": [], "score": []}
        self.errors: list[str] = []
        self.acknowledged: list[dict] = []


class Clinician(threading.Thread):
    """One signed-in clinician on one keep-alive connection, working until ``stop_at``."""

    def __init__(self, index: int, port: int, sessions: dict[int, int], stop_at: float, tally: Tally,
                 write_share: float, think_s: float, seed_value: int, progress):
        super().__init__(daemon=True)
        self.index, self.port, self.sessions, self.stop_at = index, port, sessions, stop_at
        self.tally, self.write_share, self.think_s, self.progress = tally, write_share, think_s, progress
        self.rng = random.Random(seed_value * 1000 + index)
        self.connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
        self.headers: dict[str, str] = {}
        self.last_answer = time.monotonic()

    def call(self, method: str, url: str, body: dict | None = None) -> tuple[int, bytes, str | None]:
        if time.monotonic() - self.last_answer > IDLE_RECONNECT_S:
            self.connection.close()  # http.client connects again on the next request
        headers = dict(self.headers)
        data = None
        if body is not None:
            data, headers["content-type"] = json.dumps(body), "application/json"
        self.connection.request(method, url, body=data, headers=headers)
        response = self.connection.getresponse()
        answer = response.read()
        self.last_answer = time.monotonic()
        return response.status, answer, response.getheader("set-cookie")

    def sign_in(self) -> None:
        status, body, cookie = self.call("POST", "/api/session",
                                         {"name": f"clinician-{self.index}", "password": PASSWORD})
        if status != 200:
            raise SystemExit(f"clinician-{self.index} could not sign in: HTTP {status}")
        self.headers = {"cookie": cookie.split(";", 1)[0], "x-csrf-token": json.loads(body)["csrf_token"]}
        # Unmeasured page views warm the server (templates, statement caches).
        patient = self.rng.choice(list(self.sessions))
        for url in (f"/patients/{patient}", f"/sessions/{self.sessions[patient]}", "/patients"):
            self.call("GET", url)

    def run(self) -> None:
        patients = list(self.sessions)
        k = 0
        while time.monotonic() < self.stop_at:
            if self.think_s:
                pause = self.rng.expovariate(1 / self.think_s)
                if time.monotonic() + pause >= self.stop_at:
                    break  # the window closes during the pause: no burst of requests at its end
                time.sleep(pause)
            patient = self.rng.choice(patients)
            k += 1
            if self.rng.random() < self.write_share:
                kind, expected, method = "score", 201, "POST"
                # A distinct time per entry: the records refuse two PCL-5s of a patient at one time.
                when = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1, microseconds=self.index * 1_000_000 + k)
                items = [self.rng.randint(0, 4) for _ in range(20)]
                url, body = f"/api/patients/{patient}/assessments", {
                    "instrument": "pcl5", "answers": items, "administered_at": when.isoformat()}
            else:
                kind, expected, method, body = "page", 200, "GET", None
                url = self.rng.choice([f"/patients/{patient}", f"/patients/{patient}",
                                       f"/sessions/{self.sessions[patient]}", "/patients",
                                       f"/patients?q=Patient%20{self.rng.randint(0, len(patients) - 1):04d}"])
            started = time.perf_counter()
            try:
                status, answer, _ = self.call(method, url, body)
            except (OSError, http.client.HTTPException) as exc:
                self.tally.errors.append(f"{kind}: {type(exc).__name__}")
                self.connection.close()
                continue
            self.tally.latency[kind].append(time.perf_counter() - started)
            if status != expected:
                self.tally.errors.append(f"{kind}: HTTP {status}")
            elif kind == "score":
                self.tally.acknowledged.append({"id": json.loads(answer)["id"], "patient_id": patient,
                                                "items": items, "administered_at": when})
            self.progress()


def verify(db: str, acknowledged: list[dict]) -> dict:
    """Every acknowledged entry is stored with the patient, time and items it was sent with."""
    with Records.open(db, actor="load-test-check") as records, records.transaction() as session:
        stored = {a.id: a for a in session.scalars(select(Assessment).where(Assessment.instrument == "pcl5"))}
    missing = [a["id"] for a in acknowledged if a["id"] not in stored]
    different = [a["id"] for a in acknowledged if a["id"] in stored and (
        stored[a["id"]].patient_id != a["patient_id"] or list(stored[a["id"]].items) != a["items"]
        or abs((stored[a["id"]].administered_at - a["administered_at"]).total_seconds()) > 1e-3)]
    return {"acknowledged": len(acknowledged), "missing": len(missing), "different": len(different)}


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, s) a process has used so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None}
    p50, p99 = np.percentile(values, [50, 99])
    return {"n": len(values), "p50_ms": round(1000 * p50, 1), "p99_ms": round(1000 * p99, 1)}


def run(args: argparse.Namespace, port: int, sessions: dict[int, int], tally: Tally) -> float:
    """Sign every clinician in, then let them all work for ``args.seconds``; returns the
    measured window (s)."""
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{args.clinicians} clinicians for {args.seconds:g} s", total=None)
        clinicians = [Clinician(i, port, sessions, math.inf, tally, args.write_share, args.think_s, args.seed,
                                lambda: bar.advance(task)) for i in range(args.clinicians)]
        for c in clinicians:
            c.sign_in()
        started = time.monotonic()
        for c in clinicians:
            c.stop_at = started + args.seconds
            c.start()
        for c in clinicians:
            c.join()
        return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clinicians", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--write-share", type=float, default=0.3)
    parser.add_argument("--think-s", type=float, default=0.0,
                        help="mean pause before each request (exponential; 0: none, the server's capacity)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (1 <= args.clinicians <= 1000 and 1 <= args.seconds <= 600 and 1 <= args.patients <= 10_000
            and 0 <= args.write_share <= 1 and 0 <= args.think_s <= 60):
        raise SystemExit("--clinicians 1-1000, --seconds 1-600, --patients 1-10000, --write-share 0-1, "
                         "--think-s 0-60")
    folder = Path(tempfile.mkdtemp(prefix="ketamine-ptsd-load-"))
    db = f"sqlite:///{folder / 'records.sqlite'}"
    console.print(f"seeding {args.patients} patients and {args.clinicians} accounts in {folder}")
    sessions = seed(db, args.clinicians, args.patients, random.Random(args.seed))
    port = free_port()
    server = start_server(db, port, folder / "server.log")
    tally = Tally()
    server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
    try:
        elapsed = run(args, port, sessions, tally)
        server_cpu = None if server_cpu is None else cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
    finally:
        server.terminate()
        server.wait(timeout=60)
    check = verify(db, tally.acknowledged)
    total = sum(len(v) for v in tally.latency.values())
    result = {
        "clinicians": args.clinicians, "seconds": round(elapsed, 1), "patients": args.patients,
        "write_share": args.write_share, "think_s": args.think_s, "seed": args.seed,
        "client": "one thread per clinician, each with a keep-alive http.client connection",
        "server": "ketamine-ptsd serve (uvicorn, 1 process), SQLite (WAL, synchronous=FULL)",
        "requests": total, "requests_per_s": round(total / elapsed, 1),
        "all": percentiles(tally.latency["page"] + tally.latency["score"]),
        "page_views": percentiles(tally.latency["page"]), "score_entries": percentiles(tally.latency["score"]),
        "errors": len(tally.errors), "error_kinds": sorted(set(tally.errors)), "writes": check,
        "cpu_share_of_one_core": {"server": None if server_cpu is None else round(server_cpu / elapsed, 2),
                                  "client": round(client_cpu / elapsed, 2)},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    table = Table(title=f"{args.clinicians} clinicians, {elapsed:.0f} s on loopback")
    for column in ("requests", "req/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    table.add_column("what")
    for name in ("all", "page_views", "score_entries"):
        r = result[name]
        table.add_row(str(r["n"]), f"{r['n'] / elapsed:.1f}", str(r["p50_ms"]), str(r["p99_ms"]), name)
    console.print(table)
    console.print(f"CPU used, in cores: server {result['cpu_share_of_one_core']['server']}, "
                  f"client {result['cpu_share_of_one_core']['client']}")
    console.print(f"errors: {result['errors']} {result['error_kinds']}; acknowledged score entries: "
                  f"{check['acknowledged']}, missing from the database: {check['missing']}, stored differently: "
                  f"{check['different']}")
    out = RESULTS / ("load_test.json" if not args.think_s else f"load_test_think_{args.think_s:g}s.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
