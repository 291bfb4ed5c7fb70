"""Who a clause makes responsible: the bodies named in a law's text, without a heading.

Laws name the responsible body inside the text (``县级以上地方各级人民政府应急管理部门……实施综合
监督管理``) rather than in an article heading as the Xinjiang duty list does.
:func:`extract_bodies` reads them: every public body (国务院, a people's government at a
level, a department, 公安机关, 消防救援机构, 居民委员会 …) that is the *agent* of what the clause
prescribes or empowers, in order of appearance, deduplicated, each under a normalised name
that keeps its level (``县级以上人民政府有关部门``, ``上一级人民政府``).

How it reads a clause:

1. A body's name is one unbroken run of name characters ending in a head word (人民政府,
   部门, 机关 …); runs break at punctuation, conjunctions, prepositions and verbs such as 应当
   or 负责 (``data/bodies.toml`` lists them). A role modifier ending in 的 stays in the name
   (``负责特种设备安全监督管理的部门``); a shared head is distributed over a list
   (``国务院交通运输、水利等有关部门`` → ``国务院交通运输部门``, ``国务院水利部门``).
2. The body is responsible when it stands where an agent stands: at the start of a sentence
   or item, after 由, 会同 or 提请, or joined by 和 / 、 / 及 to a body that is. It is only
   mentioned after 向, 经, 依照, 按照, 接受 …, when a possessive 的 follows
   (``人民政府的决定``, ``部门的工作人员``) and in the condition of a liability clause
   (``…不立即组织实施救援的，…给予处分``).

The rule and the hand-labelled sample it is measured on are described in
``docs/notes/bodies.md`` and ``eval/bodies_sample.jsonl``; :func:`score_bodies` measures it.
Pure functions, no model: the whole ``laws/`` corpus (328k lines) takes about 11 s of CPU.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from retriever.checksums import sha256_file
from retriever.errors import RetrieverError

__all__ = [
    "DEFAULT_BODIES_PATH",
    "BodySample",
    "BodyScores",
    "BodyVocabulary",
    "default_body_vocabulary",
    "extract_bodies",
    "extract_item_bodies",
    "load_body_sample",
    "load_body_vocabulary",
    "relaxed_body",
    "score_bodies",
    "without_place",
]

#: The vocabulary shipped with the package.
DEFAULT_BODIES_PATH: Path = Path(__file__).resolve().parent / "data" / "bodies.toml"

#: Coordinated names share these endings: 环境保护、公安、卫生主管部门.
_SHARED_ENDINGS = ("行政主管部门", "主管部门", "行政部门", "管理部门", "部门")
_DATE = re.compile(r"^\d{4}年(?:\d{1,2}月)?(?:\d{1,2}日)?")
_LIST_OF_ONE = re.compile(r"等(?:有关)?(?=(?:行政主管|主管|行政|管理)?部门$)")
_GOVERNMENT = re.compile(r"(?:人民政府|国务院)$")
_LEVEL_END = re.compile(r"^.*(?:人民政府|国务院)")
#: Text before a name that belongs to neither the name nor its context.
_PLACE_BEFORE = (
    r"(?:各)?有关行政区域(?:共同)?的$|本行政区域内?的?$|[^，。；：\s向由经报到对和及或]{0,12}?(?:所在地|发生地)的$"
)
_MODIFIER_BEFORE = r"(?:主管|接到|受理|收到|发现|共同负责)[^，。；：]{0,20}?的$|(?<=由)[^，。；：由]{1,15}?的$"
#: Words that give a name its own level or government: it inherits none from a list.
_OWN_LEVEL = re.compile(
    r"人民政府|国务院|^(?:县|省|市|乡|镇|区|州|地方|各级|本级|同级|上一级|上级|下级|当地|国家|中央)")
_PLACE_IN_NAME = re.compile(r"^.*?(?:所在地|发生地)的?(?=.)")
#: What follows a merely mentioned body: 人民政府的决定, 部门以外, 国务院发布的.
_MENTION_AFTER = re.compile(r"^(?:的|以外|之外|工作人员|组成人员|成员|(?:发布|颁发|认定|批准|确定|制定|规定|公布)的)")
_LIABILITY = re.compile(r"处分|追究")
_VIOLATION = re.compile(r"不|未|违反|滥用|玩忽|徇私")
_ARTICLE_END = re.compile(r"第[零〇一二三四五六七八九十百千]+条$")
_BREAK, _OF, _LIST, _ROLE = "\x01", "\x02", "\x03", "\x04"
_MARKERS = frozenset((_BREAK, _OF, _LIST, _ROLE))
_CONJUNCTIONS = ("和", "及", "以及", "或者", "或", "与", "、")
_AGENT_MARKERS = ("由", "会同", "提请")


class BodyVocabularyError(RetrieverError):
    """The bodies vocabulary file is missing or malformed."""


@dataclass(frozen=True)
class BodyVocabulary:
    """The word lists behind :func:`extract_bodies` (``data/bodies.toml``).

    Attributes:
        heads: words a body's name ends with.
        public_agencies: endings that make a name ending in 机构 a public body.
        not_bodies: names that end in a head word but are not bodies (机关 alone, 国家机关).
        not_body_endings: endings that look like a head but are not bodies (布局).
        full_name_endings: characters that end a full name in a list (上海海事局、市交通行政管理部门).
        whole: phrases kept whole although they contain a break (住房和城乡建设, 省、自治区、直辖市).
        continued: heads after which a name may go on to a second head (国务院应急管理部门).
        break_chars: characters that end a name.
        break_words: words that end a name.
        except_before: break words that do not break before these characters (经 / 经济).
        role_starts: the first word of a role modifier kept in the name (负责…的, 负有…的).
        checksum: sha256 of the file's bytes (for an index manifest: bodies change when it does).
    """

    heads: tuple[str, ...]
    public_agencies: tuple[str, ...]
    not_bodies: frozenset[str]
    not_body_endings: tuple[str, ...]
    full_name_endings: str
    whole: tuple[str, ...]
    continued: tuple[str, ...]
    break_chars: str
    break_words: tuple[str, ...]
    except_before: tuple[tuple[str, str], ...]
    role_starts: tuple[str, ...]
    checksum: str = ""


def load_body_vocabulary(path: Path = DEFAULT_BODIES_PATH) -> BodyVocabulary:
    """Read and check a bodies vocabulary file.

    Raises:
        BodyVocabularyError: the file is missing, is not TOML, or lacks a list.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise BodyVocabularyError(f"cannot read the bodies vocabulary {path}: {error}") from error

    def words(section: str, key: str) -> tuple[str, ...]:
        value = data.get(section, {}).get(key)
        if not isinstance(value, list) or not all(isinstance(word, str) and word for word in value):
            raise BodyVocabularyError(
                f"{path}: [{section}] {key} must be a list of non-empty strings (compare {DEFAULT_BODIES_PATH})"
            )
        return tuple(value)

    break_chars = data.get("breaks", {}).get("chars")
    if not isinstance(break_chars, str) or not break_chars:
        raise BodyVocabularyError(f"{path}: [breaks] chars must be a non-empty string")
    except_before = data.get("breaks", {}).get("except_before", {})
    if not isinstance(except_before, dict) or not all(isinstance(v, str) for v in except_before.values()):
        raise BodyVocabularyError(f"{path}: [breaks] except_before must map words to characters")
    return BodyVocabulary(
        heads=words("heads", "words"),
        public_agencies=words("heads", "public_agencies"),
        not_bodies=frozenset(words("heads", "not_bodies")),
        not_body_endings=words("heads", "not_body_endings"),
        full_name_endings=str(data["heads"].get("full_name_endings", "")),
        whole=words("names", "whole"),
        continued=words("breaks", "continued"),
        break_chars=break_chars,
        break_words=words("breaks", "words"),
        except_before=tuple(sorted(except_before.items())),
        role_starts=words("roles", "starts"),
        checksum=sha256_file(Path(path)),
    )


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(set(words), key=len, reverse=True))


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    name: str


class _Reader:
    """The compiled patterns for one vocabulary."""

    # The patterns run on a masked copy of the clause, as long as the clause: break characters
    # and break words become _BREAK (的 becomes _OF, 、 becomes _LIST, a break word that can
    # start a role modifier becomes _ROLE), except inside the whole names.
    def __init__(self, vocabulary: BodyVocabulary) -> None:
        self.vocabulary = vocabulary
        unless = dict(vocabulary.except_before)
        self.break_words = re.compile(
            "|".join(
                re.escape(word) + (f"(?![{re.escape(unless[word])}])" if word in unless else "")
                for word in sorted(vocabulary.break_words, key=len, reverse=True)
            )
        )
        self.whole = re.compile(_alternation(vocabulary.whole))
        self.break_table = {ord(char): _BREAK for char in vocabulary.break_chars} | {ord("的"): _OF, ord("、"): _LIST}
        self.role_words = frozenset(vocabulary.role_starts) & frozenset(vocabulary.break_words)
        head = f"(?:{_alternation(vocabulary.heads)})"
        self.any_head = re.compile(head)
        char = f"[^{_BREAK}{_OF}{_LIST}{_ROLE}]"
        plain_roles = _alternation(set(vocabulary.role_starts) - self.role_words)
        role = f"(?:{_ROLE}++|{plain_roles})[^{_BREAK}{_OF}]{{1,30}}?{_OF}"
        self.role = re.compile(f"(?:{_alternation(vocabulary.role_starts)})[^，。；：]{{1,30}}?的")
        run_start = f"(?<![^{_BREAK}{_OF}{_LIST}{_ROLE}])"
        continued = f"(?:{_alternation(vocabulary.continued)})"
        name = f"{char}*?(?:{continued}(?:{char}*?{head})?|{head})"
        self.name = re.compile(f"{run_start}{name}")
        self.role_name = re.compile(f"{role}{name}")
        item = f"(?:(?!{head}){char})+?"
        self.shared = re.compile(
            f"{run_start}({char}*?)({item}(?:{_LIST}{item})+)(等)?(有关)?({_alternation(_SHARED_ENDINGS)})"
        )
        self.before = re.compile(f"(?:{_PLACE_BEFORE}|{_MODIFIER_BEFORE})")

    def mask(self, text: str) -> str:
        """``text`` with every break replaced by a marker character; the same length."""
        masked = list(text.translate(self.break_table))
        for word in self.break_words.finditer(text):
            marker = _ROLE if word.group(0) in self.role_words else _BREAK
            masked[word.start() : word.end()] = marker * (word.end() - word.start())
        for whole in self.whole.finditer(text):
            masked[whole.start() : whole.end()] = whole.group(0)
        return "".join(masked)

    def mentions(self, text: str) -> list[_Mention]:
        """Every body name in ``text``, with the coordinated lists distributed."""
        masked = self.mask(text)

        def starts_run(start: int) -> bool:
            return start == 0 or masked[start - 1] in _MARKERS or masked[start] == _ROLE

        found: list[_Mention] = []
        taken: list[tuple[int, int]] = []
        pos = 0
        while _LIST in masked and (match := self.shared.search(masked, pos)) is not None:
            pos = match.start() + 1
            if not starts_run(match.start()):
                continue
            level, items, _, _, ending = match.groups()
            first, *rest = items.split(_LIST)
            if level == "" and (government := _LEVEL_END.match(first)) is not None and government.end() < len(first):
                level, first = government.group(0), first[government.end() :]
            if (level and not _GOVERNMENT.search(level)) or any(
                item.endswith(tuple(self.vocabulary.full_name_endings)) for item in (first, *rest)
            ):
                continue
            start = match.start()
            for item in (first, *rest):
                tail = ending[2:] if item.endswith("行政") and ending.startswith("行政") else ending
                found.append(_Mention(start, match.end(), f"{level}{item}{tail}"))
                start += 1  # keeps the order of the items; all share the list's context
            taken.append((match.start(), match.end()))
            pos = match.end()
        for match in self.role_name.finditer(masked):
            start = match.start()
            while start > 0 and masked[start - 1] not in _MARKERS:
                start -= 1  # the level before the role: 县级以上人民政府|管理矿山企业的主管部门
            if not any(s <= start < e for s, e in taken):
                found.append(_Mention(start, match.end(), text[start : match.end()]))
                taken.append((start, match.end()))
        for match in self.name.finditer(masked):
            if not any(s <= match.start() < e for s, e in taken):
                found.append(_Mention(match.start(), match.end(), text[match.start() : match.end()]))
        found.sort(key=lambda mention: mention.start)
        return found

    def is_agent(self, text: str, mention: _Mention, previous: _Mention | None, previous_agent: bool) -> bool:
        """Whether the body at ``mention`` stands where the agent of the clause stands."""
        if _MENTION_AFTER.match(text[mention.end :]):
            return False
        before = self.before.sub("", text[: mention.start]).rstrip(" 　")
        if previous is not None and previous.end <= mention.start:
            between = text[previous.end : mention.start]
            if between in _CONJUNCTIONS:
                return previous_agent
        if previous is not None and previous.start == mention.start - 1 and previous.end == mention.end:
            return previous_agent  # an item of the same distributed list
        if before.endswith(_AGENT_MARKERS):
            return True
        if not (before == "" or before[-1] in "，。；：)）" or _ARTICLE_END.search(before)):
            return False
        # 有关地方人民政府……不立即组织实施救援……的，对……给予处分: the body is the one held liable.
        end = text.find("。", mention.end)
        sentence = text[mention.end : end if end >= 0 else len(text)]
        condition = re.search(r"的[，；]", sentence)
        if condition is None or "由" in sentence[: condition.start()]:
            return True
        if re.match(r"(?:应当|必须|可以)?由", sentence[condition.end() :]):
            return False  # X发现……的，应当由Y报告: Y is the agent
        if _LIABILITY.search(sentence):
            return _VIOLATION.search(sentence[: condition.start()]) is None
        return True

    def normalise(self, name: str, previous: str | None, joined: bool) -> str | None:
        """The body's normalised name, or None when it is not a public body."""
        name = _DATE.sub("", _PLACE_IN_NAME.sub("", name)).replace("其他", "")
        if name.startswith("其") and len(name) > 1:
            name = name[1:]  # 县级以上人民政府及其部门 → 县级以上人民政府部门
            if joined and previous is not None and _GOVERNMENT.search(previous):
                name = previous + name
        name = _LIST_OF_ONE.sub("", name)  # 新闻出版等部门 → 新闻出版部门
        role = self.role.match(name)
        if role is not None and re.search(r"人民政府|国务院", name[role.end() :]):
            name = name[role.end() :]
        if name in self.vocabulary.not_bodies and previous is not None:
            # 有关部门和机构 → 有关机构: a bare head takes the modifiers of the name before it.
            stem = next((previous[: -len(h)] for h in self.vocabulary.heads if previous.endswith(h)), "")
            name = stem + name if stem else name
        if name in self.vocabulary.not_bodies or name.endswith(self.vocabulary.not_body_endings):
            return None
        if name.endswith("机构") and not name.endswith(self.vocabulary.public_agencies) and name != "有关机构":
            return None
        return name

    def extract(self, text: str) -> tuple[str, ...]:
        if self.any_head.search(text) is None:
            return ()
        bodies: list[str] = []
        previous: _Mention | None = None
        previous_name: str | None = None
        previous_agent = False
        for mention in self.mentions(text):
            agent = self.is_agent(text, mention, previous, previous_agent)
            joined = previous is not None and text[previous.end : mention.start] in _CONJUNCTIONS
            name = self.normalise(mention.name, previous_name if previous is not None else None, joined)
            if joined and name is not None and previous_name is not None:
                name = _inherit_level(name, previous_name)
            previous, previous_name, previous_agent = mention, name or mention.name, agent
            if agent and name is not None and name not in bodies:
                bodies.append(name)
        return tuple(bodies)


def _inherit_level(name: str, previous: str) -> str:
    """A department listed after one with a level shares it: 国务院卫生行政部门、劳动保障行政部门.

    Only a bare department of a named domain (no level, government or role of its own) takes
    the level of the name before it; 有关部门, 公安机关 and other heads keep their names.
    """
    level = _LEVEL_END.match(previous)
    if level is None or level.end() == len(previous) or not name.endswith("部门") or "的" in name:
        return name
    if name.startswith(("有关", "相关")):
        return name  # 应急管理部门和其他有关部门 is labelled 有关部门, as written
    if _OWN_LEVEL.search(name):
        return name
    return level.group(0) + name


@cache
def default_body_vocabulary() -> BodyVocabulary:
    """The packaged vocabulary, loaded once (its ``checksum`` belongs in an index manifest)."""
    return load_body_vocabulary()


@cache
def _reader(vocabulary: BodyVocabulary) -> _Reader:
    return _Reader(vocabulary)


def extract_bodies(text: str, vocabulary: BodyVocabulary | None = None) -> tuple[str, ...]:
    """The bodies ``text`` makes responsible, in order of appearance, each once.

    Args:
        text: one clause (an article, a paragraph or an item) of a regulation.
        vocabulary: the word lists to read with; the packaged ``data/bodies.toml`` by default.

    Returns:
        Normalised names such as ``县级以上地方各级人民政府应急管理部门``, ``国务院``,
        ``上一级人民政府``; ``()`` when the clause makes no body responsible.
    """
    return _reader(default_body_vocabulary() if vocabulary is None else vocabulary).extract(text)


def extract_item_bodies(item: str, lead_in: str, vocabulary: BodyVocabulary | None = None) -> tuple[str, ...]:
    """The bodies of an item (项), which rarely names its own: else those of the lead-in it completes.

    Args:
        item: the item's text (``（一）进入生产经营单位进行检查……``).
        lead_in: the paragraph the items follow (``……负有安全生产监督管理职责的部门……行使以下职权：``).
        vocabulary: as for :func:`extract_bodies`.

    Returns:
        The item's own bodies when it names any; otherwise the lead-in's when the lead-in ends with
        a colon (it introduces the items); otherwise ``()``.
    """
    own = extract_bodies(item, vocabulary)
    if own or not lead_in.rstrip().endswith(("：", ":")):
        return own
    return extract_bodies(lead_in, vocabulary)


def without_place(name: str) -> str:
    """The body without a place before it: 活动所在地县级人民政府公安机关 → 县级人民政府公安机关."""
    return _PLACE_IN_NAME.sub("", name)


def relaxed_body(name: str) -> str:
    """The body without its level, for the relaxed match: 县级以上人民政府应急管理部门 → 应急管理部门.

    People's governments at every level (and 国务院) become ``人民政府``.
    """
    if _GOVERNMENT.search(name):
        return "人民政府"
    name = _LEVEL_END.sub("", name)
    return re.sub(r"^(?:当地|本级|同级|上一级|上级|下级|地方|各级)+", "", name) or name


# ----------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class BodySample:
    """One hand-labelled clause of ``eval/bodies_sample.jsonl``."""

    id: str
    split: str
    text: str
    bodies: tuple[str, ...]


@dataclass(frozen=True)
class BodyScores:
    """Micro-averaged precision and recall of extracted bodies against hand labels."""

    clauses: int
    gold: int
    predicted: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 1.0


def load_body_sample(path: Path) -> tuple[BodySample, ...]:
    """Read a labelled sample (JSON Lines: id, split, text, bodies).

    Raises:
        RetrieverError: the file is missing or a line lacks a field.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise RetrieverError(f"cannot read the bodies sample {path}: {error}") from error
    samples = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            samples.append(BodySample(row["id"], row["split"], row["text"], tuple(row["bodies"])))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            message = f"{path}:{number}: need a JSON object with id, split, text and bodies ({error})"
            raise RetrieverError(message) from error
    return tuple(samples)


def score_bodies(
    samples: Sequence[BodySample],
    extract: Callable[[str], Sequence[str]] = extract_bodies,
    *,
    relaxed: bool = False,
) -> BodyScores:
    """Compare ``extract`` with the hand labels: exact names, or names without levels when ``relaxed``."""
    key: Callable[[str], str] = relaxed_body if relaxed else str
    gold_total = predicted_total = correct = 0
    for sample in samples:
        gold = {key(body) for body in sample.bodies}
        predicted = {key(body) for body in extract(sample.text)}
        gold_total += len(gold)
        predicted_total += len(predicted)
        correct += len(gold & predicted)
    return BodyScores(len(samples), gold_total, predicted_total, correct)


def main(argv: Sequence[str] | None = None) -> int:
    """Print precision and recall on each split of a labelled sample (``--errors`` lists misses)."""
    parser = argparse.ArgumentParser(prog="python -m retriever.bodies", description=main.__doc__)
    parser.add_argument("sample", type=Path, nargs="?", default=Path("eval/bodies_sample.jsonl"))
    parser.add_argument("--split", action="append", help="only this split (dev, test); repeatable")
    parser.add_argument("--errors", action="store_true", help="list every clause where extraction and labels differ")
    args = parser.parse_args(argv)
    samples = load_body_sample(args.sample)
    splits = args.split or sorted({sample.split for sample in samples})
    print("| split | clauses | labelled bodies | exact P | exact R | relaxed P | relaxed R |")
    print("|---|---|---|---|---|---|---|")
    for split in splits:
        chosen = [sample for sample in samples if sample.split == split]
        exact, loose = score_bodies(chosen), score_bodies(chosen, relaxed=True)
        print(
            f"| {split} | {exact.clauses} | {exact.gold} | {exact.precision:.3f} | {exact.recall:.3f} "
            f"| {loose.precision:.3f} | {loose.recall:.3f} |"
        )
        if args.errors:
            for sample in chosen:
                got = extract_bodies(sample.text)
                if set(got) != set(sample.bodies):
                    print(f"  {sample.id}\n    text: {sample.text}")
                    print(f"    gold: {list(sample.bodies)}\n    got:  {list(got)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
