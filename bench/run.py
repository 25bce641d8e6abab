"""Every performance figure of Outcomes next to its floor, in one run (not a test).

    ./dev bench                                  # 100k accounts x 24 monthly snapshots
    ./dev bench --accounts 1000000 --months 12   # the 1M book
    ./dev bench --accounts 10000 --only ingest,score

Makes the book once (storage.demo_book, everyone a customer from the first month) as
one CSV in --work (kept and reused), then, each in its own process so that wall time
and peak RSS (os.wait4) are that step's alone:

  startup  `outcomes --help` and `outcomes ask "/outcome <name>"` (best of 5); floor:
           `python -c pass`
  ingest   `outcomes ingest BOOK.csv` into a fresh database; floor: bench/floors.py
           ingest (csv.reader + one sqlite3 executemany, same table shape, no checks)
  score    `outcomes score` on that database (train, validate, calibrate, score,
           history, segments, indicators); floor: bench/floors.py score (pandas
           read_csv + labels + HistGradientBoosting fit + predict, churn and upsell,
           OpenMP on as many cores as Outcomes' training uses: two, one per model)
  card     bench/bench_lookup.py: `/outcome <account>` through `outcomes serve`, p99 of
           the card delivered (in the ack, or at response_url when the ack is empty);
           floor: the same requests to a no-op Bolt handler (ack)
  pulse    bench/bench_pulse.py: build + render every pulse, 5,000 owners; target < 10 s

The table at the end is what the README's performance section shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PY = sys.executable
OUTCOMES = str(Path(sys.executable).with_name("outcomes"))
STAGES = ("startup", "ingest", "score", "card", "pulse")


@dataclass
class Run:
    wall: float
    cpu: float  # user + system seconds
    peak_mib: float
    stdout: str
    stderr: str


def child(args: list[str], *, check: bool = True, env: dict[str, str] | None = None) -> Run:
    """Run a process alone; its own wall time and peak RSS (not the max over all children)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        run = Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read(),
                  err.read())
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{run.stderr[-3000:]}")
    return run


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def make_book(work: Path, accounts: int, months: int, seed: int) -> Path:
    """One CSV of the whole book, written a month at a time (reused when present)."""
    path = work / f"book-{accounts}x{months}-s{seed}.csv"
    if path.exists():
        return path
    from storage.demo_book import DemoSpec, iter_months

    t = time.perf_counter()
    partial = path.with_suffix(".partial")
    rows = 0
    with partial.open("w", newline="") as fh:
        for i, frame in enumerate(iter_months(DemoSpec(accounts=accounts, months=months,
                                                       at_start=1.0, seed=seed))):
            frame.to_csv(fh, index=False, header=i == 0, float_format="%.6g")
            rows += len(frame)
            if sys.stderr.isatty():
                print(f"\r  writing the book: month {i + 1}/{months}, {rows:,} rows", end="",
                      file=sys.stderr, flush=True)
    partial.rename(path)
    print(f"\r  wrote {path.name}: {rows:,} rows, {path.stat().st_size / 2**20:,.0f} MiB "
          f"in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return path


def count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1


def fresh(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def best_of(args: list[str], n: int = 5) -> Run:
    runs = [child(args) for _ in range(n)]
    return min(runs, key=lambda r: r.wall)


# -- stages --------------------------------------------------------------------------------


def _startup(run: Run) -> str:
    return f"{run.wall:.2f} s wall, {run.cpu:.2f} s CPU"


def stage_startup(db: Path | None) -> list[tuple]:
    """Best of 5; the CPU time says what the wall time would be on an idle machine."""
    base = _startup(best_of([PY, "-c", "pass"]))
    rows = [("`outcomes --help`", _startup(best_of([OUTCOMES, "--help"])),
             f"`python -c pass`: {base}", "target <= 0.5 s")]
    if db is not None and db.exists():
        import sqlite3

        with sqlite3.connect(db) as conn:
            found = conn.execute("SELECT name FROM accounts ORDER BY account_id LIMIT 1").fetchone()
        if found:
            ask = best_of([OUTCOMES, "--db", str(db), "ask", f"/outcome {found[0]}"])
            rows.append(("`outcomes ask \"/outcome <name>\"`", _startup(ask),
                         f"`python -c pass`: {base}", "target <= 0.5 s"))
    return rows


def stage_ingest(book: Path, db: Path, work: Path, rows: int) -> tuple[list[tuple], dict]:
    floor_db = work / "floor.db"
    floor = child([PY, str(BENCH / "floors.py"), "ingest", str(book), str(floor_db)])
    fresh(floor_db)
    fresh(db)
    mine = child([OUTCOMES, "--db", str(db), "ingest", str(book)])
    again = child([OUTCOMES, "--db", str(db), "ingest", str(book)])
    ratio = mine.wall / floor.wall
    figures = {"ingest_s": mine.wall, "ingest_peak_mib": mine.peak_mib, "floor_s": floor.wall,
               "us_per_row": 1e6 * mine.wall / rows}
    return [("`outcomes ingest`", f"{mine.wall:.1f} s, peak {mine.peak_mib / 1024:.2f} GB",
             f"sqlite3 executemany: {floor.wall:.1f} s, peak {floor.peak_mib / 1024:.2f} GB",
             f"{ratio:.2f}x (target <= 1.2x)"),
            ("re-ingest of the same file", f"{again.wall:.2f} s", "-", "no-op")], figures


def stage_score(book: Path, db: Path, rows: int) -> tuple[list[tuple], dict]:
    from scoring.pipeline import model_threads

    # The floor gets the cores Outcomes uses: Outcomes trains its two models side by side
    # (the churn model on a thread, the upsell model in a forked child or on a second
    # thread; OpenMP single-threaded in each), so on two cores the floor's OpenMP runs two
    # threads, on one core one.
    threads = model_threads()
    floor = child([PY, str(BENCH / "floors.py"), "score", str(book)],
                  env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    steps = last_json(floor.stdout)["steps_s"]
    mine = child([OUTCOMES, "--db", str(db), "score"])
    ratio = mine.wall / floor.wall
    figures = {"score_s": mine.wall, "score_peak_mib": mine.peak_mib, "floor_s": floor.wall,
               "floor_steps_s": steps, "us_per_row": 1e6 * mine.wall / rows}
    return [("`outcomes score`", f"{mine.wall:.1f} s, peak {mine.peak_mib / 1024:.2f} GB",
             f"pandas + HGB ({threads} threads): {floor.wall:.1f} s, "
             f"peak {floor.peak_mib / 1024:.2f} GB",
             f"{ratio:.2f}x (target <= 1.5x, peak <= 4 GB)")], figures


def stage_card(work: Path, accounts: int, requests: int) -> tuple[list[tuple], dict]:
    run = child([PY, str(BENCH / "bench_lookup.py"), "--accounts", str(accounts),
                 "--requests", str(requests), "--db", str(work / f"lookup-{accounts}.db"), "--json"])
    got = last_json(run.stdout)
    card, floor = got["reply_p99_ms"], got["noop_ack_p99_ms"]
    print(f"  card delivered p50 {got['reply_p50_ms']:.1f} ms, no-op ack p50 {got['noop_ack_p50_ms']:.1f} ms;"
          f" the card came in the ack {got['replies_in_ack']} times,"
          f" at response_url {got['replies_at_response_url']} times", flush=True)
    return [(f"`/outcome <account>` card delivered, p99 ({accounts:,} accounts)", f"{card:.1f} ms",
             f"no-op Bolt handler's ack, p99: {floor:.1f} ms",
             f"{card / floor:.2f}x (target <= 2x)")], got


def stage_pulse(owners: int, accounts: int) -> list[tuple]:
    run = child([PY, str(BENCH / "bench_pulse.py"), "--owners", str(owners),
                 "--accounts", str(accounts), "--json"])
    got = last_json(run.stdout)
    return [(f"pulse for {owners:,} owners ({accounts:,} accounts), build + render",
             f"{got['total_s']:.1f} s",
             "-", "target < 10 s")]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, Python {platform.python_version()}, "
            f"SQLite {__import__('sqlite3').sqlite_version}, load average {load:.1f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", default=",".join(STAGES),
                        help=f"comma-separated stages [default: all: {','.join(STAGES)}]")
    parser.add_argument("--requests", type=int, default=2000,
                        help="card requests [2000: the p99 is the 20th-worst, not the 5th]")
    parser.add_argument("--card-accounts", type=int, default=100_000,
                        help="accounts in the card and pulse books [100000]")
    parser.add_argument("--owners", type=int, default=5000, help="owners in the pulse book [5000]")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "outcomes-bench",
                        help="where the book CSV and databases are kept [TMPDIR/outcomes-bench]")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    stages = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; pick from {', '.join(STAGES)}")
    args.work.mkdir(parents=True, exist_ok=True)
    db = args.work / f"outcomes-{args.accounts}x{args.months}.db"

    table: list[tuple] = []
    figures: dict[str, object] = {"accounts": args.accounts, "months": args.months}

    def run_stage(name: str, fn, *a):
        """A failing stage is reported in the table; the others still run."""
        print(f"{name} ...", flush=True)
        try:
            got = fn(*a)
        except SystemExit as exc:
            print(exc, file=sys.stderr, flush=True)
            table.append((name, "failed (see above)", "-", "-"))
            return None
        rows = got[0] if isinstance(got, tuple) else got
        for row in rows:
            print("  | " + " | ".join(row) + " |", flush=True)
        table.extend(rows)
        return got[1] if isinstance(got, tuple) else None

    if {"ingest", "score"} & set(stages):
        book = make_book(args.work, args.accounts, args.months, args.seed)
        rows = count_rows(book)
        figures["rows"] = rows
        print(f"book: {args.accounts:,} accounts x {args.months} monthly snapshots = {rows:,} rows, "
              f"{book.stat().st_size / 2**20:,.0f} MiB CSV ({book})", flush=True)
    if "ingest" in stages:
        figures["ingest"] = run_stage("ingest", stage_ingest, book, db, args.work, rows)
    if "score" in stages:
        if not db.exists():
            raise SystemExit(f"{db} does not exist: run the ingest stage first")
        # Score a copy, so the ingested database can be scored again by the next run.
        scored = args.work / f"scored-{args.accounts}x{args.months}.db"
        fresh(scored)
        shutil.copyfile(db, scored)
        figures["score"] = run_stage("score", stage_score, book, scored, rows)
    if "startup" in stages:
        scored = args.work / f"scored-{args.accounts}x{args.months}.db"
        run_stage("startup", stage_startup, scored if scored.exists() else None)
    if "card" in stages:
        figures["card"] = run_stage("card", stage_card, args.work, args.card_accounts, args.requests)
    if "pulse" in stages:
        run_stage("pulse", stage_pulse, args.owners, args.card_accounts)

    where = machine()
    book_line = (f"{args.accounts:,} accounts x {args.months} monthly snapshots "
                 f"({figures['rows']:,} rows); " if "rows" in figures else "")
    print(f"\n{book_line}{where}\n")
    print("| what | Outcomes | floor in the same run | ratio / target |")
    print("| --- | --- | --- | --- |")
    for row in table:
        print("| " + " | ".join(row) + " |")
    figures["machine"] = where
    figures["table"] = table
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
