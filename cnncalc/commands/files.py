"""Reading the array files the executing commands take (--data, --weights, --upstream) and
the sizes they take (--max-memory); every failure a SpecError that names the file and the fix."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from cnncalc.core.errors import SpecError
from cnncalc.core.files import open_regular, too_large
from cnncalc.core.yamlio import identify
from cnncalc.options import usage

UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024 ** 2, "mb": 1000 ** 2,
         "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1000 ** 3, "gib": 1024 ** 3}
MAX_DATA_BYTES = 2 * 1024 ** 3  # run's and verify's default --max-memory
NPY_MAGIC, ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


def parse_bytes(text: str, option: str = "--max-memory") -> int:
    """Bytes of a size such as ``2GiB``, ``512MB`` or ``1000000`` (k, m, g are binary units;
    KB, MB, GB decimal), given to ``option``.

    Raises:
        SpecError: not a size (kind ``usage``).
    """
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise SpecError(f"{option} '{text}' is not a size", kind="usage",
                        help=f"e.g. {option} 2GiB, 512MiB or 1000000000 (GB = 10^9 bytes, "
                             "GiB = 2^30)")
    return int(float(m.group(1)) * UNITS[m.group(2).lower()])


def npz_target(output: Path, spec: Path) -> Path:
    """Where ``run --output`` writes: a folder gets <spec stem>.npz, a name without a
    suffix gets .npz (as numpy.savez does); the folder must exist."""
    if output.is_dir():
        return output / f"{spec.stem}.npz"
    if output.suffix != ".npz":
        output = output.with_name(output.name + ".npz")
    if not output.parent.is_dir():
        raise usage("run", f"--output: the folder {output.parent} does not exist",
                    f"create it first (mkdir -p {output.parent}) or write elsewhere")
    return output


def load_array(path: Path, what: str, limit: int = MAX_DATA_BYTES) -> np.ndarray:
    """One array from a .npy file given to option ``what``.

    Raises:
        SpecError: not a regular file, over ``limit`` bytes, not a NumPy file, or an .npz
            archive (kind ``io``).
    """
    data = _load(path, what, "give a .npy file written by numpy.save", limit)
    if isinstance(data, dict):  # an .npz archive
        names = list(data)
        raise SpecError(f"{what}: {path} is an .npz archive of {len(names)} array(s), not one array",
                        kind="io", help="give a .npy file written by numpy.save "
                        + (f"(e.g. numpy.save('x.npy', numpy.load('{path}')['{names[0]}']))" if names else ""))
    return data


def load_npz(path: Path, limit: int = MAX_DATA_BYTES) -> dict:
    """The named arrays of an .npz archive (weights keyed '<layer>.<param>').

    Raises:
        SpecError: not a regular file, over ``limit`` bytes, not a NumPy file, or a single
            .npy array (kind ``io``).
    """
    data = _load(path, "--weights", "give a .npz file written by numpy.savez", limit)
    if isinstance(data, np.ndarray):  # a single .npy array has no tensor names
        raise SpecError(f"--weights: {path} is a single array ({data.dtype}, shape "
                        f"{list(data.shape)}), not an archive of named tensors", kind="io",
                        help="write the weights with numpy.savez('w.npz', **{'conv1.weight': w, ...})")
    return data


def _load(path: Path, what: str, help: str, limit: int) -> np.ndarray | dict:
    """np.load of a regular NumPy file of at most ``limit`` bytes: the array of an .npy,
    the arrays of an .npz by name; anything else (a YAML spec, a pickle, a FIFO, a device)
    is refused before NumPy reads it."""
    with open_regular(path, f"{what} file") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise too_large(str(path), size, limit, f"{what} file", "give a smaller array, or "
                            "raise --max-memory") from None
        head = fh.read(4096)
        if not head.startswith((NPY_MAGIC, ZIP_MAGIC)):
            found = identify(head)
            kind = found[0].split(",")[0] if found else ("empty" if not head else "text")
            raise SpecError(f"{what}: {path} is not a .npy/.npz file: it is {kind}", file=str(path),
                            kind="io", help=help)
        fh.seek(0)
        try:
            data = np.load(fh, allow_pickle=False)
            if not isinstance(data, np.ndarray):  # an .npz reads its members lazily: read them now
                with data:
                    data = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError) as exc:
            reason = "it holds Python objects (pickled data), which cnncalc never loads" \
                if "pickle" in str(exc) else str(exc)
            raise SpecError(f"{what}: cannot read {path}: {reason}", file=str(path), kind="io",
                            help=help) from None
    return data
