"""rmtool._files output side: ``write_atomic`` / ``atomic_output`` as the attacks they stop.

A symlink planted at the output (or at the temporary name) must be replaced, never written
through; a failed write (an exception in the block, ``ulimit -f``) must leave the old
target as it was and no temporary file; permissions are the requested mode less the umask.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from rmtool._files import atomic_output, write_atomic
from rmtool.errors import InputFileError, ParametersError, RmtoolError

ROOT = Path(__file__).resolve().parents[1]
VICTIM = b"victim: must never change\n"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "elsewhere" / "victim"
    victim.parent.mkdir()
    victim.write_bytes(VICTIM)
    victim.chmod(0o600)
    return victim


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_symlink_at_target_is_replaced_victim_untouched(tmp_path: Path,
                                                        umask_022: None) -> None:
    victim = _victim(tmp_path)
    out = tmp_path / "out.dtb"
    out.symlink_to(victim)
    write_atomic(out, b"new content", mode=0o755)
    assert not out.is_symlink()
    assert out.read_bytes() == b"new content"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert victim.read_bytes() == VICTIM
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert _leftovers(tmp_path) == []


def test_dangling_symlink_at_target_does_not_create_its_destination(tmp_path: Path) -> None:
    dest = tmp_path / "elsewhere" / "created-through-link"
    dest.parent.mkdir()
    out = tmp_path / "out.log"
    out.symlink_to(dest)
    write_atomic(out, "text\n")
    assert not out.is_symlink() and out.read_bytes() == b"text\n"
    assert not dest.exists()


def test_hard_link_at_target_keeps_old_content(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    out = tmp_path / "out.corim"
    os.link(victim, out)
    write_atomic(out, b"\xd9\x01\xf5")
    assert out.read_bytes() == b"\xd9\x01\xf5"
    assert victim.read_bytes() == VICTIM


def test_symlink_planted_at_the_temporary_name_is_not_followed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker guesses the temporary name: O_EXCL refuses it, the next name is used."""
    victim = _victim(tmp_path)
    out = tmp_path / "run-qemu.sh"
    names = iter(["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".run-qemu.sh.aaaaaaaaaaaa.tmp").symlink_to(victim)
    write_atomic(out, "#!/bin/sh\n", mode=0o755)
    assert out.read_text() == "#!/bin/sh\n"
    assert victim.read_bytes() == VICTIM
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert (tmp_path / ".run-qemu.sh.aaaaaaaaaaaa.tmp").is_symlink()  # left to its owner
    assert not (tmp_path / ".run-qemu.sh.bbbbbbbbbbbb.tmp").exists()


def test_exception_mid_write_keeps_old_target_and_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_bytes(b"old")
    with pytest.raises(ValueError, match="^half way$"):
        with atomic_output(out) as f:
            f.write(b"x" * 100_000)
            raise ValueError("half way")
    assert out.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_text_mode_exception_mid_write_keeps_old_target(tmp_path: Path) -> None:
    out = tmp_path / "comid.json"
    out.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(out, text=True) as f:
            f.write("{" * 10)
            raise KeyboardInterrupt
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comid.json"]


def test_text_mode_is_utf8_and_keeps_newlines(tmp_path: Path) -> None:
    out = tmp_path / "t.txt"
    with atomic_output(out, text=True) as f:
        f.write("a\r\nb\nµ€\n")
    assert out.read_bytes() == b"a\r\nb\n\xc2\xb5\xe2\x82\xac\n"


@pytest.mark.parametrize(("mode", "umask", "expected"), [
    (0o644, 0o022, 0o644), (0o755, 0o022, 0o755), (0o755, 0o077, 0o700),
    (0o600, 0o000, 0o600), (0o666, 0o002, 0o664)])
def test_mode_is_requested_mode_less_umask(tmp_path: Path, mode: int, umask: int,
                                           expected: int) -> None:
    out = tmp_path / "f"
    out.write_bytes(b"old")
    out.chmod(0o666)  # the old file's permissions are not inherited
    old = os.umask(umask)
    try:
        write_atomic(out, b"new", mode=mode)
        assert os.umask(umask) == umask  # the umask is not changed behind our back
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == expected


def test_directory_target_is_refused_untouched(tmp_path: Path) -> None:
    d = tmp_path / "out"
    d.mkdir()
    (d / "keep").write_bytes(b"k")
    with pytest.raises(InputFileError, match=r"^cannot write .*/out: Is a directory$"):
        write_atomic(d, b"x")
    link = tmp_path / "link-to-dir"
    link.symlink_to(d)
    with pytest.raises(InputFileError, match=r": Is a directory$"):
        write_atomic(link, b"x")
    assert link.is_symlink() and (d / "keep").read_bytes() == b"k"
    assert _leftovers(tmp_path) == [] and _leftovers(d) == []


def test_device_and_fifo_targets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"^cannot write /dev/null: it is a character "
                                             r"device; rmtool writes outputs only as regular"):
        write_atomic("/dev/null", b"x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match=r": it is a FIFO; "):
        write_atomic(fifo, b"x")  # refused without opening it (opening would block)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_missing_directory(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "out.dtb"
    with pytest.raises(InputFileError,
                       match=r"^cannot write .*/no/such/out\.dtb: No such file or directory$"):
        write_atomic(out, b"x")
    assert not (tmp_path / "no").exists()


def test_error_callback_gets_the_oserror(tmp_path: Path) -> None:
    seen: list[tuple[str, int | None]] = []

    def err(path: str, exc: OSError) -> RmtoolError:
        seen.append((path, exc.errno))
        return ParametersError(f"file {path} error: {exc.strerror} (os error {exc.errno})")

    out = str(tmp_path / "missing" / "x.dtb")
    with pytest.raises(ParametersError) as info:
        write_atomic(out, b"x", error=err)
    assert seen == [(out, errno.ENOENT)]
    assert str(info.value) == (f"Cannot build parameters: file {out} error: "
                               "No such file or directory (os error 2)")


def test_oserror_of_another_file_passes_through(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError) as info:
        with atomic_output(out) as f:
            f.write(b"partial")
            (tmp_path / "absent-input").read_bytes()
    assert info.value.filename == str(tmp_path / "absent-input")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_file_and_directory_are_fsynced(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    kinds: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        kinds.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_atomic(tmp_path / "x", b"data")
    assert kinds == ["file", "dir"]


_CHILD = textwrap.dedent("""\
    import resource, sys
    from rmtool.errors import RmtoolError
    from rmtool._files import write_atomic
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
    try:
        write_atomic(sys.argv[1], b"D" * 100_000)
    except RmtoolError as exc:
        print(exc)
        sys.exit(exc.exit_code)
    """)


@pytest.mark.parametrize("old", [None, b"previous complete output"])
def test_ulimit_fsize_leaves_no_partial_file(tmp_path: Path, old: bytes | None) -> None:
    """RLIMIT_FSIZE 8 KiB (``ulimit -f 8``): the 100 kB write fails with EFBIG."""
    out = tmp_path / "big.dtb"
    if old is not None:
        out.write_bytes(old)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(out)], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == f"cannot write {out}: File too large\n"
    if old is None:
        assert not out.exists()
    else:
        assert out.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if old is None else ["big.dtb"])


# ------------------------------------------------------------------ the CLI's outputs

HOST = ("-c", "qemu-max-8.2.conf", "-c", "kvm.conf", "-k", "Image", "-i", "initrd.cpio")
KVMTOOL = ("kvmtool", "--realm", "-c", "2", "-m", "512M", "-k", "Image", "-i",
           "initrd.cpio", "--measurement-log", "-p", "console=hvc0")


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rmtool.examples import write_inputs

    d = tmp_path_factory.mktemp("examples")
    write_inputs(d)
    return d


@pytest.fixture(scope="module")
def measurements_json(example_dir: Path) -> Path:
    proc = _rmtool_under_fsize(None, ["measure", *HOST, "--format", "json", *KVMTOOL],
                               example_dir)
    assert proc.returncode == 0, proc.stderr
    path = example_dir / "m.json"
    path.write_text(proc.stdout)
    return path


_CLI_CHILD = textwrap.dedent("""\
    import resource, sys
    limit = int(sys.argv[1])
    if limit:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from rmtool.cli.main import run
    sys.exit(run(sys.argv[2:]))
    """)


def _rmtool_under_fsize(limit: int | None, argv: list[str],
                        cwd: Path) -> subprocess.CompletedProcess[str]:
    """``ulimit -f`` as RLIMIT_FSIZE in bytes (None: no limit) for one rmtool run."""
    return subprocess.run([sys.executable, "-c", _CLI_CHILD, str(limit or 0), *argv],
                          cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT),
                               "PYTHONDONTWRITEBYTECODE": "1"})


def test_measure_output_dtb_symlink_is_replaced(example_dir: Path, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    out = tmp_path / "realm.dtb"
    out.symlink_to(victim)
    proc = _rmtool_under_fsize(None, ["measure", *HOST, "--output-dtb", str(out), *KVMTOOL],
                               example_dir)
    assert proc.returncode == 0, proc.stderr
    assert not out.is_symlink()
    blob = out.read_bytes()
    assert blob[:4] == b"\xd0\x0d\xfe\xed" and len(blob) == 65536  # kvmtool's 64 KiB DTB
    assert victim.read_bytes() == VICTIM
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600


@pytest.mark.parametrize("old", [None, b"previous DTB"], ids=["new", "existing"])
def test_measure_output_dtb_under_ulimit(example_dir: Path, tmp_path: Path,
                                         old: bytes | None) -> None:
    """``ulimit -f 8`` and a 64 KiB DTB: the old code left an 8 KiB file starting with the
    FDT magic; now the command fails (the reference's DTB write error) and nothing is
    left at the target, not even a temporary file."""
    out = tmp_path / "big.dtb"
    if old is not None:
        out.write_bytes(old)
    proc = _rmtool_under_fsize(8192, ["measure", *HOST, "--output-dtb", str(out), *KVMTOOL],
                               example_dir)
    assert proc.returncode == 2
    assert proc.stderr == (f"ERROR Cannot build parameters: while generating DTB: file {out} "
                           "error: File too large (os error 27)\n")
    assert proc.stdout == ""  # the DTB is written before measuring (reference order)
    if old is None:
        assert not out.exists()
    else:
        assert out.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if old is None else ["big.dtb"])


@pytest.mark.parametrize("option", ["--emit-log", "--corim-output", "--endorsements-output"])
def test_measure_side_output_under_ulimit(example_dir: Path, tmp_path: Path,
                                          option: str) -> None:
    """The emitted log (663 bytes here), CoRIM (485) and CoMID JSON are smaller than
    8 KiB, so the limit is 256 bytes: the write fails part-way all the same."""
    out = tmp_path / "side.out"
    proc = _rmtool_under_fsize(256, ["measure", *HOST, option, str(out), *KVMTOOL],
                               example_dir)
    assert proc.returncode == 2
    assert proc.stderr == f"ERROR cannot write {out}: File too large\n"
    assert list(tmp_path.iterdir()) == []
    # without the limit the same output is larger than 256 bytes
    proc = _rmtool_under_fsize(None, ["measure", *HOST, option, str(out), *KVMTOOL],
                               example_dir)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["side.out"]


def test_realm_measurements_keeps_reference_status_for_write_errors(
        example_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "missing-dir" / "x.dtb"
    proc = subprocess.run([sys.executable, "-c",
                           "import sys; from rmtool.cli.main import run; "
                           "sys.exit(run(['measure', *sys.argv[1:]], reference_exits=True))",
                           *HOST, "--output-dtb", str(out), *KVMTOOL],
                          cwd=example_dir, capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1
    assert proc.stderr == (f"ERROR Cannot build parameters: while generating DTB: file {out} "
                           "error: No such file or directory (os error 2)\n")


@pytest.mark.parametrize("old", [None, b"previous CoRIM"], ids=["new", "existing"])
def test_corim_create_under_ulimit(example_dir: Path, measurements_json: Path,
                                   tmp_path: Path, old: bytes | None) -> None:
    out = tmp_path / "m.corim"
    if old is not None:
        out.write_bytes(old)
    argv = ["corim", "create", str(measurements_json), "-o", str(out)]
    proc = _rmtool_under_fsize(256, argv, example_dir)
    assert proc.returncode == 2
    assert proc.stderr == f"ERROR cannot write {out}: File too large (field output)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if old is None else ["m.corim"])
    if old is not None:
        assert out.read_bytes() == old
    proc = _rmtool_under_fsize(None, argv, example_dir)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:3] == b"\xd9\x01\xf5"  # CBOR tag 501 (unsigned CoRIM)
    assert out.stat().st_size > 256


def test_corim_create_symlink_is_replaced(measurements_json: Path, tmp_path: Path) -> None:
    from rmtool.cli.main import run

    victim = _victim(tmp_path)
    out = tmp_path / "m.corim"
    out.symlink_to(victim)
    assert run(["corim", "create", str(measurements_json), "-o", str(out),
                "--format", "json"]) == 0
    assert not out.is_symlink() and out.read_bytes()[:3] == b"\xd9\x01\xf5"
    assert victim.read_bytes() == VICTIM


def test_examples_inputs_and_token_do_not_follow_symlinks(example_dir: Path,
                                                          measurements_json: Path,
                                                          tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    d = tmp_path / "ex"
    d.mkdir()
    (d / "Image").symlink_to(victim)
    (d / "token.cbor").symlink_to(victim)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (["inputs", str(d)],
                 ["token", "--measurements", str(measurements_json), "--out",
                  str(d / "token.cbor"), "--key-out", str(d / "cpak.pem")]):
        proc = subprocess.run([sys.executable, "-m", "rmtool.examples", *argv], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
    assert victim.read_bytes() == VICTIM
    assert (d / "Image").read_bytes()[56:60] == b"ARM\x64"
    assert (d / "token.cbor").read_bytes()[:2] == b"\xd9\x01"  # CBOR tag 399 (CCA token)
    assert (d / "cpak.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    assert not any(p.is_symlink() for p in d.iterdir())


_WRITERS = {"write_bytes", "write_text", "chmod", "fchmod", "lchmod", "symlink_to",
            "mkstemp", "NamedTemporaryFile"}
# Writes that are not output files: the JSON replay child's pipe (rmtool/cli/_log.py).
_ALLOWED = {("rmtool/cli/_log.py", "open(write_fd, 'wb')")}


def test_every_output_goes_through_rmtool_files() -> None:
    """No module writes a file itself: ``open`` for writing, ``write_bytes``/``write_text``,
    ``chmod``, ``os.open`` with ``O_CREAT``/``O_WRONLY``/``O_RDWR`` appear only in
    rmtool/_files.py (and the allow-list above)."""
    import ast

    found = []
    for path in sorted((ROOT / "rmtool").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "rmtool/_files.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else (
                func.id if isinstance(func, ast.Name) else "")
            text = ast.unparse(node)
            bad = name in _WRITERS
            if name in ("open", "fdopen"):
                modes = list(node.args[1:2]) + [k.value for k in node.keywords
                                                       if k.arg == "mode"]
                if isinstance(func, ast.Attribute) and ast.unparse(func.value) == "os":
                    bad = any(flag in text for flag in ("O_CREAT", "O_WRONLY", "O_RDWR"))
                else:
                    bad = any(not (isinstance(m, ast.Constant) and isinstance(m.value, str)
                                   and not set(m.value) & set("wax+")) for m in modes)
            if bad and (rel, text) not in _ALLOWED:
                found.append(f"{rel}:{node.lineno}: {text}")
    assert found == []
