"""`outcomes --help` and `outcomes ask` must not load the heavy libraries (start-up time).

Not timed (a busy machine would make that flaky): a fresh interpreter runs the
command and reports which heavy modules ended up in sys.modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from messages.render import FULL_CHECKS_ENV

HEAVY = ("pandas", "sklearn", "pyarrow", "matplotlib", "slack_bolt", "scipy", "numpy",
         "slack_sdk", "rapidfuzz")
# As outside the tests: without the slack_sdk.models checks the test suite switches on.
ENV = {k: v for k, v in os.environ.items() if k != FULL_CHECKS_ENV}

_PROBE = """
import json, sys
heavy = set(json.loads(sys.argv[2]))
sys.argv = ["outcomes", *json.loads(sys.argv[1])]
from bot.cli import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\nLOADED=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)))
"""


def loaded_by(*args: str, heavy: tuple[str, ...] = HEAVY) -> tuple[list[str], str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args)), json.dumps(heavy)],
                         capture_output=True, text=True, timeout=120, check=True, env=ENV).stdout
    head, _, tail = out.rpartition("\nLOADED=")
    return json.loads(tail), head


def test_help_loads_no_heavy_library():
    loaded, text = loaded_by("--help")
    assert "ingest" in text and "score" in text  # the real help, every command listed
    assert loaded == []


def test_help_reads_no_settings():
    """Help needs click and the commands only: the settings (pydantic, yaml) and the Slack
    client's modules (http.client, email) load when a command runs."""
    loaded, text = loaded_by("--help", heavy=("pydantic", "yaml", "http", "email"))
    assert "ingest" in text
    assert loaded == []
    loaded, _ = loaded_by("push", "--help", heavy=("pydantic", "yaml"))
    assert loaded == []


def test_command_help_loads_no_heavy_library():
    loaded, text = loaded_by("ingest", "--help")
    assert "FILES" in text
    assert loaded == []


def test_ask_loads_no_heavy_library(tmp_path):
    loaded, text = loaded_by("--db", str(tmp_path / "empty.db"), "ask", "help")
    assert "outcome" in text.lower()
    assert loaded == []


def test_ask_for_a_card_loads_no_heavy_library(tmp_path):
    """The card itself (lookup by name, Block Kit checks) needs neither slack_sdk nor rapidfuzz."""
    from storage.store import Store
    from tests.bot.book import seed_book

    db = tmp_path / "book.db"
    with Store(db) as store:
        seed_book(store)
    loaded, text = loaded_by("--db", str(db), "ask", "/outcome Acme Analytics")
    assert "Acme Analytics" in text
    assert loaded == []


def test_templates_are_compiled_once_for_every_process(tmp_path):
    """Jinja2's bytecode cache keeps `ask` from compiling the card's templates each time."""
    from messages.render import environment

    assert environment().bytecode_cache is not None


def test_card_direction_rule_loads_no_heavy_library():
    """The card's movement wording (`scoring.movements.direction`) runs on every /outcome."""
    probe = ("import json, sys\nfrom scoring.movements import direction\n"
             "direction('a', 'b', ['a', 'b'])\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(sys.argv[1])))))")
    out = subprocess.run([sys.executable, "-c", probe, json.dumps(HEAVY)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert json.loads(out) == []


def test_settings_models_are_built_when_settings_are_first_read(tmp_path):
    """pydantic builds a model's validator when it first validates (defer_build), not at import."""
    probe = ("import sys\nimport bot.config as c\nbefore = c.Settings.__pydantic_complete__\n"
             "c.load_settings(None, sys.argv[1])\n"
             "print(before, c.Settings.__pydantic_complete__)")
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "t.db")], capture_output=True,
                         text=True, timeout=120, check=True, env=ENV).stdout.split()
    assert out == ["False", "True"]
