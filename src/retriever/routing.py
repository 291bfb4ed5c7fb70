"""Which documents a question is about, and how specific each document is for a region.

A library holds duty lists, laws and implementing rules, national and local. This
module reads what a question says about them — a regulation it names (``安全生产法第十条``,
``《消防法》``), a place (``在北京``, ``深圳的``), a level (``国家规定``) — and ranks
documents by specificity for the region a question is asked in: that region's duty
lists first, then its local regulations, then the national laws that apply
everywhere; other regions' documents only when asked for.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from retriever.library import PROVINCES
from retriever.records import Document, Level

#: Specificity tiers, most specific first.
TIER_DUTY_LIST = 0
TIER_LOCAL = 1
TIER_NATIONAL = 2
TIER_OTHER_REGION = 3

# Provinces, autonomous regions and municipalities, with the short names people use.
_PROVINCES = PROVINCES
# Provincial capitals and other large cities, so a question about one is not answered
# with the home region's duty list; smaller places are matched by the library's documents.
_CITIES: dict[str, str] = {
    f"{city}市": province
    for province, cities in {
        "河北省": "石家庄", "山西省": "太原", "内蒙古自治区": "呼和浩特", "辽宁省": "沈阳 大连", "吉林省": "长春",
        "黑龙江省": "哈尔滨", "江苏省": "南京 苏州 无锡", "浙江省": "杭州 宁波 温州", "安徽省": "合肥",
        "福建省": "福州 厦门", "江西省": "南昌", "山东省": "济南 青岛", "河南省": "郑州 洛阳", "湖北省": "武汉",
        "湖南省": "长沙", "广东省": "广州 深圳 珠海 汕头 佛山 东莞", "广西壮族自治区": "南宁", "海南省": "海口 三亚",
        "四川省": "成都", "贵州省": "贵阳", "云南省": "昆明", "西藏自治区": "拉萨", "陕西省": "西安",
        "甘肃省": "兰州", "青海省": "西宁", "宁夏回族自治区": "银川",
        "新疆维吾尔自治区": "乌鲁木齐 克拉玛依 喀什 伊宁 哈密 吐鲁番 库尔勒 阿克苏 和田 昌吉 石河子",
    }.items()
    for city in cities.split()
}
# English names of provinces and large cities (whole words, lower case: questions are lower-cased).
_ENGLISH_PLACES: dict[str, str] = {
    "beijing": "北京市", "tianjin": "天津市", "shanghai": "上海市", "chongqing": "重庆市", "hebei": "河北省",
    "shanxi": "山西省", "liaoning": "辽宁省", "jilin": "吉林省", "heilongjiang": "黑龙江省", "jiangsu": "江苏省",
    "zhejiang": "浙江省", "anhui": "安徽省", "fujian": "福建省", "jiangxi": "江西省", "shandong": "山东省",
    "henan": "河南省", "hubei": "湖北省", "hunan": "湖南省", "guangdong": "广东省", "hainan": "海南省",
    "sichuan": "四川省", "guizhou": "贵州省", "yunnan": "云南省", "shaanxi": "陕西省", "gansu": "甘肃省",
    "qinghai": "青海省", "taiwan": "台湾省", "inner mongolia": "内蒙古自治区", "guangxi": "广西壮族自治区",
    "tibet": "西藏自治区", "xizang": "西藏自治区", "ningxia": "宁夏回族自治区", "xinjiang": "新疆维吾尔自治区",
    "hong kong": "香港特别行政区", "macau": "澳门特别行政区", "macao": "澳门特别行政区",
    "shenzhen": "深圳市", "guangzhou": "广州市", "hangzhou": "杭州市", "nanjing": "南京市", "suzhou": "苏州市",
    "wuhan": "武汉市", "chengdu": "成都市", "xi'an": "西安市", "xian": "西安市", "qingdao": "青岛市",
    "xiamen": "厦门市", "dalian": "大连市", "shenyang": "沈阳市", "harbin": "哈尔滨市", "changsha": "长沙市",
    "zhengzhou": "郑州市", "kunming": "昆明市", "lanzhou": "兰州市", "urumqi": "乌鲁木齐市",
    "karamay": "克拉玛依市", "kashgar": "喀什市", "kashi": "喀什市", "turpan": "吐鲁番市", "hami": "哈密市",
    "korla": "库尔勒市", "aksu": "阿克苏市", "hotan": "和田市", "changji": "昌吉市", "shihezi": "石河子市",
    "yining": "伊宁市",
}
_ENGLISH_PLACE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _ENGLISH_PLACES), key=len, reverse=True))
                            + r")\b")
_STATE_PREFIX = "中华人民共和国"
# A subsidiary text of a law (道路交通安全法实施条例) is another text than the law.
_SUBSIDIARY = re.compile(r"实施(?:条例|细则|办法|规定|意见)")
# The same in English, before or after the law's title (Implementing Regulations of the Mine Safety Law).
_SUBSIDIARY_BEFORE_EN = re.compile(r"(?:implementing|implementation) (?:regulations|rules|measures|provisions)"
                                   r"(?: of| for| under)?(?: the)? $")
_SUBSIDIARY_AFTER_EN = re.compile(r"(?:'s)? (?:implementing|implementation) (?:regulations|rules|measures|provisions)")
# The order a regulation was published by (中华人民共和国国务院令第493号公布): staff cite it as 493号令.
# 2007年版突发事件应对法, 消防法修订草案: a version of a text, which the library may not hold.
_VERSION_YEAR = re.compile(r"((?:19|20)[0-9]{2})\s*年(?:版|的版本|修订版|修正版|老版|旧版)|"
                           # 84年那部老的《民用爆炸物品管理条例》, 07年旧版突发事件应对法.
                           r"(?<![0-9])([0-9]{2})\s*年(?:那部|那版|的老|的旧|老版|旧版|版)")
_DRAFT = re.compile(r"草案|征求意见稿|送审稿")
_ORDER = re.compile(r"国务院令第?([0-9]+)号")
_CITY_SUFFIX = re.compile(r"(经济特区|特别行政区|自治州|自治县|地区|市|县|区|盟)$")
_NATIONAL_CUE = re.compile(r"国家(?:层面|规定|法律|法规)|全国性|全国人大|国务院(?:规定|条例)|国家级")
# A regulation named in a question: 《…》, or a name ending in 法/条例/实施细则 … that
# starts a clause of the question (so 依法, 办法 and 方法 are not names).
_BRACKETED = re.compile(r"《([^》]{2,40})》")
# (Questions are NFKC-normalised first: ，？！；： arrive as ,?!;:.)
_BARE_NAME = re.compile(
    r"(?:^|[，。？！、；：,.?!;:\s(]|根据|依据|按照|依照|关于|在|按|那份|这份)"
    r"([\u4e00-\u9fff]{1,8}?法典|[\u4e00-\u9fff][\u4e00-\u9fff“”]{1,23}?(?:法|条例|实施细则|实施办法|管理办法|规定)|"
    # 三个必须细则, 新疆那个三个必须细则: a duty list named by its slogan (short: not 县里还要不要…出一套三个必须细则).
    r"[\u4e00-\u9fff“”]{1,6}?必须”?细则)"
    r"(?=第|规定|中|里|上|的|说|(?<=法|例)[要讲写]|对|关于|是|有|怎么|如何|明确|提到|谁|由|归|(?<=例)哪|[0-9]|[，。？！、；：,.?!;:\s)]|$)")
# 细则第十条, 这个细则里: the kind of text named alone (the library's only 细则 is the one meant).
_BARE_RULES = re.compile(r"(?:^|[，。？！、；：,.?!;:\s]|这个|那个|这份|那份|这部|那部|本|该|按|照|依据|根据|依|说|讲)"
                         r"((?:实施)?细则)(?=第|里|中|的|规定|要求|说|写|上|对|关于)")
# Words that lead into a name without being part of it (按照建筑法, 帮我查一下网络安全法, 我想了解下环保法).
_NAME_LEAD_IN = re.compile(
    r"^.*?(?:根据|依据|按照|依照|关于|查一下|查一查|查查|查询|了解一下|了解下|了解|看一下|看看|问一下|问问|说说|讲讲|"
    r"介绍一下|解释一下|按|说|是|依(?!法))")  # (同事说职防法第89条…, 是那个法规定的, 依细则规定)
# A kind of text named alone and the verb after it (依细则规定, 按条例规定): no name.
_KIND_THEN_VERB = re.compile(r"(?:实施)?(?:细则|条例|办法|规定)规定")
# 新疆那个三个必须细则: "that" between a place and its text's name.
_THAT = re.compile(r"^(?:那个|这个|那部|这部|那套|这套)")
# 这个实施细则, 本条例, 该法: the document in front of the reader, not a name.
_DEICTIC = re.compile(r"这|那|该|本|此|上述|前述")
# A question, not a title: 深圳市对电动自行车上路有什么地方规定 is not a regulation's name.
# (Nor is a clause that says what a text does not say: 国家没统一规定, 法律真这么硬性规定.)
_QUESTION_WORDS = re.compile(r"什么|怎么|怎样|咋|哪些|哪个|哪部|哪一|哪条|如何|是否|有没有|没|多久|多少|多长|这么|那么|"
                             r"吗|呢|？|\?")
# Two-character abbreviations staff use (安法第48条): too short for the loose matching of names.
_ABBREVIATIONS = {"新安法": "安全生产法", "安法": "安全生产法", "消法": "消费者权益保护法", "劳法": "劳动法",
                  "刑法": "刑法"}
_ABBREVIATION = re.compile(r"(?:^|(?<=[，。？！、；：,.?!;:\s《按依据照在用下查看]))(" + "|".join(_ABBREVIATIONS)
                           + r")(?=第|里|中|规定|对|要求|上|说|的|修正案|[0-9]|》)")
# 台湾老板开的五金店: where a person comes from, not where the question is asked about.
# (Not 北京市人民政府, 北京人大, 新疆居民区.)
_ORIGIN = re.compile(r"(?:籍)?(?:老板|商人|客商|同胞|人(?![民大员])|朋友|游客|学生|员工|企业家|居民(?![区楼]))")
# Places where the national laws of the library do not apply (their own laws do).
_OWN_LAW_REGIONS = {"台湾省": "台湾地区", "香港特别行政区": "香港特别行政区", "澳门特别行政区": "澳门特别行政区"}
# A province's or city's own office or safety committee (宁夏回族自治区应急管理厅, 西藏自治区安委会):
# its duties and members are that place's own arrangements.
_OWN_OFFICE = re.compile(r"(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区)?\s*(?:的)?(?:人民政府)?"
                         r"(?:[\u4e00-\u9fff]{2,16}?(?<![餐客舞展门歌大会饭球])厅|[\u4e00-\u9fff]{0,4}?(?:安委会|安委办|安全生产委员会))")
# A question about the mainland's law asked from (or about someone in) 香港, 澳门 or 台湾.
_MAINLAND = re.compile(r"内地|大陆|mainland", re.IGNORECASE)
# Quotation marks inside a name (自治区“三管三必须”实施细则) are not part of its spelling.
_NO_QUOTES = str.maketrans("", "", "“”「」")
# What may stand between a place and the name of its own text (内蒙古自治区的“三个必须”实施细则).
_BETWEEN_PLACE_AND_NAME = re.compile(r"[的“”\"《\s]*")
# A notice, opinion or decision named by its subject (国务院安委会关于做好冬季安全生产工作的通知).
_NOTICE = re.compile(r"(关于[^，。？！、；：,.?!;:\s]{2,40}?的(?:通知|指导意见|意见|决定|实施方案|方案)|"
                     r"[一二三四五六七八九十]+条(?:硬)?措施)")
# A ministry's order (公安部61号令, 安监总局40号令, SAWS Order No. 40) or any order number (61号令): the
# library's documents are named by the State Council order that published them (493号令), if at all.
_ISSUER = (r"(?:公安部|安监总局|国家安全监管总局|国家安全生产监督管理总局|应急管理部|应急部|住建部|"
           r"住房和城乡建设部|交通运输部|质检总局|市场监管总局|人社部|卫健委|国家卫生健康委|国务院)")
_ORDER_NAME = re.compile(
    rf"({_ISSUER}?令第?\s*[0-9]{{1,4}}\s*号|{_ISSUER}?\s*[0-9]{{1,4}}\s*号令)|"
    r"\b((?:saws|sawc|mem|ministry of emergency management|state administration of work safety)\s+"
    r"(?:order|decree)\s+no\.?\s*[0-9]{1,4})")
# Foreign countries' own rules (Singapore's WSH Regulations, 新加坡的工作场所安全规定).
_FOREIGN = re.compile(r"(新加坡|马来西亚|日本|韩国|美国|英国|德国|法国|澳大利亚|加拿大|欧盟|哈萨克斯坦|"
                      r"吉尔吉斯斯坦|俄罗斯|印度|"
                      r"\bsingapore|\bmalaysia|\bjapan|\bkorea|\bunited states|\busa\b|\bunited kingdom|\buk\b|"
                      r"\bgermany|\bfrance|\baustralia|\bcanada|\beuropean union|\beu\b|\bkazakhstan|\brussia|\bindia)"
                      r"(?:'s|的|自己的)?\s*[^?？。,，]{0,40}?"
                      r"(?:(?<![做办方想说看用])法|条例|规定|标准|regulations?|rules|laws?|\bacts?\b|standards?|codes?)")
# Asking for a place's own rules.
_LOCAL_RULES = re.compile(r"(?:地方|当地|本地|地方性)(?:规定|法规|条例|政策|办法)")
# A place's own text, named after the place (湖南省自己的烟花爆竹安全管理条例, 上海有没有自己的三个必须细则,
# 兵团自己出台的审批办法): only a text of exactly that place answers, not the national law of that name.
# (江苏那边省里有没有专门管…的规定, 第一师应急管理局出的…检查标准: the place's own, too.)
_OWN_LEAD = re.compile(r"(?:自己|自个儿?)(?:出台|制定|颁布|发布|印发|搞|定|出|发)?(?:了)?(?:的|有)|"
                       r"(?:也|还)有(?:类似|同样|相似|差不多)(?:的)?|"
                       r"(?:出台|制定|印发)(?:了)?的|"
                       r"(?<=[局厅委办府])出的|(?:省里|市里|州里|那边)(?:有没有|有)(?:专门)?|单独(?:印发|出台|制定)(?:了)?的?")
_OWN_TEXT = re.compile(rf"(?:{_OWN_LEAD.pattern})"
                       r"[^，。？！,.?!;；]{0,24}?"
                       r"(?:条例|办法|规定|细则|清单|分工|法规|政策|文件|方案|预案|标准|三个必须|三管三必须)"
                       r"(?:[\u4e00-\u9fff“”」]{0,6}?(?:条例|办法|细则|清单))?")
# The same in English, after the place (Guangzhou's own municipal fire-safety regulation).
_OWN_TEXT_EN = re.compile(r"(?:'s|s'| has its| have their)? own (?:[a-z-]+ ){0,4}"
                          r"(?:regulations?|rules|laws?|measures|ordinances?)\b|"
                          # the Shanghai fire protection regulation, Guangdong's work safety regulations
                          r"(?:'s|s')?(?: (?!national\b|state\b|chinese\b|china)[a-z-]+){1,4} "
                          r"(?:regulations?|rules|measures|ordinances?)\b")
# How far before 自己 the place may be named (图木舒克市（兵团三师）自己出台的).
_OWN_REACH = 16
# A prefecture, city or county named before its own text (伊犁州党委自己印发的…, 我们县自己出台的…).
_LOCAL_PLACE = re.compile(r"([\u4e00-\u9fff]{2,5}?(?:自治州|州|地区|市|县|盟))"
                          r"(?=党委|政府|行署|[\u4e00-\u9fff]{0,6}?(?:局|厅|委|办|处)|自己|自个|[，、,]|$)")
# The 兵团 (Xinjiang Production and Construction Corps) and its divisions keep their own rules apart from
# the region's.
_CORPS = re.compile(r"(?:新疆生产建设)?兵团|第?[一二三四五六七八九十]{1,3}师")
# Endings that make a name even though they end like a common word (…管理办法 ends with 办法).
_NAME_ENDINGS = ("管理办法", "实施办法", "暂行办法", "试行办法")
_NOT_NAMES = ("依法", "方法", "办法", "合法", "违法", "执法", "做法", "想法", "说法", "立法", "守法", "用法",
              # Kinds of law, not titles (上位法有没有依据).
              "上位法", "下位法", "部门法", "实体法", "程序法",
              "有关规定", "相关规定", "的规定", "哪些规定", "什么规定",
              # 国家规定的期限, 公司规定要戴安全帽: who laid a rule down, not a rule's title.
              "国家规定", "法律规定", "法规规定", "政府规定", "部门规定", "上级规定", "公司规定", "单位规定",
              "企业规定", "厂里规定")


@dataclass(frozen=True)
class DocumentMention:
    """What a question says about documents.

    Attributes:
        documents: ids of library documents the question names, best match first.
        unknown_names: regulation names in the question that no document has
            (``食品安全法`` when it is not loaded).
        region: the place the question names (a region of the library, or a province),
            or None.
        level: ``national`` when the question asks for national rules, else None.
        spans: where in the text the library documents and the place are named, as
            (start, end) offsets: those words route the question, they are not its topic.
    """

    documents: tuple[str, ...] = ()
    unknown_names: tuple[str, ...] = ()
    region: str | None = None
    level: Level | None = None
    spans: tuple[tuple[int, int], ...] = ()

    def topic(self, text: str) -> str:
        """``text`` without the names of documents and places it mentions (the text itself
        when nothing else would be left)."""
        if not self.spans:
            return text
        kept = list(text)
        for start, end in self.spans:
            kept[start:end] = [" "] * (end - start)
        rest = re.sub(r"\s+", " ", re.sub(r"《\s*》", " ", "".join(kept))).strip(" ，,。、")
        return rest if len(rest) >= 2 else text


@cache
def english_titles() -> dict[str, tuple[str, ...]]:
    """Official English titles of national laws (lowercased), by short name (``data/english_titles.toml``)."""
    text = resources.files("retriever").joinpath("data/english_titles.toml").read_text(encoding="utf-8")
    return {name: tuple(t.lower() for t in titles) for name, titles in tomllib.loads(text)["titles"].items()}


def document_names(document: Document) -> tuple[str, ...]:
    """The spellings a question may use for a document, longest first.

    A local regulation is only named with its place (北京市安全生产条例): without it,
    the name would be the national law's. A national law is also named by its official
    English title (*Emergency Response Law*).
    """
    names = {document.title, document.short_name}
    for name in (document.title, document.short_name):
        if name.startswith("中华人民共和国"):
            names.add(name[len("中华人民共和国"):])
    if document.level == "national":
        for name in list(names):
            names.update(english_titles().get(name, ()))
        for line in document.header:
            for number in _ORDER.findall(line):
                names.update((f"{number}号令", f"国务院令第{number}号", f"国务院{number}号令"))
    return tuple(sorted((n for n in names if len(n) >= 3), key=len, reverse=True))


def region_aliases(region: str) -> tuple[str, ...]:
    """How people name a region: 北京市 → 北京; 深圳经济特区 → 深圳; 新疆维吾尔自治区 → 新疆, 自治区."""
    names = {region, *_PROVINCES.get(region, ())}
    stripped = _CITY_SUFFIX.sub("", region)
    if len(stripped) >= 2:
        names.add(stripped)
    return tuple(sorted(names, key=len, reverse=True))


def same_region(a: str | None, b: str | None) -> bool:
    """Whether two region names denote the same place (北京 and 北京市)."""
    if not a or not b:
        return False
    return a == b or bool(set(region_aliases(a)) & set(region_aliases(b)))


def applies_in(document_region: str, place: str) -> bool:
    """Whether a document of ``document_region`` applies in ``place``: the same place, or
    the province of a city (新疆维吾尔自治区 rules apply in 乌鲁木齐市)."""
    return same_region(document_region, place) or same_region(document_region, _CITIES.get(place))


class DocumentNames:
    """The names and places of a library's documents, prepared once and read against each question.

    Sorting every spelling of every document costs milliseconds at a few thousand documents, so
    a searcher builds this once and asks :meth:`mentions` per question.
    """

    def __init__(self, documents: Sequence[Document]) -> None:
        self.documents = tuple(documents)
        self._by_id = {doc.id: doc for doc in self.documents}
        self._names = sorted(((name.lower(), len(name), doc.id) for doc in self.documents
                              for name in document_names(doc)), key=lambda entry: entry[1], reverse=True)
        self._held = {name for doc in self.documents
                      for name in (doc.short_name, doc.title.removeprefix("中华人民共和国"))}
        self._places = _place_spellings(self.documents)
        self._place_names = frozenset(alias for alias, _ in self._places) | {"自治区", "自治州", "兵团"}
        rules = [doc.id for doc in self.documents if doc.short_name.endswith("细则") or doc.title.endswith("细则")]
        self._only_rules = rules[0] if len(rules) == 1 else None
        self._has_rules_of: dict[str, bool] = {}
        self._holds_own_of: dict[str, bool] = {}
        # For loosely written names: per last character (法, 例, 则 …), each document's region
        # spellings and the character sets of its titles.
        self._by_ending: dict[str, list[tuple[Document, tuple[str, ...], frozenset[str]]]] = {}
        for doc in self.documents:
            aliases = region_aliases(doc.region) if doc.region else ()
            for title in (doc.short_name, doc.title.removeprefix(_STATE_PREFIX)):
                if title:
                    self._by_ending.setdefault(title[-1], []).append((doc, aliases, frozenset(title)))

    def mentions(self, text: str) -> DocumentMention:
        """Read the documents, place and level a (normalised) question names."""
        found: list[tuple[int, int, str]] = []
        for name, length, doc_id in self._names:
            start = text.find(name)
            if start < 0 or any(s <= start < e for s, e, _ in found):
                continue
            found.append((start, start + length, doc_id))
        # 《消防法实施细则》 names another text than 消防法: a document's name inside a longer
        # bracketed title does not name that document.
        for match in _BRACKETED.finditer(text):
            inside = [f for f in found if match.start(1) <= f[0] and f[1] <= match.end(1)]
            # (《安全生产法第十条》 still names 安全生产法: its title, then a citation.)
            whole = [f for f in inside if f[0] == match.start(1)
                     and (f[1] == match.end(1) or text.startswith("第", f[1]))]
            if inside and not whole:
                found = [f for f in found if f not in inside]
        unknown: list[str] = []
        subsidiary: list[tuple[int, int]] = []
        for f in list(found):
            if (suffix := _SUBSIDIARY.match(text, f[1])) is not None:
                found.remove(f)
                subsidiary.append((f[0], suffix.end()))
                unknown.append(text[f[0]:suffix.end()])
            elif (_SUBSIDIARY_AFTER_EN.match(text, f[1]) is not None
                  or _SUBSIDIARY_BEFORE_EN.search(text, max(0, f[0] - 60), f[0]) is not None):
                found.remove(f)  # the Implementing Regulations of the Mine Safety Law: another text
                subsidiary.append((f[0], f[1]))
                unknown.append(f"{self._by_id[f[2]].short_name}实施条例")
        named = list(dict.fromkeys(doc_id for _, _, doc_id in found))
        spans = [(s, e) for s, e, _ in found] + subsidiary
        loose: list[tuple[int, int, str]] = []
        for match in (*_BRACKETED.finditer(text), *_BARE_NAME.finditer(text)):
            name = match.group(1)
            start = match.start(1)
            if match.re is _BARE_NAME and (lead := _NAME_LEAD_IN.match(name)):
                if len(name) - lead.end() < 3:
                    continue  # 并按照规定: no name after the lead-in
                name, start = name[lead.end():], start + lead.end()
            if _KIND_THEN_VERB.fullmatch(name):
                continue
            if any(s <= start < e or start <= s < start + len(name) for s, e in spans):
                continue
            # (A bracketed name is a title whatever it ends with: 《…实施〈消防法〉办法》.)
            bare = match.re is _BARE_NAME
            if ((bare and name.endswith(_NOT_NAMES) and not name.endswith(_NAME_ENDINGS)) or name in _NOT_NAMES
                    or len(name) < 3 or _DEICTIC.match(name) or _QUESTION_WORDS.search(name)):
                continue
            near = self._nearest_document(name)
            if near is not None:
                spans.append((start, start + len(name)))
                loose.append((start, start + len(name), near.id))
                if near.id not in named:
                    named.append(near.id)
            elif name not in unknown:
                unknown.append(name)
        for doc_id, version in self._other_versions(text, named):
            named.remove(doc_id)
            unknown.append(version)
        # A national law named by its English title that the library does not hold.
        for name, titles in english_titles().items():
            if name not in self._held and name not in unknown and any(t in text for t in titles):
                unknown.append(name)
        for match in _ORDER_NAME.finditer(text):
            name = (match.group(1) or match.group(2)).strip()
            if not any(s < match.end() and match.start() < e for s, e in spans) and name not in unknown:
                spans.append(match.span())
                unknown.append(name)  # (a held document's order number is one of its names, found above)
        if not named and (foreign := _FOREIGN.search(text)) is not None:
            unknown.append(f"{foreign.group(1)}的法规")  # Singapore's WSH Regulations
        for match in _NOTICE.finditer(text):
            if (match.group(1) not in unknown and not any(s <= match.start(1) < e for s, e in spans)
                    and self._nearest_document(match.group(1)) is None):
                spans.append(match.span(1))
                unknown.append(match.group(1))
        for match in _ABBREVIATION.finditer(text):
            if any(s <= match.start(1) < e for s, e in spans):
                continue
            full = _ABBREVIATIONS[match.group(1)]
            held = [doc.id for doc in self.documents if doc.short_name == full]
            spans.append(match.span(1))
            if held:
                named.extend(d for d in held if d not in named)
            elif full not in unknown:
                unknown.append(full)
        if (not named and not unknown and self._only_rules is not None
                and (alone := _BARE_RULES.search(text)) is not None):
            named.append(self._only_rules)
            spans.append(alone.span(1))
        region, region_span = self._find_region(text)
        if region_span is not None and not any(s <= region_span[0] < e for s, e in spans):
            spans.append(region_span)
        if region and region_span is not None:
            # 内蒙古自治区的“三个必须”实施细则: another region's text of the kind a held document is.
            for start, end, doc_id in (*found, *loose):
                doc = self._by_id[doc_id]
                if (doc_id in named and doc.region and not applies_in(doc.region, region)
                        and region_span[1] <= start and _BETWEEN_PLACE_AND_NAME.fullmatch(text, region_span[1], start)):
                    named.remove(doc_id)
                    unknown.append(text[region_span[0]:end].translate(_NO_QUOTES))
        if region in _OWN_LAW_REGIONS and _MAINLAND.search(text):
            region = None  # My cousin in Hong Kong asks: in mainland China …: the mainland's law is asked
        if region in _OWN_LAW_REGIONS and not self._has_rules(region):
            named = []  # 台湾的消防法: the national laws of the library do not apply there
            unknown.append(f"{_OWN_LAW_REGIONS[region]}的法律法规")
        elif (region and region_span is not None and not self._has_rules(region)
              and _OWN_OFFICE.match(text, region_span[1])):
            unknown.append(f"{region}各部门的安全生产职责规定")  # 宁夏回族自治区应急管理厅承担哪些职责
        if (own := self._own_text(text, region)) is not None:
            named = []  # 湖南省自己的烟花爆竹安全管理条例: that place's own text, which the library lacks
            if not any(u.endswith(own[-4:]) for u in unknown):
                unknown.append(own)
        # 深圳有什么地方规定: a place's own rules, and the library holds none of that place.
        if region and not named and _LOCAL_RULES.search(text) and not self._has_rules(region):
            unknown.append(f"{region}的地方性法规")
        return DocumentMention(documents=tuple(named), unknown_names=tuple(unknown), region=region,
                               level="national" if _NATIONAL_CUE.search(text) else None, spans=tuple(sorted(spans)))

    def is_place(self, word: str) -> bool:
        """Whether ``word`` is a place's name (新疆, 北京市, 自治区): what a statement says is not about it."""
        return word in self._place_names

    def _other_versions(self, text: str, named: Sequence[str]) -> list[tuple[str, str]]:
        """The named documents whose asked version (a draft, another year's text) the library lacks,
        each with that version's name (``突发事件应对法（2007年版）``).

        ``2007年版突发事件应对法`` names the 2007 text: the library's 2024 revision is another text
        (unless a version of that year is in the library too); ``消防法修订草案`` names a draft.
        """
        draft = _DRAFT.search(text)
        found = _VERSION_YEAR.search(text)
        if draft is None and found is None:
            return []
        year = None
        if found is not None:
            year = found.group(1) or f"{'19' if int(found.group(2)) >= 50 else '20'}{found.group(2)}"
        lacking: list[tuple[str, str]] = []
        for doc_id in named:
            doc = self._by_id[doc_id]
            if draft is not None:
                lacking.append((doc_id, f"{doc.short_name}（{draft.group(0)}）"))
            elif year is not None and not any(
                    d.short_name == doc.short_name and (d.version_date or "").startswith(year)
                    for d in self.documents):
                lacking.append((doc_id, f"{doc.short_name}（{year}年版）"))
        return lacking

    def _nearest_document(self, name: str) -> Document | None:
        """The document a loosely written name means (危险化学品管理条例, 三管三必须实施细则), if one is close.

        Close: the same kind of text (the same last character: 法, 条例, 细则 …) and at least 80 %
        of the name's characters in the document's title or short name.
        """
        best: tuple[float, Document | None] = (0.0, None)
        # 中华人民共和国劳动法 is not 中华人民共和国安全生产法: the state's name is no evidence.
        name = name.removeprefix(_STATE_PREFIX).translate(_NO_QUOTES)
        if len(name) < 2:
            return None
        for doc, aliases, title_chars in self._by_ending.get(name[-1], ()):
            # 新疆实施细则: the place named first is the document's own region.
            spelled = name
            for alias in aliases:
                if name.startswith(alias) and len(name) - len(alias) >= 3:
                    spelled = name[len(alias):].removeprefix("的")  # 新疆的三个必须实施细则
                    spelled = _THAT.sub("", spelled)  # 新疆那个三个必须细则
                    break
            chars = set(spelled)
            share = len(chars & title_chars) / len(chars)
            if share > best[0]:
                best = (share, doc)
        return best[1] if best[0] >= 0.8 else None

    def _find_region(self, text: str) -> tuple[str | None, tuple[int, int] | None]:
        """The place a question names (a region of the library first, else a province) and where.

        Not where a person comes from (台湾老板开的五金店, 上海游客): another place named is looked for.
        """
        for _ in range(3):
            region, span = self._first_place(text)
            if span is None or not _ORIGIN.match(text, span[1]):
                return region, span
            text = text[:span[0]] + " " * (span[1] - span[0]) + text[span[1]:]
        return None, None

    def _first_place(self, text: str) -> tuple[str | None, tuple[int, int] | None]:
        """The first spelling of a place found (longest spellings tried first), and where."""
        for alias, region in self._places:
            start = text.find(alias)
            if start >= 0:
                return region, (start, start + len(alias))
        if match := _ENGLISH_PLACE.search(text):
            return _ENGLISH_PLACES[match.group(1)], match.span()
        return None, None

    def _own_text(self, text: str, region: str | None) -> str | None:
        """The name of a place's own text that the question asks for and the library lacks
        (湖南省自己的烟花爆竹安全管理条例 → 湖南省烟花爆竹安全管理条例), or None.

        The place is the question's region, when the library holds no text of exactly that place
        (新疆自己的三个必须细则 is the seed; 乌鲁木齐自己出台的办法 is not), or the 兵团 and its divisions.
        """
        for match in _OWN_TEXT.finditer(text):
            before = text[max(0, match.start() - _OWN_REACH):match.start()]
            places = [m.group(0) for m in _CORPS.finditer(before)]
            if not places and region is not None and not self._holds_own(region):
                places = sorted((alias for alias in region_aliases(region) if alias in before), key=len)
            if not places and region is None:
                # 伊犁州党委、州政府自己印发的清单: a prefecture or county no text of the library is of.
                places = [m.group(1) for m in _LOCAL_PLACE.finditer(before) if not m.group(1).endswith("自治区")]
            if places:
                lead = _OWN_LEAD.match(text, match.start())
                thing = text[lead.end() if lead else match.start():match.end()]
                return f"{places[-1]}{thing}".translate(_NO_QUOTES)
        for place in _ENGLISH_PLACE.finditer(text):
            # (Any place of the question: My boss in Dalian says Liaoning has its own … ordinance.)
            named_place = _ENGLISH_PLACES[place.group(1)]
            if _OWN_TEXT_EN.match(text, place.end()) and not self._holds_own(named_place):
                return f"{named_place}的地方性法规"
        return None

    def _holds_own(self, region: str | None) -> bool:
        """Whether the library holds a text of exactly ``region`` (not only of the province around it)."""
        if region is None:
            return False
        if region not in self._holds_own_of:
            self._holds_own_of[region] = any(same_region(doc.region, region) for doc in self.documents)
        return self._holds_own_of[region]

    def _has_rules(self, region: str) -> bool:
        """Whether the library holds documents that apply in ``region``."""
        if region not in self._has_rules_of:
            self._has_rules_of[region] = any(doc.region and applies_in(doc.region, region) for doc in self.documents)
        return self._has_rules_of[region]


def find_mentions(text: str, documents: Sequence[Document]) -> DocumentMention:
    """Read the documents, place and level a (normalised) question names (one-off; a searcher
    keeps a :class:`DocumentNames`)."""
    return DocumentNames(documents).mentions(text)


def _place_spellings(documents: Iterable[Document]) -> list[tuple[str, str]]:
    """Every spelling of a place (the library's regions, provinces, large cities), longest first."""
    regions = {doc.region for doc in documents if doc.region}
    spellings = [(alias, region) for region in regions for alias in region_aliases(region)]
    spellings += [(alias, province) for province, aliases in _PROVINCES.items() for alias in (province, *aliases)]
    spellings += [(alias, city) for city in _CITIES for alias in (city, city[:-1])]
    return [pair for pair in sorted(spellings, key=lambda pair: len(pair[0]), reverse=True) if len(pair[0]) >= 2]


def tier(document: Document, region: str | None) -> int:
    """How specific ``document`` is for a question asked in ``region`` (lower is more specific)."""
    if document.level == "national" or not document.region:
        return TIER_NATIONAL
    if not region:  # no home region: every region's documents apply, duty lists first
        return TIER_DUTY_LIST if document.role == "duty_list" else TIER_LOCAL
    if region and applies_in(document.region, region):
        return TIER_DUTY_LIST if document.role == "duty_list" else TIER_LOCAL
    return TIER_OTHER_REGION


__all__ = [
    "TIER_DUTY_LIST",
    "TIER_LOCAL",
    "TIER_NATIONAL",
    "TIER_OTHER_REGION",
    "DocumentMention",
    "DocumentNames",
    "applies_in",
    "document_names",
    "find_mentions",
    "region_aliases",
    "same_region",
    "tier",
]
