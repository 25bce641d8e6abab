"""The worked examples of docs/sources.md and docs/crm.md run verbatim on the demo book.

Their ```sh blocks are run as one script each (```shell blocks are illustrations
that need a real database or CRM)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shell_blocks(doc: str) -> str:
    text = (REPO / "docs" / doc).read_text(encoding="utf-8")
    return "\n".join(re.findall(r"```sh\n(.*?)```", text, flags=re.S))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_doc(doc: str, folder: Path, skip: tuple[str, ...] = ()) -> str:
    script = shell_blocks(doc)
    for line in skip:
        assert line in script, line
        script = script.replace(line, "")
    script = (script.replace("./dev ", f"{REPO}/dev ").replace(".venv/bin/python", sys.executable)
              .replace("8765", str(free_port())))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTCOMES_", "HUBSPOT_", "SALESFORCE_"))}
    env["PYTHONPATH"] = str(REPO)   # `python -m tests.fakes.crm_api` from the repository
    done = subprocess.run(["bash", "-c", "set -eo pipefail\n" + script], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    return done.stdout + done.stderr + f"\nEXIT={done.returncode}"


@pytest.mark.slow
def test_sources_walkthrough(tmp_path: Path) -> None:
    # The last example is a rejection on purpose (exit 1): run it apart.
    bad = ('./dev --db sources-demo.db ingest --url duckdb:///demo.duckdb --sql "SELECT account_id,'
           ' as_of, -arr AS arr FROM account_snapshots ORDER BY 1, 2"')
    out = run_doc("sources.md", tmp_path, skip=(bad,))
    assert out.endswith("EXIT=0"), out
    assert "These rows follow the data contract." in out
    assert "the query returned 4,677 rows (every row: first sync)" in out
    assert "no rows (changed since the last sync" in out
    assert "the query returned 234 rows (changed since the last sync" in out
    assert re.search(r"source:lake +daily 05:30 UTC", out)
    rejected = subprocess.run(["bash", "-c", bad.replace("./dev ", f"{REPO}/dev ")], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
    assert rejected.returncode == 1
    assert "column 'arr': is negative (ARR must be 0 or more) at rows 1, 2, 3" in rejected.stderr


@pytest.mark.slow
def test_crm_walkthrough(tmp_path: Path) -> None:
    out = run_doc("crm.md", tmp_path)
    assert out.endswith("EXIT=0"), out
    changed = re.search(r"hubspot \(dry run\): (\d+) of \1 accounts would change", out)
    assert changed, out
    n = int(changed.group(1))
    assert f"hubspot: {n} of {n} changed accounts written ({4 * n} fields, {-(-n // 100)} requests)" in out
    assert f"hubspot: nothing changed since the last push ({n} accounts)." in out
    assert "push:hubspot" in out
