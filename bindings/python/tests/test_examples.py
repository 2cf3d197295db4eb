"""The Python examples run as a user would run them, and say what they should."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # bindings/python
CHECKOUT = PACKAGE_ROOT.parent.parent
EXAMPLES = PACKAGE_ROOT / "examples"


def _readme_line(example: str) -> str:
    """The command bindings/python/README.md gives for an example (run from the checkout's root)."""
    text = (PACKAGE_ROOT / "README.md").read_text()
    found = re.findall(rf"^(PYTHONPATH=\S+ python3 \S*{re.escape(example)} --demo)", text, re.M)
    assert len(found) == 1, f"README.md has no single line running {example} --demo"
    return found[0]


def _run_readme_line(example: str):
    # As written, from the checkout's root, with no PYTHONPATH of ours; only `python3` becomes this interpreter.
    # DERP_LIBRARY stays as the test run set it: it picks which build's library loads (the gcc one, not the
    # sanitizer build's), not whether the package imports.
    words = shlex.split(_readme_line(example))
    assignments = dict(w.split("=", 1) for w in words[:1])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(assignments)
    return subprocess.run([sys.executable, *words[2:]], cwd=CHECKOUT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_netcheck_report_demo():
    out = _run_readme_line("netcheck_report.py")
    assert out.returncode == 0, out.stderr
    assert "UDP:              yes" in out.stdout
    assert "public IPv4:      127.0.0.1:" in out.stdout
    assert "preferred region: 1" in out.stdout


def test_relay_chat_demo():
    out = _run_readme_line("relay_chat.py")
    assert out.returncode == 0, out.stderr
    assert "bob says: hello alice!" in out.stdout
    assert "alice says: hi bob, it's alice" in out.stdout
    assert "alice's ping to the server:" in out.stdout
    # What the demo says about secrecy is what is true: plain HTTP, payloads not encrypted by DERP.
    assert "encrypted end to end" not in out.stdout
    assert "plain HTTP (no TLS)" in out.stdout and "DERP does not encrypt what it relays" in out.stdout
