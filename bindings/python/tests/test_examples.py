"""The Python examples run as a user would run them, and say what they should."""
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(*args):
    env = dict(os.environ, PYTHONPATH=str(EXAMPLES.parent))
    return subprocess.run([sys.executable, *map(str, args)], env=env, capture_output=True, text=True, timeout=60)


def test_netcheck_report_demo():
    out = _run(EXAMPLES / "netcheck_report.py", "--demo")
    assert out.returncode == 0, out.stderr
    assert "UDP:              yes" in out.stdout
    assert "public IPv4:      127.0.0.1:" in out.stdout
    assert "preferred region: 1" in out.stdout


def test_relay_chat_demo():
    out = _run(EXAMPLES / "relay_chat.py", "--demo")
    assert out.returncode == 0, out.stderr
    assert "bob says: hello alice!" in out.stdout
    assert "alice says: hi bob, it's alice" in out.stdout
    assert "alice's ping to the server:" in out.stdout
