"""Builds the `derp` wheel with libderp.so inside it (as derp/libderp.so.0, found first after DERP_LIBRARY).

Which libderp.so goes in: the file named by DERP_BUNDLE_LIBRARY, else the checkout's build/libderp.so (the
README's `cmake -S . -B build` build); DERP_BUNDLE_LIBRARY=none builds a package without one, which then uses the
system's libderp (cmake --install + ldconfig). Metadata is in pyproject.toml; this file only adds the library and
marks the wheel as Linux-specific (py3-none-linux_<arch>: pure Python, but it carries a native library).

Nothing is written into the source tree: setuptools' build/ and derp.egg-info/ go to a temporary directory.
The usual way is bindings/python/build_wheel.py (see bindings/python/README.md); pip and python3 -m build work too,
without build isolation (offline: Debian's python3-setuptools and python3-wheel).
"""
import atexit
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent
BUNDLED_NAME = "libderp.so.0"  # the SONAME: what the library is called at run time


def library_to_bundle():
    """The libderp.so to copy into the package, or None for a package that uses the system's."""
    named = os.environ.get("DERP_BUNDLE_LIBRARY")
    if named == "none":
        return None
    path = Path(named) if named else CHECKOUT / "build" / "libderp.so"
    if not path.is_file():
        sys.exit(f"setup.py: no libderp.so at {path}. Build it first (cmake -S {CHECKOUT} -B {CHECKOUT}/build && "
                 f"cmake --build {CHECKOUT}/build --target derp), or set DERP_BUNDLE_LIBRARY=/path/to/libderp.so "
                 "(or =none for a package that uses the system's libderp).")
    return path.resolve()  # libderp.so -> libderp.so.0 -> libderp.so.0.1.0: copy the file itself


class build_py_with_library(build_py):
    """build_py, then the library copied into the build directory's package (never into the source tree)."""

    def run(self):
        super().run()
        library = library_to_bundle()
        if library is not None:
            target = Path(self.build_lib) / "derp" / BUNDLED_NAME
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(library, target)
            os.chmod(target, 0o755)


class DistributionWithLibrary(Distribution):
    """Says it has native code when it carries libderp.so, so the wheel installs into platlib, at its root."""

    def has_ext_modules(self):
        return library_to_bundle() is not None


class bdist_wheel_for_platform(bdist_wheel):
    """A wheel for this platform (it carries a native library) that any Python 3 can use (no extension module)."""

    def get_tag(self):
        if self.root_is_pure:
            return super().get_tag()
        return "py3", "none", sysconfig.get_platform().replace("-", "_").replace(".", "_")


# setuptools' scratch space, outside the tree so that an in-tree `pip install bindings/python` leaves nothing.
_scratch = tempfile.mkdtemp(prefix="derp-setuptools-")
atexit.register(shutil.rmtree, _scratch, ignore_errors=True)

setup(
    distclass=DistributionWithLibrary,
    cmdclass={"build_py": build_py_with_library, "bdist_wheel": bdist_wheel_for_platform},
    options={"build": {"build_base": os.path.join(_scratch, "build")},
             "egg_info": {"egg_base": _scratch}},
)
