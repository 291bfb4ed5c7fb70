"""A swap no reader can trip on: readers hold their build, builds serialise, dead builds' leftovers
go, manifest paths stay inside the build, a dangling ``current`` and unwritable folders are errors
with the fix.

A small seed (the first articles of the real one) keeps each build well under a second.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from retriever import store
from retriever.errors import IndexStateError
from retriever.lexicon import Lexicon, load_lexicon
from retriever.search import open_searcher
from retriever.segment import Segmenter
from retriever.store import BUILDS, CURRENT, MANIFEST, build_index, load_index, read_manifest

from .conftest import ROOT, SEED_FILE, FakeEmbedder

#: The reader process: loads the index in a loop until told to stop; prints what happened.
READER = """
import json, sys
from pathlib import Path
from retriever.store import load_index
root, stop, ready = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
loads, errors = 0, []
while not stop.exists() and loads < 200000:
    try:
        index = load_index(root)
        assert len(index.clauses) > 0 and index.dense.size == len(index.units)
        loads += 1
        if loads == 1:
            ready.touch()
    except Exception as exc:
        errors.append(repr(exc)[:300])
print(json.dumps({"loads": loads, "errors": errors}))
"""

#: A build that kills itself (SIGKILL) in the middle of writing its folder.
KILLED_BUILD = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.conftest import FakeEmbedder
from retriever import dense, lexical
from retriever.lexicon import load_lexicon
from retriever.segment import Segmenter
from retriever.store import build_index
target = {{"dense": dense.DenseIndex, "bm25": lexical.LexicalIndex}}[sys.argv[3]]
original = target.save
def save_then_die(self, path):
    original(self, path)
    os.kill(os.getpid(), signal.SIGKILL)
target.save = save_then_die
lexicon = load_lexicon()
build_index(Path(sys.argv[1]), Path(sys.argv[2]), FakeEmbedder(), lexicon, Segmenter(lexicon.user_words()))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


@pytest.fixture(scope="module")
def segmenter(lexicon: Lexicon) -> Segmenter:
    return Segmenter(lexicon.user_words())


@pytest.fixture
def small_seeds(tmp_path: Path) -> Path:
    """The seed's title and first chapter (seven articles)."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    lines = SEED_FILE.read_text(encoding="utf-8").splitlines()[:20]
    (folder / SEED_FILE.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _build(seeds: Path, root: Path, lexicon: Lexicon, segmenter: Segmenter) -> dict:
    return build_index(seeds, root, FakeEmbedder(), lexicon, segmenter)


def _builds(root: Path) -> list[str]:
    return sorted(p.name for p in (root / BUILDS).iterdir() if not p.name.startswith(".write-probe"))


def test_readers_never_fail_during_50_concurrent_rebuilds(
    tmp_path: Path, small_seeds: Path, lexicon: Lexicon, segmenter: Segmenter
) -> None:
    root = tmp_path / "index"
    first = _build(small_seeds, root, lexicon, segmenter)
    assert first["counts"]["clauses"] >= 5
    stop = tmp_path / "stop"
    ready = [tmp_path / f"ready-{n}" for n in range(2)]
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(root), str(stop), str(flag)], env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for flag in ready]
    for _ in range(1200):  # bounded: until both readers are loading (at most 120 s)
        if all(flag.exists() for flag in ready) or any(r.poll() is not None for r in readers):
            break
        time.sleep(0.1)
    failures: list[BaseException] = []

    def builder() -> None:
        try:
            for _ in range(10):
                _build(small_seeds, root, lexicon, segmenter)
        except BaseException as exc:
            failures.append(exc)

    builders = [threading.Thread(target=builder) for _ in range(5)]  # 5 × 10 = 50 builds racing
    try:
        for thread in builders:
            thread.start()
        for thread in builders:
            thread.join(timeout=600)
        loads_during_builds = [flag.exists() for flag in ready]
        stop.touch()
        results = []
        for reader in readers:
            out, err = reader.communicate(timeout=120)
            assert reader.returncode == 0, err[-2000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        stop.touch()  # a failing assertion must not leave the readers looping
        for reader in readers:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
    assert not failures, failures[:1]
    assert all(loads_during_builds) and all(result["loads"] > 0 for result in results), results
    assert [error for result in results for error in result["errors"]] == []
    # With no reader left, the next build leaves exactly one build and nothing temporary.
    _build(small_seeds, root, lexicon, segmenter)
    assert len(_builds(root)) == 1
    assert (root / BUILDS / _builds(root)[0]).resolve() == (root / CURRENT).resolve()


def test_a_held_build_is_not_deleted_until_released(
    tmp_path: Path, small_seeds: Path, lexicon: Lexicon, segmenter: Segmenter
) -> None:
    root = tmp_path / "index"
    _build(small_seeds, root, lexicon, segmenter)
    with store._hold_build(root) as held:
        _build(small_seeds, root, lexicon, segmenter)
        assert held.is_dir() and (held / MANIFEST).is_file()  # a reader is on it: kept
        assert held != (root / CURRENT).resolve()
    _build(small_seeds, root, lexicon, segmenter)
    assert not held.exists()
    assert len(_builds(root)) == 1


@pytest.mark.parametrize("moment", ["dense", "bm25"])
def test_killed_builds_leave_no_tmp_after_the_next_build(
    tmp_path: Path, small_seeds: Path, lexicon: Lexicon, segmenter: Segmenter, moment: str
) -> None:
    root = tmp_path / "index"
    _build(small_seeds, root, lexicon, segmenter)
    before = load_index(root)
    killed = subprocess.run([sys.executable, "-c", KILLED_BUILD.format(root=str(ROOT)), str(small_seeds), str(root),
                             moment], env=_env(), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    leftovers = [name for name in _builds(root) if name.startswith(".tmp-")]
    assert leftovers, "the killed build should have left its temporary folder"
    assert load_index(root).folder == before.folder  # the old index still answers
    _build(small_seeds, root, lexicon, segmenter)
    assert [name for name in _builds(root) if name.startswith(".tmp-")] == []
    assert not list(root.glob(f".{CURRENT}.tmp-*"))


def test_a_dead_builds_scratch_vectors_are_removed_and_a_live_ones_kept(
    tmp_path: Path, small_seeds: Path, lexicon: Lexicon, segmenter: Segmenter
) -> None:
    root = tmp_path / "index"
    _build(small_seeds, root, lexicon, segmenter)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = root / BUILDS / f".vectors-feed-{dead.stdout.strip()}"
    live = root / BUILDS / f".vectors-beef-{os.getppid()}"
    gone.write_bytes(b"x")
    live.write_bytes(b"x")
    _build(small_seeds, root, lexicon, segmenter)
    assert not gone.exists() and live.exists()


def test_a_live_builds_tmp_folder_is_kept(tmp_path: Path, small_seeds: Path, lexicon: Lexicon,
                                          segmenter: Segmenter) -> None:
    root = tmp_path / "index"
    _build(small_seeds, root, lexicon, segmenter)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        theirs = root / BUILDS / f".tmp-20260101T000000000000-{alive.pid}"
        theirs.mkdir()
        _build(small_seeds, root, lexicon, segmenter)
        assert theirs.is_dir()  # its builder is still running
    finally:
        alive.kill()
        alive.wait(timeout=30)
    _build(small_seeds, root, lexicon, segmenter)
    assert not theirs.exists()


@pytest.mark.parametrize("entry", ["../../../../etc/hostname", "/etc/hostname", "bm25/../../../x", "", "a\\b",
                                   "./clauses.jsonl", "escape"])
def test_manifest_paths_outside_the_build_are_refused(
    tmp_path: Path, small_seeds: Path, lexicon: Lexicon, segmenter: Segmenter, entry: str
) -> None:
    root = tmp_path / "index"
    _build(small_seeds, root, lexicon, segmenter)
    folder, manifest = read_manifest(root)
    (folder / "escape").symlink_to("/etc/hostname")  # a link inside the folder that leads out of it
    manifest["files"][entry] = "0" * 64
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStateError, match="not a file inside the index folder"):
        load_index(root)


def test_a_dangling_current_is_an_error_with_the_fix_not_a_rebuild(
    tmp_path: Path, small_seeds: Path, lexicon: Lexicon, segmenter: Segmenter
) -> None:
    root = tmp_path / "index"
    _build(small_seeds, root, lexicon, segmenter)
    folder, _ = read_manifest(root)
    for path in sorted(folder.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    folder.rmdir()
    with pytest.raises(IndexStateError, match="does not exist") as caught:
        load_index(root)
    assert "retriever build" in caught.value.hint and "ln -sfn" in caught.value.hint
    embedder = FakeEmbedder()
    with pytest.raises(IndexStateError, match="does not exist"):
        open_searcher(root, seeds_dir=small_seeds, build_if_missing=True, embedder=embedder)
    assert embedder.calls == 0  # nothing was rebuilt behind the user's back
    _build(small_seeds, root, lexicon, segmenter)  # the fix the message names works
    assert len(load_index(root).clauses) > 0


def test_an_unwritable_index_folder_is_a_message(
    tmp_path: Path, small_seeds: Path, lexicon: Lexicon, segmenter: Segmenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(folder: Path) -> None:
        raise PermissionError(13, "Permission denied", str(folder))

    monkeypatch.setattr(store, "_probe_write", refuse)
    with pytest.raises(IndexStateError, match=r"cannot write the index folder .*Permission denied") as caught:
        _build(small_seeds, tmp_path / "index", lexicon, segmenter)
    assert "chmod" in caught.value.hint


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_builds_folder_for_real(tmp_path: Path, small_seeds: Path, lexicon: Lexicon,
                                              segmenter: Segmenter) -> None:
    root = tmp_path / "index"
    (root / BUILDS).mkdir(parents=True)
    (root / BUILDS).chmod(0o500)
    try:
        with pytest.raises(IndexStateError, match="cannot write"):
            _build(small_seeds, root, lexicon, segmenter)
    finally:
        (root / BUILDS).chmod(0o700)
