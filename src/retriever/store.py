"""The index folder: build, manifest, atomic replace, load with checks.

Layout of an index root (default ``index/``)::

    index/
      current -> builds/20261128T231500-1234   (symlink, swapped atomically)
      builds/20261128T231500-1234/
        clauses.jsonl   one Clause per line
        units.json      dense units: clause row + text (clauses and their sentences)
        dense.faiss     FAISS IndexFlatIP over the unit vectors
        bm25/           bm25s arrays (.npy) and vocabulary (JSON)
        bm25-duty/N/    a library's duty lists: BM25 over each list alone (manifest "duty_lists")
        manifest.json   written last: versions, model, checksums, counts, files

A build writes a fresh folder and only then repoints ``current``, so a reader
sees either the old index or the new one, never half of one, and an interrupted
build leaves the old index in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retriever import __version__
from retriever.checksums import sha256_file
from retriever.dense import DenseIndex
from retriever.dense import Kind as DenseKind
from retriever.embed import Embedder
from retriever.embedcache import CACHE_FILE, EmbeddingCache, embed_with_cache
from retriever.errors import IndexMissingError, IndexStateError
from retriever.lexical import LexicalIndex
from retriever.lexicon import Lexicon
from retriever.records import Clause, Document
from retriever.segment import SEGMENTER_VERSION, Segmenter

FORMAT_VERSION = 3
#: How much of a law item's lead-in sentence goes into its extra dense unit.
_LEAD_IN_CHARS = 80
MANIFEST = "manifest.json"
CURRENT = "current"
BUILDS = "builds"
#: Folder (inside a build) of the per-duty-list BM25 indexes of a library.
DUTY_BM25 = "bm25-duty"
REBUILD_HINT = "Run `retriever build` to rebuild the index."

# Long items are also indexed sentence by sentence, so a query that matches one
# duty among several in an item is not diluted by the rest.
_SENTENCE_SPLIT = re.compile(r"(?<=[；;。])")
_MIN_SENTENCE_CHARS = 8

Progress = Callable[[str, int, int], None]

#: One library folder, or several (``--seeds seeds --seeds ../shared/corpora/safety-sample``).
Seeds = Path | Sequence[Path]


def seed_roots(seeds: Seeds) -> list[Path]:
    """The library folders, as a list."""
    return [Path(seeds)] if isinstance(seeds, (str, Path)) else [Path(p) for p in seeds]


@dataclass(frozen=True)
class Unit:
    """A piece of text embedded for dense search, pointing back to its clause row."""

    clause: int
    text: str


@dataclass(frozen=True)
class StoredIndex:
    """An index loaded into memory and checked against its manifest."""

    root: Path
    folder: Path
    manifest: dict[str, Any]
    clauses: tuple[Clause, ...]
    units: tuple[Unit, ...]
    unit_clause: np.ndarray
    dense: DenseIndex
    lexical: LexicalIndex
    documents: tuple[Document, ...] = ()
    #: Per duty list of a library (by document id): BM25 over that list's clauses alone.
    duty_lexical: dict[str, LexicalIndex] = field(default_factory=dict)


def department_prefix(clause: Clause) -> str:
    """The context a clause carries into its embedding and BM25 text: its department."""
    return f"{clause.department}职责：" if clause.department else ""


def clause_units(clauses: Sequence[Clause]) -> list[Unit]:
    """Dense units: each whole clause, plus each sentence of multi-sentence clauses."""
    units: list[Unit] = []
    for row, clause in enumerate(clauses):
        prefix = department_prefix(clause)
        units.append(Unit(row, prefix + clause.text))
        sentences = [s.strip() for s in _SENTENCE_SPLIT.split(clause.text) if len(s.strip()) >= _MIN_SENTENCE_CHARS]
        if len(sentences) > 1:
            units.extend(Unit(row, prefix + sentence) for sentence in sentences)
        if clause.item is not None and not clause.department and clause.lead_in:
            # A law's item is read with the sentence that introduces it (…应当具备下列安全生产条件：).
            units.append(Unit(row, clause.lead_in[:_LEAD_IN_CHARS] + clause.text))
    return units


def duty_list_bm25(documents: Sequence[Document], clauses: Sequence[Clause],
                   tokenized: Sequence[Sequence[str]]) -> dict[str, LexicalIndex]:
    """For a library (more than one document): a BM25 index per duty list over its clauses alone,
    so a search can order a duty list's clauses as a search of that list alone would."""
    if len(documents) < 2:
        return {}
    out: dict[str, LexicalIndex] = {}
    for document in documents:
        if document.role == "duty_list":
            rows = [i for i, clause in enumerate(clauses) if clause.document == document.id]
            if rows:
                out[document.id] = LexicalIndex.build([tokenized[i] for i in rows])
    return out


def lexical_text(clause: Clause) -> str:
    """The text BM25 indexes for a clause: department heading plus clause text."""
    return department_prefix(clause) + clause.text


def corpus_fingerprint(seeds: Seeds) -> dict[str, Any]:
    """Checksums of every document file (and ``library.toml``), and one over all of them."""
    from retriever.library import library_files

    documents = []
    total = hashlib.sha256()
    files, _ = library_files(seed_roots(seeds))
    roots = seed_roots(seeds)
    extra = [(r / "library.toml", r) for r in roots if (r / "library.toml").is_file()]
    for path, folder in [*files, *extra]:
        digest = sha256_file(path)
        name = path.relative_to(folder).as_posix()
        if len(roots) > 1:
            name = f"{folder.name}/{name}"
        documents.append({"id": path.stem, "file": name, "sha256": digest})
        total.update(f"{name}\0{digest}\n".encode())
    return {"checksum": total.hexdigest(), "documents": documents}


def _bodies_checksum() -> str:
    from retriever.bodies import default_body_vocabulary

    return str(default_body_vocabulary().checksum)


def with_bodies(clauses: Sequence[Clause], documents: Sequence[Document]) -> list[Clause]:
    """Clauses with the bodies they make responsible in ``departments``.

    A duty list names the department in the article heading; a law names the body in
    its text (``县级以上地方各级人民政府应急管理部门……实施综合监督管理``), which
    :func:`retriever.bodies.extract_bodies` reads.
    """
    from dataclasses import replace

    from retriever.bodies import extract_bodies, extract_item_bodies

    roles = {d.id: d.role for d in documents}
    # An item completes the paragraph that introduces it (……的部门行使以下职权：).
    lead_ins = {(c.document, c.article, c.paragraph): c.text for c in clauses if c.item is None}
    out = []
    for clause in clauses:
        if clause.department:
            departments: tuple[str, ...] = (clause.department,)
        elif roles.get(clause.document) == "duty_list":
            departments = ()
        elif clause.item is not None:
            lead_in = clause.lead_in or lead_ins.get((clause.document, clause.article, clause.paragraph), "")
            departments = tuple(extract_item_bodies(clause.text, lead_in))
        else:
            departments = tuple(extract_bodies(clause.text))
        out.append(clause if clause.departments == departments else replace(clause, departments=departments))
    return out


@contextlib.contextmanager
def _build_lock(root: Path) -> Iterator[None]:
    """One build at a time per index root (a second one waits); clears dead builds' leftovers.

    Raises:
        IndexStateError: the index folder cannot be written (permissions, read-only disk).
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = (root / ".build.lock").open("w")
    except OSError as exc:
        raise _unwritable(root, exc) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            builds = root / BUILDS
            try:
                builds.mkdir(exist_ok=True)
                _probe_write(builds)
            except OSError as exc:
                raise _unwritable(builds, exc) from exc
            _remove_stale_tmp(root)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unwritable(folder: Path, exc: OSError) -> IndexStateError:
    reason = exc.strerror or str(exc)
    return IndexStateError(f"cannot write the index folder {folder}: {reason}.",
                           f"Make it writable (e.g. `chmod -R u+w {folder}`) or build elsewhere with --index DIR.")


def _probe_write(folder: Path) -> None:
    """Create and remove a file in ``folder``: raises OSError when it cannot be written."""
    probe = folder / f".write-probe-{os.getpid()}"
    probe.touch()
    probe.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


#: A ``.tmp-*`` folder older than this is removed even if its pid is alive (the pid was reused).
STALE_TMP_SECONDS = 24 * 3600


def _remove_stale_tmp(root: Path) -> None:
    """Delete ``.tmp-*`` builds and ``current`` links left by builds that died (called under the lock).

    Their names end in the builder's pid: a folder whose process is gone (or is this
    process, which holds the lock) is a leftover; a live other pid's is kept unless
    it is older than :data:`STALE_TMP_SECONDS`.
    """
    now = time.time()
    # A build's scratch vectors (``.vectors-<uuid>-<pid>``) are in use until that build has its
    # dense index, outside the lock: only a dead process's are leftovers.
    for path in (root / BUILDS).glob(".vectors-*"):
        pid_text = path.name.rsplit("-", 1)[-1]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    leftovers = [p for p in (root / BUILDS).glob(".tmp-*")] + list(root.glob(f".{CURRENT}.tmp-*"))
    for path in leftovers:
        pid_text = path.name.rsplit("-", 1)[-1]
        pid = int(pid_text) if pid_text.isdigit() else -1
        try:
            age = now - path.lstat().st_mtime
        except FileNotFoundError:
            continue
        if pid > 0 and pid != os.getpid() and _pid_alive(pid) and age < STALE_TMP_SECONDS:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def build_index(
    seeds_dir: Seeds,
    root: Path,
    embedder: Embedder,
    lexicon: Lexicon,
    segmenter: Segmenter,
    *,
    progress: Progress | None = None,
    strict: bool = False,
    dense_kind: DenseKind = "auto",
    store: str | None = None,
) -> dict[str, Any]:
    """Read the library, embed and index it, and swap the result into ``root``.

    Unit vectors come from the embedding cache beside the index (``embeddings.sqlite``)
    when the same model has embedded the same text before, so a one-document change
    re-embeds only that document and an interrupted build resumes.

    Args:
        seeds_dir: the library folder(s): .txt, .md, .docx and .pdf files, read recursively.
        root: the index root (``index/``).
        embedder: encodes the clause units.
        lexicon: recorded in the manifest (its checksum makes the index stale when it changes).
        segmenter: tokenises clauses for BM25.
        progress: called as ``progress(stage, done, total)``.
        strict: refuse to build when the parser reports numbering problems.
        dense_kind: the vector index: ``auto`` (exact below
            :data:`retriever.dense.APPROXIMATE_THRESHOLD` units, approximate above), ``flat``,
            ``hnsw`` or ``ivf``; recorded in the manifest.
        store: also fill the Milvus store at this URI (:func:`retriever.stores.select.fill_store`)
            and record it in the manifest; ``None`` (the default): FAISS only.

    Returns:
        The manifest written.

    Raises:
        SeedError: a file is unreadable or holds no articles, or (strict) has problems.
    """
    from retriever.errors import SeedError
    from retriever.library import load_library

    started = time.perf_counter()
    if progress:
        progress("parse", 0, 1)
    library = load_library(seed_roots(seeds_dir))
    problems = list(library.problems)
    if strict and problems:
        raise SeedError("the library has numbering problems (articles or items out of order, "
                        "repeated or skipped):\n" + "\n".join(problems),
                        "Check those documents against their published text, or build without --strict.")
    documents = list(library.documents)
    clauses = with_bodies(library.clauses, documents)
    if progress:
        progress("parse", 1, 1)
    units = clause_units(clauses)
    timings = {"parse": round(time.perf_counter() - started, 3)}
    root.mkdir(parents=True, exist_ok=True)
    (root / BUILDS).mkdir(exist_ok=True)
    # Vectors go to a disk-backed matrix as they are produced (from the cache or the model),
    # and from it into FAISS in slices: memory holds them once, in the index.
    # Unique per build (threads of one process may build at once); the pid ends the name so
    # that a dead build's leftover is cleared (see _remove_stale_tmp).
    scratch = root / BUILDS / f".vectors-{uuid.uuid4().hex}-{os.getpid()}"
    clause_vectors: np.ndarray | None = None
    try:
        matrix = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32,
                                           shape=(len(units), embedder.dimension))
        with EmbeddingCache(root / CACHE_FILE, getattr(embedder, "cache_id", embedder.model_id),
                            embedder.dimension) as cache:
            _, embedded = embed_with_cache(
                [u.text for u in units], embedder.encode_clauses, embedder.dimension, cache, out=matrix,
                progress=(lambda done, total: progress("embed", done, total)) if progress else None)
        timings["embed"] = round(time.perf_counter() - started - sum(timings.values()), 3)
        if progress:
            progress("vectors", 0, len(units))
        dense = DenseIndex.build(matrix, kind=dense_kind)
        if store is not None:  # the Milvus store keeps each clause's whole-clause unit (its first)
            from retriever.stores.select import whole_clause_units

            first = whole_clause_units(np.array([u.clause for u in units], np.int64), len(clauses))
            clause_vectors = np.array(matrix[first])
        del matrix
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()
    timings["dense"] = round(time.perf_counter() - started - sum(timings.values()), 3)
    if progress:
        progress("vectors", len(units), len(units))
        progress("bm25", 0, len(clauses))
    tokenized = segmenter.tokens_many([lexical_text(c) for c in clauses])
    lexical = LexicalIndex.build(tokenized)
    duty_lexical = duty_list_bm25(documents, clauses, tokenized)
    timings["bm25"] = round(time.perf_counter() - started - sum(timings.values()), 3)
    if progress:
        progress("bm25", len(clauses), len(clauses))
    store_entry: dict[str, Any] = {}
    if store is not None and clause_vectors is not None:
        from retriever.stores.select import fill_store

        store_entry = fill_store(store, clauses, documents, clause_vectors, np.arange(len(clauses), dtype=np.int64),
                                 model_id=embedder.model_id, tokens=tokenized)
        timings["store"] = round(time.perf_counter() - started - sum(timings.values()), 3)

    with _build_lock(root):
        builds = root / BUILDS
        builds.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        tmp = builds / f".tmp-{stamp}-{os.getpid()}"
        final = builds / f"{stamp}-{os.getpid()}"
        try:
            tmp.mkdir()
            with (tmp / "clauses.jsonl").open("w", encoding="utf-8") as handle:
                for clause in clauses:
                    handle.write(json.dumps(asdict(clause), ensure_ascii=False) + "\n")
            with (tmp / "documents.jsonl").open("w", encoding="utf-8") as handle:
                for document in documents:
                    handle.write(json.dumps(asdict(document), ensure_ascii=False) + "\n")
            (tmp / "units.json").write_text(
                json.dumps([{"clause": u.clause, "text": u.text} for u in units], ensure_ascii=False),
                encoding="utf-8")
            dense.save(tmp / "dense.faiss")
            lexical.save(tmp / "bm25")
            duty_entries = []
            for position, (document_id, duty) in enumerate(duty_lexical.items()):
                (tmp / DUTY_BM25).mkdir(exist_ok=True)
                duty.save(tmp / DUTY_BM25 / str(position))
                duty_entries.append({"document": document_id, "folder": f"{DUTY_BM25}/{position}",
                                     "clauses": duty.size})
            files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            manifest = {
                "format_version": FORMAT_VERSION,
                "package_version": __version__,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "build_seconds": round(time.perf_counter() - started, 3),
                "stage_seconds": timings,
                "model": {"id": embedder.model_id, "dimension": embedder.dimension},
                "dense": dense.describe(),
                "segmenter": {"version": SEGMENTER_VERSION, "checksum": segmenter.checksum},
                "lexicon": {"checksum": lexicon.checksum},
                "bodies": {"checksum": _bodies_checksum()},
                "corpus": corpus_fingerprint(seeds_dir),
                "library": {
                    "region": library.region,
                    "documents": [{"id": d.id, "source": d.source, "sha256": d.sha256, "role": d.role,
                                   "level": d.level, "region": d.region, "superseded_by": d.superseded_by}
                                  for d in documents],
                },
                "counts": {
                    "documents": len(documents),
                    "clauses": len(clauses),
                    "units": len(units),
                    "units_embedded": embedded,
                    "units_from_cache": len(units) - embedded,
                    "departments": len({c.department for c in clauses if c.department}),
                },
                "duty_lists": duty_entries,
                "parse_problems": problems,
                "warnings": list(library.warnings),
                "files": files,
                **({"store": store_entry} if store_entry else {}),
            }
            # The manifest is written last: a folder without one is an unfinished build.
            _write_json_durably(tmp / MANIFEST, manifest)
            os.replace(tmp, final)
            _point_current(root, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        _remove_old_builds(root, keep=final)
    return manifest


def _write_json_durably(path: Path, data: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())


def _point_current(root: Path, target: Path) -> None:
    """Atomically repoint ``root/current`` at ``target`` (symlink + rename)."""
    link = root / f".{CURRENT}.tmp-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target.relative_to(root))
    os.replace(link, root / CURRENT)


#: Lock file inside a build folder: readers hold it shared while they load the build.
READERS_LOCK = ".readers.lock"


def _open_readers_lock(folder: Path) -> int:
    """An fd on ``folder``'s readers lock (created if missing). FileNotFoundError if the folder is gone."""
    path = folder / READERS_LOCK
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (PermissionError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        return os.open(path, os.O_RDONLY)  # a read-only index: flock works on a read-only fd too


def _remove_old_builds(root: Path, keep: Path) -> None:
    """Delete finished builds other than ``keep`` and ``current``'s, unless a reader holds one.

    A reader holds a shared lock on the build's :data:`READERS_LOCK` while it
    loads; a build that is held is left for a later build to remove.
    """
    kept = {keep.resolve()}
    with contextlib.suppress(OSError):
        kept.add((root / CURRENT).resolve(strict=True))
    for folder in (root / BUILDS).iterdir():
        if folder.name.startswith(".") or not folder.is_dir() or folder.resolve() in kept:
            continue
        try:
            fd = _open_readers_lock(folder)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(fd)  # closing releases the lock; a reader waiting on it finds the folder gone


def _current_folder(root: Path) -> Path:
    """The build folder ``root`` serves now, resolved once.

    Raises:
        IndexMissingError: there is no index.
        IndexStateError: ``current`` points at a build that does not exist.
    """
    current = root / CURRENT
    if current.is_symlink() and not current.exists():
        target = os.readlink(current)
        raise IndexStateError(
            f"the index link {current} points at {target}, which does not exist (that build was removed).",
            f"Run `retriever build --index {root}` to build a fresh index, or point the link at an existing "
            f"build: `ln -sfn builds/<name> {current}`.")
    if not current.exists():
        if root.is_dir() and (root / MANIFEST).exists():
            return root.resolve()  # a plain folder holding one build also loads
        raise IndexMissingError(f"no index in {root}.", REBUILD_HINT)
    return current.resolve()


@contextlib.contextmanager
def _hold_build(root: Path, attempts: int = 50) -> Iterator[Path]:
    """Resolve ``current`` once and hold that build (shared lock) so no builder deletes it meanwhile.

    A builder may remove the resolved folder between resolving and locking; then
    ``current`` is resolved again (it points at the newer build by then).
    """
    for _ in range(attempts):
        folder = _current_folder(root)
        try:
            fd = _open_readers_lock(folder)
        except FileNotFoundError:
            continue
        except OSError:  # no lock possible (e.g. read-only and never locked): nothing deletes it either
            yield folder
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            try:
                same = os.stat(folder / READERS_LOCK).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # removed while we waited for the lock
                continue
            yield folder
            return
        finally:
            os.close(fd)
    raise IndexStateError(f"the index in {root} kept changing while it was being opened.",
                          "Try again when the running builds have finished.")


def read_manifest(root: Path) -> tuple[Path, dict[str, Any]]:
    """The current build folder and its manifest.

    Raises:
        IndexStateError: no index, a dangling ``current``, an unfinished build, or an unreadable manifest.
    """
    folder = _current_folder(root)
    return folder, _read_manifest_in(folder)


def _read_manifest_in(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.exists():
        raise IndexStateError(f"index {folder} has no {MANIFEST}: the build was interrupted or files were removed.",
                              REBUILD_HINT)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except PermissionError as exc:
        raise IndexStateError(f"index manifest {path} cannot be read: permission denied.",
                              f"Make the index readable (e.g. `chmod -R u+r {folder}`).") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexStateError(f"index manifest {path} is corrupt ({exc}).", REBUILD_HINT) from exc
    if not isinstance(manifest, dict):
        raise IndexStateError(f"index manifest {path} is not a JSON object.", REBUILD_HINT)
    return manifest


def _check_file_name(name: object, folder: Path) -> str:
    """A manifest file entry must be a relative path that stays inside the build folder."""
    text = name if isinstance(name, str) else ""
    parts = text.split("/")
    plain = (bool(text) and "\\" not in text and "\0" not in text and not text.startswith("/")
             and all(part not in ("", ".", "..") for part in parts))
    if plain:
        try:
            plain = (folder / text).resolve().is_relative_to(folder.resolve())
        except (OSError, ValueError):
            plain = False
    if not plain:
        shown = repr(name)[:100]
        raise IndexStateError(f"index manifest in {folder} lists {shown}, which is not a file inside the index "
                              "folder (refused).", REBUILD_HINT)
    return text


def check_manifest(
    manifest: dict[str, Any],
    folder: Path,
    *,
    seeds_dir: Seeds | None = None,
    lexicon: Lexicon | None = None,
    segmenter: Segmenter | None = None,
    model_id: str | None = None,
) -> None:
    """Compare a manifest with the files beside it and with what the caller will use.

    Raises:
        IndexStateError: naming the first mismatch and what to run.
    """
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexStateError(
            f"index format version {version!r} in {folder} is not the supported version {FORMAT_VERSION} "
            f"(built by retriever {manifest.get('package_version', '?')}, this is {__version__}).", REBUILD_HINT)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise IndexStateError(f"index manifest in {folder} lists no files.", REBUILD_HINT)
    for name in files:
        _check_file_name(name, folder)
    for name in files:
        if not (folder / name).is_file():
            raise IndexStateError(f"index file {folder / name} is missing.", REBUILD_HINT)
    for name, digest in files.items():
        path = folder / name
        try:
            actual = sha256_file(path)
        except PermissionError as exc:
            raise IndexStateError(f"index file {path} cannot be read: permission denied.",
                                  f"Make the index readable (e.g. `chmod -R u+r {folder}`).") from exc
        if actual != digest:
            raise IndexStateError(f"index file {path} is corrupt (its checksum does not match the manifest).",
                                  REBUILD_HINT)
    if seeds_dir is not None:
        built = manifest.get("corpus", {})
        now = corpus_fingerprint(seeds_dir)
        if built.get("checksum") != now["checksum"]:
            old = {d["file"]: d["sha256"] for d in built.get("documents", [])}
            new = {d["file"]: d["sha256"] for d in now["documents"]}
            changes = [f"{f} added" for f in new if f not in old]
            changes += [f"{f} removed" for f in old if f not in new]
            changes += [f"{f} changed" for f in new if f in old and old[f] != new[f]]
            where = ", ".join(str(r) for r in seed_roots(seeds_dir))
            raise IndexStateError(f"the index is stale: the seeds in {where} changed since it was built "
                                  f"({', '.join(changes) or 'contents differ'}).", REBUILD_HINT)
    if lexicon is not None and manifest.get("lexicon", {}).get("checksum") != lexicon.checksum:
        raise IndexStateError(f"the index is stale: the lexicon {lexicon.source} changed since it was built.",
                              REBUILD_HINT)
    built_bodies = manifest.get("bodies", {}).get("checksum")
    if lexicon is not None and built_bodies is not None and built_bodies != _bodies_checksum():
        raise IndexStateError("the index is stale: the responsible-body word list (data/bodies.toml) changed "
                              "since it was built.", REBUILD_HINT)
    if segmenter is not None and manifest.get("segmenter", {}).get("checksum") != segmenter.checksum:
        raise IndexStateError("the index is stale: it was built with a different segmenter.", REBUILD_HINT)
    built_model = manifest.get("model", {}).get("id")
    if model_id is not None and built_model != model_id:
        raise IndexStateError(f"the index was built with model {built_model!r}, but {model_id!r} is requested.",
                              f"Run `retriever build --model {model_id}` or use the model the index was built with.")


def load_index(
    root: Path,
    *,
    seeds_dir: Seeds | None = None,
    lexicon: Lexicon | None = None,
    segmenter: Segmenter | None = None,
    model_id: str | None = None,
) -> StoredIndex:
    """Load the current index from ``root`` after checking it (see :func:`check_manifest`).

    Raises:
        IndexStateError: the index is missing, stale, corrupt or of an unknown format.
    """
    with _hold_build(root) as folder:
        return _load_folder(root, folder, seeds_dir=seeds_dir, lexicon=lexicon, segmenter=segmenter,
                            model_id=model_id)


def _load_folder(
    root: Path,
    folder: Path,
    *,
    seeds_dir: Seeds | None,
    lexicon: Lexicon | None,
    segmenter: Segmenter | None,
    model_id: str | None,
) -> StoredIndex:
    manifest = _read_manifest_in(folder)
    check_manifest(manifest, folder, seeds_dir=seeds_dir, lexicon=lexicon, segmenter=segmenter, model_id=model_id)
    try:
        with (folder / "clauses.jsonl").open(encoding="utf-8") as handle:
            clauses = tuple(_clause_from_json(json.loads(line)) for line in handle if line.strip())
        documents: tuple[Document, ...] = ()
        if (folder / "documents.jsonl").is_file():
            with (folder / "documents.jsonl").open(encoding="utf-8") as handle:
                documents = tuple(_document_from_json(json.loads(line)) for line in handle if line.strip())
        units = tuple(Unit(int(u["clause"]), str(u["text"]))
                      for u in json.loads((folder / "units.json").read_text(encoding="utf-8")))
        dense = DenseIndex.load(folder / "dense.faiss")
        lexical = LexicalIndex.load(folder / "bm25")
        # (An index built before duty lists had their own BM25 has none: the searcher builds them.)
        duty_lexical = {str(entry["document"]): LexicalIndex.load(folder / str(entry["folder"]))
                        for entry in manifest.get("duty_lists", ())}
    except PermissionError as exc:
        raise IndexStateError(f"index {folder} cannot be read: permission denied ({exc.filename}).",
                              f"Make the index readable (e.g. `chmod -R u+r {folder}`).") from exc
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise IndexStateError(f"index {folder} cannot be read ({exc}).", REBUILD_HINT) from exc
    dimension = manifest.get("model", {}).get("dimension")
    if dense.size != len(units) or dense.dimension != dimension or lexical.size != len(clauses):
        raise IndexStateError(
            f"index {folder} is inconsistent: {dense.size} vectors of dimension {dense.dimension} for "
            f"{len(units)} units (manifest says {dimension}), {lexical.size} BM25 rows for {len(clauses)} clauses.",
            REBUILD_HINT)
    unit_clause = np.fromiter((u.clause for u in units), dtype=np.int64, count=len(units))
    return StoredIndex(root=root, folder=folder, manifest=manifest, clauses=clauses, units=units,
                       unit_clause=unit_clause, dense=dense, lexical=lexical, documents=documents,
                       duty_lexical=duty_lexical)


def _clause_from_json(data: dict[str, Any]) -> Clause:
    data["departments"] = tuple(data.get("departments") or ())
    return Clause(**data)


def _document_from_json(data: dict[str, Any]) -> Document:
    data["header"] = tuple(data.get("header") or ())
    return Document(**data)
