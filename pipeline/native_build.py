"""Build a small C library on first use with the system compiler and load it through ctypes.

Why this and not a Python extension module: the hot loops here (text scanning, hash tables over
word ids, spiking kernels) need no Python or torch headers, a 200-line C file compiles in well under
a second, and there is nothing to ship in the wheel. Every caller keeps a pure-Python path with the
same results for machines without a compiler (or with `SYMBOLICLIGHT_NO_NATIVE=1`).

The shared object is cached under `$SYMBOLICLIGHT_KERNEL_DIR` (default
`~/.cache/symboliclight/kernels`) by a hash of the source, flags, compiler binary and CPU flags, and
is written atomically, so concurrent workers building the same library leave one complete file.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

DEFAULT_FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-std=c99")


def native_disabled() -> bool:
    """True when the user switched native code off (`SYMBOLICLIGHT_NO_NATIVE=1`)."""
    return os.environ.get("SYMBOLICLIGHT_NO_NATIVE", "") not in ("", "0")


def cache_dir() -> Path:
    env = os.environ.get("SYMBOLICLIGHT_KERNEL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "symboliclight" / "kernels"


def cpu_tag() -> str:
    """The CPU's feature flags (a library built with -march=native must not move to another CPU)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler_id(cc: str) -> str:
    """The compiler binary's resolved path, size and modification time: it changes when the compiler
    does, and reading it starts no process (a library already built then loads without forking,
    which matters in threaded workers such as Ray's, where fork can deadlock)."""
    path = shutil.which(cc) or cc
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as e:
        raise RuntimeError(f"C compiler {cc}: {e}") from None
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


def build_library(name: str, source: str, flags: tuple[str, ...] = DEFAULT_FLAGS,
                  libs: tuple[str, ...] = ()) -> ctypes.CDLL:
    """Compile `source` (once per source/flags/compiler/CPU) and load it. Raises RuntimeError,
    OSError or SubprocessError when there is no compiler or the build fails."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise RuntimeError("no C compiler (gcc/cc) on PATH")
    key = hashlib.sha256("\0".join([source, " ".join(flags), " ".join(libs), _compiler_id(cc), cpu_tag()]).encode())
    folder = cache_dir()
    target = folder / f"{name}_{key.hexdigest()[:16]}.so"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            src, out = Path(tmp) / f"{name}.c", Path(tmp) / f"{name}.so"
            src.write_text(source)
            proc = subprocess.run([cc, *flags, str(src), "-o", str(out), *libs], capture_output=True, text=True,
                                  timeout=300)
            if proc.returncode != 0:
                raise RuntimeError(f"{cc} failed: {proc.stderr.strip()[:500]}")
            os.replace(out, target)  # atomic: concurrent builders leave one complete file
    return ctypes.CDLL(str(target))


class LazyLibrary:
    """A native library built (or loaded from the cache) on first use, once per process: `get()`
    is the library, or None when native code is switched off or could not be built (then after one
    warning naming `fallback`, the path the callers take instead)."""

    def __init__(self, build: Callable[[], ctypes.CDLL], fallback: str) -> None:
        self.build, self.fallback = build, fallback
        self._lib: ctypes.CDLL | None = None
        self._tried = False

    def get(self) -> ctypes.CDLL | None:
        if native_disabled():
            return None
        if not self._tried:
            self._tried = True
            self._lib = build_or_warn(self.build, self.fallback)
        return self._lib


def build_or_warn(build: Callable[[], ctypes.CDLL], fallback: str) -> ctypes.CDLL | None:
    """`build()`, or None after a warning that `fallback` is used instead, when there is no
    compiler or the build fails (callers cache the result, so the warning comes once)."""
    try:
        return build()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        warnings.warn(f"native code unavailable, using {fallback}: {exc}", stacklevel=3)
        return None
