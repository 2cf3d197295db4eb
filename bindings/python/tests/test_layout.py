"""The ctypes declarations against the C headers: a small C program, generated from the Python structs, is compiled
against include/derp and prints sizeof/offsetof of every struct and member the package declares, the enum values
it mirrors, and the whole error table (DERP_ERRNO_MAP itself); all must match what the package uses. Every C function
the package declares is named in the program too, so a function renamed or removed in the headers fails the compile."""
import ctypes
import importlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import derp
# The modules themselves (derp.netcheck is also the name of a function the package exports).
_lib, client, netcheck, server = (importlib.import_module(f"derp.{m}") for m in ("_lib", "client", "netcheck", "server"))
Addr = _lib.Addr

INCLUDE = Path(__file__).resolve().parents[3] / "include"
PACKAGE = Path(_lib.__file__).resolve().parent

# Every C function the package declares (_declare / declare_optional take the name first).
FUNCTIONS = sorted({m for f in PACKAGE.glob("*.py")
                    for m in re.findall(r'(?:_declare|declare_optional)\(\s*"(derp_\w+)"', f.read_text())})

# Python struct -> the C type it mirrors.
STRUCTS = [
    (Addr, "derp_addr"),
    (client._Options, "derp_client_options"),
    (client._DialOptions, "derp_uv_client_options"),
    (client._Event, "derp_client_event"),
    (client._Stats, "derp_client_stats_t"),
    (server._ServerOptions, "derp_server_options"),
    (server._UvServerOptions, "derp_uv_server_options"),
    (netcheck._Options, "derp_netcheck_options"),
    (netcheck._Region, "derp_netcheck_region"),
    (netcheck._Report, "derp_netcheck_report_t"),
]

# Python constant -> the C enum value or macro it mirrors.
CONSTANTS = {f"DERP_CLIENT_EVENT_{e.name}": int(e) for e in derp.EventType}
CONSTANTS.update({
    "DERP_UV_TLS_OFF": server.TLS_OFF, "DERP_UV_TLS_PEM_FILES": server.TLS_PEM_FILES,
    "DERP_UV_TLS_MANUAL_DIR": server.TLS_MANUAL_DIR, "DERP_UV_TLS_SELF_SIGNED": server.TLS_SELF_SIGNED,
    "DERP_NETCHECK_MAX_REGIONS": netcheck.MAX_REGIONS, "DERP_KEY_LEN": 32,
})


def _program() -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "derp/derp.h"', "int main(void) {"]
    for cls, ctype in STRUCTS:
        lines.append(f'  printf("size {ctype} %zu\\n", sizeof({ctype}));')
        for name, *_ in cls._fields_:
            lines.append(f'  printf("field {ctype}.{name} %zu %zu\\n", offsetof({ctype}, {name}), '
                         f'sizeof((({ctype} *)0)->{name}));')
    for name in CONSTANTS:
        lines.append(f'  printf("const {name} %lld\\n", (long long)({name}));')
    for name in FUNCTIONS:
        lines.append(f'  (void)((void (*)(void))&{name});  /* a compile error when the header lacks it */')
        lines.append(f'  printf("function {name}\\n");')
    lines.append('#define PRINT_ERROR(name, value, message) printf("error %s %d\\n", #name, value);')
    lines.append("  DERP_ERRNO_MAP(PRINT_ERROR)")
    lines.append("  return 0;\n}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def header_facts(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to read the headers with")
    if not (INCLUDE / "derp" / "common.h").is_file():
        pytest.skip(f"no libderp headers at {INCLUDE}")
    work = tmp_path_factory.mktemp("layout")
    (work / "layout.c").write_text(_program())
    subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-I", str(INCLUDE), "-o", str(work / "layout"),
                    str(work / "layout.c")], check=True, capture_output=True, text=True)
    out = subprocess.run([str(work / "layout")], check=True, capture_output=True, text=True).stdout
    sizes, fields, consts, errors, functions = {}, {}, {}, {}, set()
    for line in out.splitlines():
        kind, name, *values = line.split()
        if kind == "size":
            sizes[name] = int(values[0])
        elif kind == "field":
            fields[name] = (int(values[0]), int(values[1]))
        elif kind == "const":
            consts[name] = int(values[0])
        elif kind == "error":
            errors[name] = int(values[0])
        elif kind == "function":
            functions.add(name)
    return sizes, fields, consts, errors, functions


@pytest.mark.parametrize("cls,ctype", STRUCTS, ids=[c for _, c in STRUCTS])
def test_struct_matches_header(header_facts, cls, ctype):
    sizes, fields, _, _, _ = header_facts
    assert ctypes.sizeof(cls) == sizes[ctype]
    for name, *_ in cls._fields_:
        member = getattr(cls, name)
        assert (member.offset, member.size) == fields[f"{ctype}.{name}"], f"{ctype}.{name}"


def test_constants_match_header(header_facts):
    _, _, consts, _, _ = header_facts
    assert consts == CONSTANTS


def test_error_classes_are_the_error_table(header_facts):
    _, _, _, errors, _ = header_facts
    assert derp.CODES == errors  # every code of DERP_ERRNO_MAP, found by the import-time scan, and no other
    for name, code in errors.items():
        cls = derp.ERROR_CLASSES[code]
        assert issubclass(cls, derp.DerpError) and cls.code == code
        exc = cls("doing something")
        assert exc.name == name and exc.code == code and str(exc).startswith("doing something: ")
    assert derp.Timeout.code == errors["TIMEOUT"] and issubclass(derp.Timeout, TimeoutError)
    for name in ("NotConnected", "QueueFull", "Closed", "FrameTooLarge"):
        assert getattr(derp, name).code == errors[{"NotConnected": "NOT_CONNECTED", "QueueFull": "QUEUE_FULL",
                                                   "Closed": "CLOSED", "FrameTooLarge": "FRAME_TOO_LARGE"}[name]]
    assert type(derp.error_for(errors["QUEUE_FULL"], "send")) is derp.QueueFull
    unknown = derp.error_for(-9999, "x")
    assert type(unknown) is derp.DerpError and unknown.name == "UNKNOWN"


def test_declared_functions_are_in_the_headers(header_facts):
    *_, functions = header_facts
    assert len(FUNCTIONS) > 20  # the scan found the package's declarations
    assert functions == set(FUNCTIONS)  # each one compiled against include/derp: none renamed away
