"""`outcomes --help` and `outcomes ask` must not load the heavy libraries (start-up time).

Not timed (a busy machine would make that flaky): a fresh interpreter runs the
command and reports which heavy modules ended up in sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "sklearn", "pyarrow", "matplotlib", "slack_bolt", "scipy", "numpy")

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


def loaded_by(*args: str) -> tuple[list[str], str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args)), json.dumps(HEAVY)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    head, _, tail = out.rpartition("\nLOADED=")
    return json.loads(tail), head


def test_help_loads_no_heavy_library():
    loaded, text = loaded_by("--help")
    assert "ingest" in text and "score" in text  # the real help, every command listed
    assert loaded == []


def test_command_help_loads_no_heavy_library():
    loaded, text = loaded_by("ingest", "--help")
    assert "FILES" in text
    assert loaded == []


def test_ask_loads_no_heavy_library(tmp_path):
    loaded, text = loaded_by("--db", str(tmp_path / "empty.db"), "ask", "help")
    assert "outcome" in text.lower()
    assert loaded == []


def test_card_direction_rule_loads_no_heavy_library():
    """The card's movement wording (`scoring.movements.direction`) runs on every /outcome."""
    probe = ("import json, sys\nfrom scoring.movements import direction\n"
             "direction('a', 'b', ['a', 'b'])\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(sys.argv[1])))))")
    out = subprocess.run([sys.executable, "-c", probe, json.dumps(HEAVY)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert json.loads(out) == []
