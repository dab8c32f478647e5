"""Only regular files are read, never more than the limit plus one byte (issue 21, item 1).

A FIFO would block a reader for ever, /dev/zero and /dev/urandom never end, a socket cannot be
read, a folder is no file: each, directly or through a symlink, is refused with a located
error (exit 2, CC000 in lint) before it is opened for reading, and lint goes on with the other
files. Every case runs under a timeout, so a regression hangs no test run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnncalc import SpecError
from cnncalc.core.files import open_regular, read_bounded
from cnncalc.core.yamlio import MAX_FILE_BYTES
from cnncalc.io.load import read_spec

ROOT = Path(__file__).resolve().parents[1]
LENET = (ROOT / "specs" / "lenet5.yaml").read_text()
TIMEOUT = 30  # seconds: the run is refused in well under one; this only stops a hang


def cnncalc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnncalc", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=TIMEOUT)


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Every kind of file that is not a regular file, with the words its error uses."""
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "random.yaml").symlink_to("/dev/urandom")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "pipe_link.yaml").symlink_to(tmp_path / "fifo.yaml")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.yaml"))
    yield {
        "fifo": (tmp_path / "fifo.yaml", "a named pipe (FIFO)"),
        "/dev/zero": (Path("/dev/zero"), "a device"),
        "/dev/urandom": (Path("/dev/urandom"), "a device"),
        "symlink to /dev/zero": (tmp_path / "zero.yaml", "a symlink to a device (/dev/zero)"),
        "symlink to /dev/urandom": (tmp_path / "random.yaml", "a symlink to a device (/dev/urandom)"),
        "symlink to a fifo": (tmp_path / "pipe_link.yaml",
                              f"a symlink to a named pipe (FIFO) ({tmp_path.resolve() / 'fifo.yaml'})"),
        "folder": (tmp_path / "folder.yaml", "a folder"),
        "socket": (tmp_path / "sock.yaml", "a socket"),
    }
    server.close()


CASES = ["fifo", "/dev/zero", "/dev/urandom", "symlink to /dev/zero", "symlink to /dev/urandom",
         "symlink to a fifo", "folder", "socket"]


@pytest.mark.parametrize("case", CASES)
def test_a_file_that_is_not_regular_is_refused_at_once(hostile, case):
    path, words = hostile[case]
    start = time.monotonic()
    with pytest.raises(SpecError) as caught:
        read_spec(path)
    assert time.monotonic() - start < 1.0  # the bound: a located error within a second
    err = caught.value
    assert err.file == str(path) and err.kind == "io"
    assert f"{path} is {words}, not a regular file" in err.message


@pytest.mark.parametrize("case", CASES)
def test_analyze_of_a_file_that_is_not_regular_exits_2(hostile, case, tmp_path):
    path, words = hostile[case]
    done = cnncalc("analyze", str(path), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"{path}: error[io]: cannot read the spec: {path} is {words}")
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_lint_reports_each_unreadable_file_and_lints_the_others(hostile, tmp_path):
    (tmp_path / "lenet5.yaml").write_text(LENET)
    (tmp_path / "broken.yaml").write_text(LENET.replace("kernel_size: 5", "kernel_size: 50", 1))
    done = cnncalc("lint", ".", "--format", "github", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stdout.splitlines()
    unreadable = sorted(line.split("file=")[1].split(",")[0] for line in lines if "CC000" in line)
    # every hostile file inside the folder, except the folder named folder.yaml (a folder, no spec)
    assert unreadable == ["broken.yaml", "fifo.yaml", "pipe_link.yaml", "random.yaml", "sock.yaml",
                          "zero.yaml"]
    assert "folder.yaml" not in done.stdout
    # broken.yaml's kernel 50 does not fit: unreadable (CC000) as a spec, and lint went on to it;
    # lenet5.yaml was linted too: the count names all seven specs
    assert done.stderr.splitlines()[-1].startswith("7 spec(s)")


def test_a_folder_given_as_the_spec_is_refused(tmp_path):
    done = cnncalc("analyze", ".", cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot read the spec: . is a folder, not a regular file" in done.stderr


def test_never_more_than_the_limit_plus_one_byte_is_read(tmp_path, monkeypatch):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 10))
    asked = []
    real = os.fdopen

    def spy(fd, mode):
        fh = real(fd, mode)
        read = fh.read

        def counted(n=-1):
            assert n >= 0, "an unbounded read"
            data = read(n)
            asked.append(len(data))
            return data
        fh.read = counted
        return fh
    monkeypatch.setattr(os, "fdopen", spy)
    with pytest.raises(SpecError) as caught:
        read_spec(big)
    assert sum(asked) == MAX_FILE_BYTES + 1  # the limit plus the one byte that shows it is over
    assert caught.value.kind == "limit"
    assert f"the limit is {MAX_FILE_BYTES:,} bytes" in caught.value.message


def test_a_file_at_the_limit_is_read_whole(tmp_path):
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(b"#" * 100)
    assert read_bounded(exact, 100, "spec") == b"#" * 100
    with pytest.raises(SpecError):
        read_bounded(exact, 99, "spec")


def test_open_regular_opens_a_regular_file(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("x")
    with open_regular(path, "spec") as fh:
        assert fh.read() == b"x"


@pytest.mark.parametrize("case", ["fifo", "/dev/zero", "symlink to /dev/urandom", "folder", "socket"])
def test_data_files_that_are_not_regular_are_refused(hostile, case, tmp_path):
    path, words = hostile[case]
    (tmp_path / "lenet5.yaml").write_text(LENET)
    done = cnncalc("run", "lenet5.yaml", "--data", str(path), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"cannot read the --data file: {path} is {words}" in done.stderr


def test_a_spec_given_as_data_says_it_is_not_a_numpy_file(tmp_path):
    (tmp_path / "lenet5.yaml").write_text(LENET)
    done = cnncalc("run", "lenet5.yaml", "--data", "lenet5.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "--data: lenet5.yaml is not a .npy/.npz file: it is text" in done.stderr
    assert "allow_pickle" not in done.stderr and "pickled" not in done.stderr


def test_an_object_array_is_refused_without_unsafe_advice(tmp_path):
    (tmp_path / "lenet5.yaml").write_text(LENET)
    np.save(tmp_path / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    done = cnncalc("run", "lenet5.yaml", "--data", "x.npy", cwd=tmp_path)
    assert done.returncode == 2
    assert "it holds Python objects (pickled data), which cnncalc never loads" in done.stderr
    assert "allow_pickle" not in done.stderr


@pytest.mark.parametrize("case", ["fifo", "/dev/zero", "folder"])
def test_answers_file_that_is_not_regular_is_refused(hostile, case, tmp_path):
    path, words = hostile[case]
    (tmp_path / "lenet5.yaml").write_text(LENET)
    done = cnncalc("check", "lenet5.yaml", str(path), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"cannot read the answers: {path} is {words}" in done.stderr


def test_a_configuration_that_is_a_fifo_is_refused(tmp_path):
    (tmp_path / "lenet5.yaml").write_text(LENET)
    os.mkfifo(tmp_path / "cnncalc.toml")
    done = cnncalc("lint", "lenet5.yaml", cwd=tmp_path)
    # is_file() is false for a FIFO, so the configuration is skipped, never opened
    assert done.returncode == 0, done.stderr
