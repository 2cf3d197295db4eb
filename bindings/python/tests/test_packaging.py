"""The package as a user installs it: a wheel built offline with libderp.so inside, installed into a fresh venv,
relaying a packet from a script outside the checkout; the source tree left as it was; LibraryNotFound's advice."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import derp

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # bindings/python
CHECKOUT = PACKAGE_ROOT.parent.parent


def _tree(root: Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts}


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DERP_LIBRARY", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def _run(args, **kw):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=180, **kw)
    assert out.returncode == 0, f"{args}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return out


RELAY_SCRIPT = '''
import sys
import derp
lib = derp.library_path()
print("package", derp.__file__)
print("library", lib)
a, b = derp.Key.generate(), derp.Key.generate()
with derp.Server(address="127.0.0.1:0", stun_address=None) as srv:
    with derp.Client(srv.url, a) as ca, derp.Client(srv.url, b) as cb:
        ca.send(b.public, b"from outside the tree")
        src, data = cb.recv(timeout=10)
        assert src == a.public, src
print("relayed", data.decode())
'''


def test_wheel_installs_into_a_fresh_venv_and_relays(tmp_path):
    for module in ("pip", "setuptools", "wheel", "venv", "ensurepip"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{sys.executable} has no {module} (Debian: python3-pip python3-setuptools python3-wheel "
                        "python3-venv; scripts/install-deps.sh test installs them)")
    library = derp.library_path()
    before = _tree(PACKAGE_ROOT)

    # The README's offline build: Debian's pip, setuptools and wheel, no build isolation, no index.
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", dist, PACKAGE_ROOT], env=_clean_env(DERP_BUNDLE_LIBRARY=library), cwd=tmp_path)
    wheels = list(dist.glob("derp-*-py3-none-linux_*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    assert _tree(PACKAGE_ROOT) == before  # no build/, derp.egg-info/ or copied library left in the tree

    # A plain venv (no system site packages): the wheel needs nothing but the Debian runtime libraries.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], env=_clean_env())
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", wheels[0]], env=_clean_env())

    (tmp_path / "relay.py").write_text(RELAY_SCRIPT)
    out = _run([python, "relay.py"], cwd=tmp_path, env=_clean_env())
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    site = Path(lines["package"]).resolve().parent
    assert venv.resolve() in site.parents  # the installed copy, not the checkout's
    assert Path(lines["library"]).resolve() == site / "libderp.so.0"  # the library inside the wheel
    assert lines["relayed"] == "from outside the tree"

    # The examples run as the README says once the package is installed.
    demo = _run([python, PACKAGE_ROOT / "examples" / "relay_chat.py", "--demo"], cwd=tmp_path, env=_clean_env())
    assert "bob says: hello alice!" in demo.stdout


def _import_failure(package_parent: Path, cwd: Path) -> str:
    """The LibraryNotFound message of a copy of the package at package_parent/derp with no library to find."""
    shutil.copytree(PACKAGE_ROOT / "derp", package_parent / "derp", ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run([sys.executable, "-c", "import derp"], capture_output=True, text=True, timeout=60, cwd=cwd,
                         env=_clean_env(PYTHONPATH=str(package_parent), DERP_LIBRARY=str(cwd / "missing.so")))
    if out.returncode == 0:
        pytest.skip("a system-wide libderp is installed (ctypes.util.find_library found it)")
    assert "LibraryNotFound" in out.stderr, out.stderr
    return out.stderr


def test_library_not_found_when_installed_gives_no_build_tree(tmp_path):
    message = _import_failure(tmp_path / "site-packages", tmp_path)
    assert "missing.so" in message  # DERP_LIBRARY was tried, and why it failed is said
    assert "build tree" not in message and "scripts/demo.sh" not in message
    assert "installed package carries no working libderp.so" in message


def test_library_not_found_in_a_checkout_says_what_builds_it(tmp_path):
    # A checkout's shape without any build: include/derp/common.h and bindings/python/{pyproject.toml,derp}.
    (tmp_path / "include" / "derp").mkdir(parents=True)
    shutil.copy(CHECKOUT / "include" / "derp" / "common.h", tmp_path / "include" / "derp")
    (tmp_path / "bindings" / "python").mkdir(parents=True)
    shutil.copy(PACKAGE_ROOT / "pyproject.toml", tmp_path / "bindings" / "python")
    message = _import_failure(tmp_path / "bindings" / "python", tmp_path)
    assert "build tree" in message and "--target derp" in message
    assert "scripts/demo.sh" not in message
