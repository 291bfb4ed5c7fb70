"""Folders of regulation files → a :class:`Library` of documents and clauses.

:func:`load_library` walks one or more folders recursively, reads every supported file
with :func:`retriever.readers.read_document` (unknown extensions are skipped with one
warning line each), parses it with :func:`retriever.parse.parse_text`, and builds one
:class:`~retriever.records.Document` per file: id (the file stem, unique across the
library), title, short name, level, region, version date, role, header, source,
format, sha256, and ``superseded_by`` when a newer version of the same regulation (same
short name, later version date) is in the library. With more than one document, clause
ids are prefixed ``<doc-id>#``.

An optional ``library.toml`` in a folder's root overrides what is inferred::

    region = "新疆维吾尔自治区"          # the library's home region

    [documents."000_0181f60559a07f58"]  # by document id (the file stem)
    role = "duty_list"                  # duty_list | law | implementing_rule
    region = "新疆维吾尔自治区"
    level = "provincial"                # national | provincial | city | unknown
    priority = 1                        # an integer ranking nudge (default 0)
    short_name = "…"                    # the name citations use (default: from the title)

    [folders."local/北京"]               # every document under this relative folder
    region = "北京市"
    level = "provincial"

A document's own table beats its folder's, and a deeper folder beats a shallower one.
Unknown keys or values are a :class:`~retriever.errors.SeedError` that names the fix.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from retriever.errors import SeedError
from retriever.parse import ParsedRegulation, parse_text
from retriever.readers import SUPPORTED, read_document
from retriever.records import LEVELS, ROLES, Clause, Document, Level, Role

#: The optional per-folder configuration file.
CONFIG_NAME = "library.toml"

_CONFIG_KEYS = {"region", "documents", "folders"}
_OVERRIDE_KEYS = {"role", "region", "level", "priority", "short_name"}

#: Provinces, autonomous regions, municipalities and SARs: full name ← short forms.
PROVINCES: dict[str, tuple[str, ...]] = {
    "北京市": ("北京",), "天津市": ("天津",), "上海市": ("上海",), "重庆市": ("重庆",),
    "河北省": ("河北",), "山西省": ("山西",), "辽宁省": ("辽宁",), "吉林省": ("吉林",),
    "黑龙江省": ("黑龙江",), "江苏省": ("江苏",), "浙江省": ("浙江",), "安徽省": ("安徽",),
    "福建省": ("福建",), "江西省": ("江西",), "山东省": ("山东",), "河南省": ("河南",),
    "湖北省": ("湖北",), "湖南省": ("湖南",), "广东省": ("广东",), "海南省": ("海南",),
    "四川省": ("四川",), "贵州省": ("贵州",), "云南省": ("云南",), "陕西省": ("陕西",),
    "甘肃省": ("甘肃",), "青海省": ("青海",), "台湾省": ("台湾",),
    "内蒙古自治区": ("内蒙古",), "广西壮族自治区": ("广西",), "西藏自治区": ("西藏",),
    "宁夏回族自治区": ("宁夏",), "新疆维吾尔自治区": ("新疆",),
    "香港特别行政区": ("香港",), "澳门特别行政区": ("澳门",),
}
_NATIONAL_PREFIXES = ("中华人民共和国", "全国人民代表大会", "国务院", "最高人民法院", "最高人民检察院",
                      "中共中央", "中央")
_NATIONAL_ISSUERS = ("全国人民代表大会", "国务院", "最高人民法院", "最高人民检察院", "部令", "总局令",
                     "中央军事委员会")
_CITY = re.compile(r"^([\u4e00-\u9fff]{2,9}?(?:经济特区|自治州|自治县|市|县|盟))")
_ISSUER_PLACE = re.compile(
    r"(?:日|\s|^)\s*([\u4e00-\u9fff]{2,9}?(?:省|自治区|市|自治州|自治县|县))第[\u4e00-\u9fff]+届")
_PILOT_ZONE = re.compile(r"^中国[（(]([\u4e00-\u9fff]{2,3})[）)]")
_LOCAL_ISSUER = re.compile(r"[省市州区县]第?[\u4e00-\u9fff]*人民代表大会|[省市州区县]人民政府")
_STEM_DATE = re.compile(r"\((\d{4}-\d{2}-\d{2})\)$")
_TEXT_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
# 实施细则, 实施办法, 实施条例, and 实施《…法》办法 / 实施《…法》的规定.
_IMPLEMENTING = re.compile(r"实施(?:《[^》]*》)?的?(?:细则|办法|条例|规定)")


@dataclass(frozen=True)
class Library:
    """Every document of a library and their clauses.

    Attributes:
        documents: one per file, sorted by source path.
        clauses: every document's clauses in order, ids prefixed ``<doc-id>#`` when
            there is more than one document.
        problems: parser problems, each ``"FILE:LINE: message"``.
        warnings: files skipped (unknown extension, no articles) and config notes.
        region: the home region from ``library.toml``, or None.
    """

    documents: tuple[Document, ...]
    clauses: tuple[Clause, ...]
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    region: str | None = None

    def document(self, document_id: str) -> Document:
        """The document with this id.

        Raises:
            KeyError: no such document.
        """
        for document in self.documents:
            if document.id == document_id:
                return document
        raise KeyError(document_id)


@dataclass(frozen=True)
class _Settings:
    """The validated overrides of one ``library.toml``."""

    region: str | None
    documents: dict[str, dict[str, Any]]
    folders: dict[str, dict[str, Any]]


def library_files(folders: list[Path]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Every supported file under the folders, recursively, as ``(path, root)`` pairs.

    Hidden files and folders and ``library.toml`` are ignored, symlinked folders are
    followed; a file with an unknown extension, or a site's ``_index.md`` section page (the
    corpus has 22), gives one warning line.

    Returns:
        The files sorted by root, then relative path, and the warnings.

    Raises:
        SeedError: a folder is missing, or none holds a supported file.
    """
    files: list[tuple[Path, Path]] = []
    warnings: list[str] = []
    for root in folders:
        if not root.is_dir():
            raise SeedError(f"seeds folder {root} does not exist.",
                            "Pass --seeds with the folder that holds the regulation files.")
        for path in _walk(root):
            relative = path.relative_to(root)
            if relative.as_posix() == CONFIG_NAME:
                continue
            if path.stem == "_index":
                warnings.append(f"{path}: skipped, a site's section index page, not a regulation")
                continue
            if path.suffix.lower() in SUPPORTED:
                files.append((path, root))
            else:
                warnings.append(f"{path}: skipped, {path.suffix or 'no'} extension is not a supported format "
                                f"({', '.join(SUPPORTED)})")
    if not files:
        names = ", ".join(str(f) for f in folders)
        raise SeedError(f"seeds folder {names} holds no regulation file ({', '.join(SUPPORTED)}).",
                        "Copy the regulation files (UTF-8 text or Markdown) into it.")
    return files, warnings


def _walk(root: Path) -> list[Path]:
    """Every non-hidden file under ``root``, following symlinked folders once, sorted by relative path."""
    found: list[Path] = []
    seen: set[str] = set()
    for folder, folders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop, or the same folder linked twice
            folders[:] = []
            continue
        seen.add(real)
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(folder) / name for name in names
                  if not name.startswith(".") and (Path(folder) / name).is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def load_library(folders: list[Path] | Path) -> Library:
    """Read, parse and describe every regulation under one or more folders.

    Raises:
        SeedError: a folder is missing or empty, a file is unreadable or not text, two
            files share a stem and a folder name with different texts (one with the same text
            as another is skipped), ``library.toml`` is malformed, or no file holds clauses.
    """
    roots = [folders] if isinstance(folders, Path) else list(folders)
    files, warnings = library_files(roots)
    settings = {root: read_settings(root) for root in roots}
    seen: dict[str, tuple[Path, str]] = {}
    documents: list[Document] = []
    parsed_all: list[ParsedRegulation] = []
    problems: list[str] = []
    for path, root in files:
        data = _read_bytes(path)
        parsed = parse_text(read_document(path), document=path.stem, source=str(path))
        if not parsed.clauses:
            warnings.append(f"{path}: skipped, it holds no articles or text")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if path.stem in seen:
            first, first_digest = seen[path.stem]
            if first_digest == digest:
                warnings.append(f"{path}: skipped, the same text as {first} (document id {path.stem!r})")
                continue
            # Same file name, different text (the same law filed under two categories, one
            # revised): keep both, the second under an id that names its folder.
            document_id = f"{path.stem}~{path.parent.name}"
            if document_id in seen:
                raise SeedError(f"two files have the document id {path.stem!r}: {first} and {path}.",
                                "Document ids are file stems and must be unique: rename one of them.")
            warnings.append(f"{path}: another file is named {path.stem!r} ({first}) with a different text; "
                            f"this one has the document id {document_id!r}")
            parsed = parse_text(read_document(path), document=document_id, source=str(path))
        seen[parsed.document] = (path, digest)
        problems.extend(parsed.problems)
        relative = path.relative_to(root).as_posix()
        document = describe(parsed, relative, digest, path.suffix.lower().lstrip("."))
        documents.append(_apply(document, settings[root], relative))
        parsed_all.append(parsed)
    if not documents:
        raise SeedError(f"no regulation under {', '.join(map(str, roots))} holds any article.",
                        "A regulation needs lines such as '第一条 ...' (see seeds/ for the expected shape).")

    regions = list(dict.fromkeys(s.region for s in settings.values() if s.region))
    home = regions[0] if regions else None
    if len(regions) > 1:
        warnings.append(f"{CONFIG_NAME}: the folders name different home regions ({', '.join(regions)}); "
                        f"using {home}, from the first folder")
    documents = _fill_bare_regions(documents, home)
    documents = mark_superseded(documents)
    prefix = len(documents) > 1
    clauses: list[Clause] = []
    for parsed in parsed_all:
        for clause in parsed.clauses:
            clauses.append(replace(clause, id=f"{parsed.document}#{clause.id}") if prefix else clause)
    return Library(documents=tuple(documents), clauses=tuple(clauses), problems=tuple(problems),
                   warnings=tuple(warnings), region=home)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc.strerror}.", "Check the path and permissions.") from exc


# Document facts -------------------------------------------------------------------


def describe(parsed: ParsedRegulation, source: str = "", sha256: str = "", fmt: str = "txt") -> Document:
    """Infer a document's record from its parsed text (before ``library.toml``)."""
    title = parsed.title
    region = infer_region(title, parsed)
    return Document(
        id=parsed.document,
        title=title,
        short_name=short_name(title),
        level=infer_level(title, parsed.header, region),
        region=region,
        version_date=version_date(parsed.document, parsed.header),
        role=infer_role(title, parsed.clauses),
        header=parsed.header,
        source=source,
        format=fmt,
        sha256=sha256,
    )


def short_name(title: str) -> str:
    """The name people cite: ``中华人民共和国安全生产法`` → ``安全生产法``; places stay."""
    name = title.strip().strip("《》")
    if name.startswith("中华人民共和国") and len(name) > len("中华人民共和国"):
        name = name[len("中华人民共和国"):]
    return name


def _province_at(text: str) -> str | None:
    for full, shorts in PROVINCES.items():
        if text.startswith(full) or any(text.startswith(s) for s in shorts):
            return full
    return None


def infer_region(title: str, parsed: ParsedRegulation | None = None) -> str | None:
    """The place a title names: ``北京市``, ``深圳经济特区``, ``新疆维吾尔自治区``, or None.

    A title that starts with a bare ``自治区``/``省`` (as the seed's does) takes the
    autonomous region or province its text names most often.
    """
    if title.startswith(_NATIONAL_PREFIXES):
        return None
    if m := _PILOT_ZONE.match(title):  # 中国（山东）自由贸易试验区条例
        return _province_at(m.group(1))
    province = _province_at(title)
    rest = title
    if province:
        full_prefix = province if title.startswith(province) else next(
            s for s in PROVINCES[province] if title.startswith(s))
        rest = title[len(full_prefix):]
        if province.endswith("市") or province.endswith("行政区"):
            return province
    if m := _CITY.match(rest):
        city = m.group(1)
        # 城市… and 人力资源市场 name no city.
        generic = city.startswith("城市") or rest[len(city):].startswith("场") or "人民" in city or "代表" in city
        if not generic and not city.startswith(("市", "省", "县", "自治")):
            return city
    if province:
        return province
    if parsed is not None and (m := _ISSUER_PLACE.search("\n".join(parsed.header))):
        # No place in the title (杭州西湖文化景观保护管理条例): the issuing congress's place.
        return _province_at(m.group(1)) or m.group(1)
    if parsed is not None and title.startswith(("自治区", "省")):
        kind = "自治区" if title.startswith("自治区") else "省"
        body = "\n".join(c.text for c in parsed.clauses)
        counts = Counter({full: body.count(full) for full in PROVINCES if full.endswith(kind)})
        best, count = counts.most_common(1)[0]
        if count:
            return best
    return None


def infer_level(title: str, header: tuple[str, ...], region: str | None) -> Level:
    """national / provincial / city from the title, the issuer in the header, and the region."""
    if title.startswith(_NATIONAL_PREFIXES):
        return "national"
    if region in PROVINCES or title.startswith(("自治区", "省")):
        return "provincial"
    if region:
        return "city"
    head = "\n".join(header)
    if _LOCAL_ISSUER.search(head) and not any(issuer in head for issuer in _NATIONAL_ISSUERS):
        return "unknown"  # a local body issued it, but the title names no place
    return "national"  # no place in the title, no local issuer: it applies everywhere


def version_date(document_id: str, header: tuple[str, ...]) -> str | None:
    """ISO date of this version: the ``(YYYY-MM-DD)`` file-name suffix, else the header's latest date."""
    if m := _STEM_DATE.search(document_id):
        return m.group(1)
    dates = [f"{int(y):04d}-{int(mo):02d}-{int(d):02d}" for line in header for y, mo, d in _TEXT_DATE.findall(line)]
    return max(dates) if dates else None


def infer_role(title: str, clauses: tuple[Clause, ...]) -> Role:
    """``duty_list`` with department headings, ``implementing_rule`` for 实施细则/办法/条例 and
    实施《…》办法 titles, else ``law``."""
    if any(c.department for c in clauses):
        return "duty_list"
    if _IMPLEMENTING.search(title):
        return "implementing_rule"
    return "law"


def mark_superseded(documents: list[Document]) -> list[Document]:
    """Point every older version of a regulation at the newest one (same short name and region).

    A version without a date counts as older than any dated one; versions of the same
    date are left alone.
    """
    groups: dict[tuple[str, str | None], list[Document]] = {}
    for document in documents:
        groups.setdefault((document.short_name, document.region), []).append(document)
    newest: dict[str, str] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        latest = max(group, key=lambda d: d.version_date or "")
        for document in group:
            if (document.version_date or "") < (latest.version_date or ""):
                newest[document.id] = latest.id
    return [replace(d, superseded_by=newest[d.id]) if d.id in newest else d for d in documents]


# library.toml ---------------------------------------------------------------------


def read_settings(root: Path) -> _Settings:
    """Read and validate ``<root>/library.toml`` (an absent file means no overrides).

    Raises:
        SeedError: the file is not TOML, or holds an unknown key or a bad value.
    """
    path = root / CONFIG_NAME
    if not path.is_file():
        return _Settings(None, {}, {})
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SeedError(f"{path} is not valid TOML: {exc}.", "Fix the syntax (see the library.toml example in "
                        "docs/notes/parser.md).") from exc
    unknown = set(data) - _CONFIG_KEYS
    if unknown:
        raise SeedError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}.",
                        "Top-level keys are region, [documents.\"<id>\"] and [folders.\"<relative path>\"].")
    region = data.get("region")
    if region is not None and not isinstance(region, str):
        raise SeedError(f"{path}: region must be a string such as \"新疆维吾尔自治区\".", "Quote the region name.")
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    for section in ("documents", "folders"):
        raw = data.get(section, {})
        if not isinstance(raw, dict):
            raise SeedError(f"{path}: {section} must be a table of tables.",
                            f"Write [{section}.\"<name>\"] sections.")
        tables[section] = {}
        for name, overrides in raw.items():
            where = f"{path}: [{section}.\"{name}\"]"
            if not isinstance(overrides, dict):
                raise SeedError(f"{where} must be a table.", f"Write [{section}.\"{name}\"] with keys below it.")
            _check_overrides(where, overrides)
            tables[section][name.strip("/")] = overrides
    return _Settings(region, tables["documents"], tables["folders"])


def _check_overrides(where: str, overrides: dict[str, Any]) -> None:
    unknown = set(overrides) - _OVERRIDE_KEYS
    if unknown:
        raise SeedError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}.",
                        f"Allowed keys: {', '.join(sorted(_OVERRIDE_KEYS))}.")
    if "role" in overrides and overrides["role"] not in ROLES:
        raise SeedError(f"{where}: role {overrides['role']!r} is not one of {', '.join(ROLES)}.",
                        "Use one of those roles.")
    if "level" in overrides and overrides["level"] not in LEVELS:
        raise SeedError(f"{where}: level {overrides['level']!r} is not one of {', '.join(LEVELS)}.",
                        "Use one of those levels.")
    if "short_name" in overrides and (not isinstance(overrides["short_name"], str) or not overrides["short_name"]):
        raise SeedError(f"{where}: short_name must be a non-empty string.", "Quote the name, e.g. short_name = \"…\".")
    if "region" in overrides and not isinstance(overrides["region"], str):
        raise SeedError(f"{where}: region must be a string.", "Quote the region name.")
    if "priority" in overrides and (not isinstance(overrides["priority"], int)
                                    or isinstance(overrides["priority"], bool)):
        raise SeedError(f"{where}: priority must be an integer.", "Write e.g. priority = 1.")


def _apply(document: Document, settings: _Settings, relative: str) -> Document:
    merged: dict[str, Any] = {}
    parents = Path(relative).parents
    for folder in sorted((p.as_posix() for p in parents if p.as_posix() != "."), key=len):
        merged.update(settings.folders.get(folder, {}))
    merged.update(settings.documents.get(document.id, {}))
    if not merged:
        return document
    changes: dict[str, Any] = {}
    if "role" in merged:
        changes["role"] = cast(Role, merged["role"])
    if "level" in merged:
        changes["level"] = cast(Level, merged["level"])
    if "region" in merged:
        changes["region"] = merged["region"]
    if "priority" in merged:
        changes["priority"] = merged["priority"]
    if "short_name" in merged:
        changes["short_name"] = merged["short_name"]
    return replace(document, **changes)


def _fill_bare_regions(documents: list[Document], home: str | None) -> list[Document]:
    """A local document whose title names no place (``自治区…``) takes the home region."""
    if not home:
        return documents
    return [replace(d, region=home) if d.region is None and d.title.startswith(("自治区", "省", "市", "本省", "本市"))
            else d for d in documents]


__all__ = ["CONFIG_NAME", "Library", "describe", "infer_level", "infer_region", "infer_role", "library_files",
           "load_library", "mark_superseded", "read_settings", "short_name", "version_date"]
