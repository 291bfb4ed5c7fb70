"""Which documents a question names, its place, and each document's specificity tier."""

from __future__ import annotations

from retriever.records import Document
from retriever.routing import (
    TIER_DUTY_LIST,
    TIER_LOCAL,
    TIER_NATIONAL,
    TIER_OTHER_REGION,
    find_mentions,
    region_aliases,
    same_region,
    tier,
)

SEED = Document(id="seed", title="自治区管行业必须管安全实施细则", short_name="自治区管行业必须管安全实施细则",
                level="provincial", region="新疆维吾尔自治区", role="duty_list")
WORK_SAFETY = Document(id="aq", title="中华人民共和国安全生产法", short_name="安全生产法", level="national")
FIRE = Document(id="xf", title="中华人民共和国消防法", short_name="消防法", level="national")
BEIJING = Document(id="bj", title="北京市安全生产条例", short_name="北京市安全生产条例", level="provincial",
                   region="北京市")
LIBRARY = [SEED, WORK_SAFETY, FIRE, BEIJING]


def test_named_documents_longest_first() -> None:
    assert find_mentions("安全生产法第十条", LIBRARY).documents == ("aq",)
    assert find_mentions("《消防法》规定谁负责消防安全", LIBRARY).documents == ("xf",)
    assert find_mentions("中华人民共和国安全生产法第十条", LIBRARY).documents == ("aq",)
    assert find_mentions("北京市安全生产条例第三条", LIBRARY).documents == ("bj",)
    assert find_mentions("网吧归谁管", LIBRARY).documents == ()


def test_unknown_regulations_are_reported_not_guessed() -> None:
    mention = find_mentions("食品安全法规定谁负责学校食堂", LIBRARY)
    assert mention.documents == ()
    assert mention.unknown_names == ("食品安全法",)
    assert find_mentions("依法查处违法行为归谁", LIBRARY).unknown_names == ()
    assert find_mentions("有什么办法", LIBRARY).unknown_names == ()


def test_unknown_names_after_a_comma_or_a_lead_in() -> None:
    # Questions arrive NFKC-normalised: ， is a plain comma.
    assert find_mentions("按照建筑法,施工许可证谁发", LIBRARY).unknown_names == ("建筑法",)
    assert find_mentions("帮我查一下网络安全法关于数据出境的规定", LIBRARY).unknown_names == ("网络安全法",)
    assert find_mentions("我想了解下环保法里企业排污的责任", LIBRARY).unknown_names == ("环保法",)
    assert find_mentions("电力设施保护条例谁来执行", LIBRARY).unknown_names == ("电力设施保护条例",)
    assert find_mentions("根据消防法,谁负责消防安全", LIBRARY).documents == ("xf",)
    assert find_mentions("建立档案,并按照规定的期限保存", LIBRARY).unknown_names == ()


def test_places() -> None:
    assert find_mentions("在北京开网吧归谁管", LIBRARY).region == "北京市"
    assert find_mentions("深圳的电梯谁管", LIBRARY).region == "深圳市"
    assert find_mentions("新疆的网吧谁管", LIBRARY).region == "新疆维吾尔自治区"
    assert "北京" in region_aliases("北京市")
    assert same_region("北京", "北京市")
    assert not same_region("北京市", "上海市")


def test_tiers_for_the_home_region() -> None:
    assert tier(SEED, "新疆维吾尔自治区") == TIER_DUTY_LIST
    assert tier(WORK_SAFETY, "新疆维吾尔自治区") == TIER_NATIONAL
    assert tier(BEIJING, "新疆维吾尔自治区") == TIER_OTHER_REGION
    assert tier(BEIJING, "北京") == TIER_LOCAL
    assert tier(SEED, "北京市") == TIER_OTHER_REGION


def test_a_province_s_rules_apply_in_its_cities() -> None:
    assert find_mentions("乌鲁木齐的网吧谁管", LIBRARY).region == "乌鲁木齐市"
    assert tier(SEED, "乌鲁木齐市") == TIER_DUTY_LIST
    assert tier(SEED, "广州市") == TIER_OTHER_REGION


def test_the_topic_is_the_question_without_the_documents_and_place_it_names() -> None:
    mention = find_mentions("安全生产许可证条例规定哪些企业必须办许可证", [*LIBRARY, Document(
        id="xk", title="安全生产许可证条例", short_name="安全生产许可证条例", level="national")])
    assert mention.topic("安全生产许可证条例规定哪些企业必须办许可证") == "规定哪些企业必须办许可证"
    text = "《消防法》规定谁负责消防安全"
    assert find_mentions(text, LIBRARY).topic(text) == "规定谁负责消防安全"
    text = "在北京开网吧归谁管"
    assert find_mentions(text, LIBRARY).topic(text) == "在 开网吧归谁管"
    # Nothing else left: the text itself.
    assert find_mentions("安全生产法", LIBRARY).topic("安全生产法") == "安全生产法"
    assert find_mentions("网吧归谁管", LIBRARY).topic("网吧归谁管") == "网吧归谁管"


def test_a_national_law_is_named_by_its_english_title() -> None:
    emergency = Document(id="tf", title="中华人民共和国突发事件应对法", short_name="突发事件应对法", level="national")
    text = "what does article 18 of the emergency response law say?"
    assert find_mentions(text, [*LIBRARY, emergency]).documents == ("tf",)
    assert find_mentions("what does the fire protection law require?", LIBRARY).documents == ("xf",)
    # Only national laws: a local regulation is not named by a national law's English title.
    assert find_mentions("work safety law", [BEIJING]).documents == ()


def test_this_regulation_is_not_an_unknown_name() -> None:
    for text in ("这个实施细则是为了什么制定的", "本条例什么时候施行", "该法规定谁负责"):
        assert find_mentions(text, LIBRARY).unknown_names == (), text


def test_a_law_named_in_english_that_the_library_lacks_is_unknown() -> None:
    mention = find_mentions("what does the food safety law say about school canteens?", LIBRARY)
    assert mention.documents == ()
    assert mention.unknown_names == ("食品安全法",)
    # A law the library holds is not unknown.
    assert find_mentions("what does the fire protection law require?", LIBRARY).unknown_names == ()


def test_short_and_region_prefixed_names() -> None:
    labour = find_mentions("劳动法规定每天加班最多几个小时", LIBRARY)
    assert labour.unknown_names == ("劳动法",)
    assert find_mentions("新疆实施细则第四十九条讲的是哪个部门的职责", [SEED, *LIBRARY[1:]]).documents == ("seed",)
    # Another region's name before the document's words is not this document.
    assert find_mentions("上海实施细则第四十九条", [SEED, *LIBRARY[1:]]).documents == ()


def test_names_ending_like_common_words() -> None:
    assert find_mentions("上海市电梯安全管理办法对维保有什么要求", LIBRARY).unknown_names == ("上海市电梯安全管理办法",)
    assert find_mentions("民法典对高空抛物怎么规定", LIBRARY).unknown_names == ("民法典",)
    assert find_mentions("有什么好办法", LIBRARY).unknown_names == ()


def test_a_place_s_own_rules_that_the_library_lacks() -> None:
    mention = find_mentions("深圳市对电动自行车上路有什么地方规定", LIBRARY)
    assert mention.unknown_names == ("深圳市的地方性法规",)
    # The library holds Beijing's regulation: not unknown.
    assert find_mentions("北京有什么地方规定", LIBRARY).unknown_names == ()
    assert find_mentions("深圳的电梯谁管", LIBRARY).unknown_names == ()


def test_a_place_s_own_offices_and_laws_that_the_library_lacks() -> None:
    office = find_mentions("宁夏回族自治区应急管理厅承担哪些安全生产监管职责", LIBRARY)
    assert office.unknown_names == ("宁夏回族自治区各部门的安全生产职责规定",)
    assert find_mentions("西藏自治区安委会的成员单位都有哪些", LIBRARY).unknown_names
    # The home region's offices, a place the library has rules for, and a city's 局 are not unknown.
    assert find_mentions("新疆维吾尔自治区应急管理厅职责", LIBRARY).unknown_names == ()
    assert find_mentions("北京市应急管理局负责什么", LIBRARY).unknown_names == ()
    assert find_mentions("广东的厅级干部", LIBRARY).unknown_names == ()
    # The national laws do not apply in Taiwan, Hong Kong or Macao.
    taiwan = find_mentions("台湾的消防法有没有规定住家要装火灾警报器", LIBRARY)
    assert taiwan.documents == () and taiwan.unknown_names == ("台湾地区的法律法规",)
    assert find_mentions("依细则规定，地方性法规草案由哪个部门起草", LIBRARY).unknown_names == ()  # 细则 + the verb
    far = find_mentions("内蒙古是把化工园区认定放在工信厅还是应急厅", LIBRARY)  # the office far from the place
    assert far.unknown_names == ("内蒙古自治区各部门的安全生产职责规定",)
    assert find_mentions("上海的宴会厅要配几个灭火器", LIBRARY).unknown_names == ()  # a hall, not an office
    # Asked from Hong Kong about the mainland: the national laws answer.
    mainland = find_mentions("my cousin in hong kong asks: in mainland china, who is fined under the fire "
                             "protection law", LIBRARY)
    assert mainland.unknown_names == () and mainland.region is None and mainland.documents


def test_a_notice_named_by_its_subject() -> None:
    mention = find_mentions("国务院安委会关于做好冬季安全生产工作的通知提了哪些要求", LIBRARY)
    assert mention.unknown_names == ("关于做好冬季安全生产工作的通知",)
    bracketed = find_mentions("《关于加强安全生产工作的决定》说了啥", LIBRARY)
    assert bracketed.unknown_names == ("关于加强安全生产工作的决定",)
    assert find_mentions("关于消防的问题问谁", LIBRARY).unknown_names == ()
    assert find_mentions("安全生产十五条硬措施是哪十五条", LIBRARY).unknown_names == ("十五条硬措施",)


def test_another_region_s_text_of_a_held_kind() -> None:
    other = find_mentions("内蒙古自治区的“三管三必须”实施细则里能源局管什么", LIBRARY)
    assert other.documents == () and other.unknown_names == ("内蒙古自治区的“三管三必须”实施细则",)
    # The home region's own text, written with its place and 的 (or quotes), is that text.
    assert find_mentions("新疆的三管三必须实施细则里公安厅管什么", LIBRARY).documents == ("seed",)
    assert find_mentions("自治区“管行业必须管安全”实施细则第十条", LIBRARY).documents == ("seed",)


def test_two_character_abbreviations() -> None:
    assert find_mentions("安法第48条啥意思", LIBRARY).documents == ("aq",)
    assert find_mentions("想查一下安法第120条原文", LIBRARY).documents == ("aq",)
    consumer = find_mentions("能按消法要求退一赔三吗", LIBRARY)
    assert consumer.documents == () and consumer.unknown_names == ("消费者权益保护法",)
    assert find_mentions("公安法规怎么说", LIBRARY).unknown_names == ()


def test_places_named_in_english() -> None:
    assert find_mentions("who regulates food safety in beijing?", LIBRARY).region == "北京市"
    assert find_mentions("which department approves fireworks in urumqi?", LIBRARY).region == "乌鲁木齐市"
    assert find_mentions("who supervises mines in xinjiang?", LIBRARY).region == "新疆维吾尔自治区"
    assert find_mentions("who inspects elevators in hong kong", LIBRARY).region == "香港特别行政区"
    assert find_mentions("who inspects the machine", LIBRARY).region is None  # no place inside a word


def test_the_state_name_is_no_evidence_for_a_loose_name() -> None:
    assert find_mentions("《中华人民共和国劳动法》第三十六条", LIBRARY).unknown_names == ("中华人民共和国劳动法",)
    assert find_mentions("《中华人民共和国安全生产法》第十条", LIBRARY).documents == ("aq",)


def test_a_document_name_inside_a_longer_title_does_not_name_it() -> None:
    mention = find_mentions("按照《消防法实施细则》办理", LIBRARY)
    assert mention.documents == () and mention.unknown_names == ("消防法实施细则",)
    assert find_mentions("《消防法》第十条", LIBRARY).documents == ("xf",)
    assert find_mentions("《中华人民共和国消防法》第十条", LIBRARY).documents == ("xf",)
    assert find_mentions("《安全生产法第十条》讲了什么", LIBRARY).documents == ("aq",)
    # A bracketed title is a name whatever it ends with (办法 alone is a common word).
    nested = find_mentions("《新疆维吾尔自治区实施〈消防法〉办法》里怎么规定", LIBRARY)
    assert nested.documents == () and nested.unknown_names == ("新疆维吾尔自治区实施〈消防法〉办法",)


def test_a_law_s_implementing_regulation_is_another_text() -> None:
    mention = find_mentions("安全生产法实施条例 开车打手机怎么罚", LIBRARY)
    assert mention.documents == () and mention.unknown_names == ("安全生产法实施条例",)
    held = Document(id="ss", title="安全生产法实施条例", short_name="安全生产法实施条例", level="national")
    assert find_mentions("安全生产法实施条例第三条", [*LIBRARY, held]).documents == ("ss",)


def test_a_regulation_is_named_by_the_order_that_published_it() -> None:
    report = Document(id="sg", title="生产安全事故报告和调查处理条例", short_name="生产安全事故报告和调查处理条例",
                      level="national", header=("2007年4月9日 中华人民共和国国务院令第493号公布",))
    for text in ("493号令第五十条", "国务院令第493号第三十二条", "国务院493号令怎么规定事故报告"):
        assert find_mentions(text, [*LIBRARY, report]).documents == ("sg",), text
    assert find_mentions("第493号", [*LIBRARY, report]).documents == ()


def test_a_version_the_library_does_not_hold_is_another_text() -> None:
    dated = Document(id="xf", title="中华人民共和国消防法", short_name="消防法", level="national",
                     version_date="2021-04-29")
    library = [SEED, WORK_SAFETY, dated]
    mention = find_mentions("2008年版消防法第十条说的是什么", library)
    assert mention.documents == () and mention.unknown_names == ("消防法（2008年版）",)
    assert find_mentions("2021年版消防法第十条", library).documents == ("xf",)
    draft = find_mentions("消防法最新的修订草案改了什么", library)
    assert draft.documents == () and draft.unknown_names == ("消防法（草案）",)
    assert find_mentions("消防法2021年修订后第十条", library).documents == ("xf",)  # not a version ask


def test_a_name_before_a_verb_is_still_a_name() -> None:
    mention = find_mentions("商场按反恐怖主义法要配哪些防范措施", LIBRARY)
    assert mention.unknown_names == ("反恐怖主义法",)
    for text in ("国家规定要多久检测一次电梯", "公司规定要戴安全帽", "国家规定的期限是多久", "法律规定要买工伤保险吗"):
        assert find_mentions(text, LIBRARY).unknown_names == (), text  # who made a rule, not its title


def test_a_place_s_own_text_is_not_the_national_law() -> None:
    hunan = find_mentions("湖南省自己的消防法规对小作坊有没有另外的规定", LIBRARY)
    assert hunan.documents == () and hunan.unknown_names == ("湖南省消防法规",)
    # A name already read as unknown is not reported twice.
    assert find_mentions("湖南省自己的消防法实施办法怎么规定", LIBRARY).unknown_names == ("消防法实施办法",)
    guangdong = find_mentions("广东省自己出台的安全生产条例怎么规定", LIBRARY)
    assert guangdong.documents == () and guangdong.unknown_names == ("广东省自己出台的安全生产条例",)
    corps = find_mentions("在兵团第八师办演唱会,兵团自己出台的大型活动审批办法是怎么规定的", LIBRARY)
    assert corps.unknown_names[-1] == "兵团大型活动审批办法"
    # A place whose own text the library holds: that text (the seed for 新疆).
    home = find_mentions("新疆自己的管行业必须管安全实施细则里应急厅管什么", LIBRARY)
    assert home.documents == ("seed",) and home.unknown_names == ()


def test_an_implementing_regulation_named_in_english() -> None:
    mention = find_mentions("does the implementing regulations of the work safety law say more?", LIBRARY)
    assert mention.documents == () and mention.unknown_names == ("安全生产法实施条例",)
    assert find_mentions("what does the work safety law say about training?", LIBRARY).documents == ("aq",)


def test_a_kind_of_law_is_not_a_title() -> None:
    assert find_mentions("县里想给举报人发奖金,上位法有没有依据", LIBRARY).unknown_names == ()


def test_two_digit_years_and_english_places_own_rules() -> None:
    old = find_mentions("84年那部老的《安全生产法》对培训咋规定的", LIBRARY)
    assert old.documents == () and old.unknown_names == ("安全生产法（1984年版）",)
    assert find_mentions("07年旧版消防法第四十二条", LIBRARY).unknown_names == ("消防法（2007年版）",)
    guangzhou = find_mentions("what does guangzhou's own municipal fire-safety regulation require?", LIBRARY)
    assert guangzhou.unknown_names == ("广州市的地方性法规",)
    assert find_mentions("in guangzhou, who supervises fire safety?", LIBRARY).unknown_names == ()


def test_a_name_after_said_or_in_brackets() -> None:
    assert find_mentions("同事说消防法第十条是讲什么的", LIBRARY).documents == ("xf",)
    bracketed = find_mentions("does the regulation (使用有毒物品作业场所劳动保护条例) require it?", LIBRARY)
    assert bracketed.unknown_names == ("使用有毒物品作业场所劳动保护条例",)


def test_orders_foreign_rules_and_more_own_texts() -> None:
    assert find_mentions("公安部61号令规定每天要防火巡查吗", LIBRARY).unknown_names == ("公安部61号令",)
    assert find_mentions("under saws order no. 40, how often?", LIBRARY).unknown_names == ("saws order no. 40",)
    assert find_mentions("我住3号楼,楼道堆杂物归谁管", LIBRARY).unknown_names == ()
    singapore = find_mentions("under singapore's wsh (risk management) regulations, how often?", LIBRARY)
    assert singapore.unknown_names == ("singapore的法规",)
    assert find_mentions("compared with singapore, what does the work safety law say?", LIBRARY).documents == ("aq",)
    corps = find_mentions("兵团第七师自己出的三个必须责任清单里师应急管理局管哪些事", LIBRARY)
    assert corps.unknown_names == ("第七师三个必须责任清单",)
    guangzhou = find_mentions("广州 安委办设在哪个单位", LIBRARY)
    assert guangzhou.unknown_names and "广州" in guangzhou.unknown_names[0]


def test_a_held_order_number_with_its_issuer_and_a_foreign_way_of_doing() -> None:
    work_safety = Document(id="aq", title="中华人民共和国安全生产法", short_name="安全生产法", level="national",
                           header=("中华人民共和国国务院令第493号公布",))
    assert find_mentions("国务院493号令第三条", [work_safety]).unknown_names == ()
    assert find_mentions("像日本的做法那样,厂里的安全培训归谁管", LIBRARY).unknown_names == ()


def test_names_of_the_fourth_round() -> None:
    assert find_mentions("新安法对没买安责险的企业怎么罚", LIBRARY).documents == ("aq",)
    assert find_mentions("预警分几级,是那个法规定的", LIBRARY).unknown_names == ()
    farm = find_mentions("农业机械安全监督管理条例哪一条规定要定期检验", LIBRARY)
    assert farm.unknown_names == ("农业机械安全监督管理条例",)
    assert find_mentions("矿井防尘系统有没有法定要求?哪部法哪一条", LIBRARY).unknown_names == ()
    gansu = find_mentions("甘肃省出台的管行业必须管安全那套部门职责细则里卫健委管什么", LIBRARY)
    assert gansu.documents == () and gansu.unknown_names
    tenth = find_mentions("十四师昆玉市住建局自己有没有印发安全生产职责清单", LIBRARY)
    assert tenth.unknown_names and tenth.unknown_names[-1].startswith("十四师")


def test_names_of_the_fifth_round() -> None:
    # The library's only 细则, named alone: that one (a library of two 细则 would not say which).
    assert find_mentions("细则第十条的第(四)项是讲啥的", LIBRARY).documents == ("seed",)
    assert find_mentions("县里要不要再出一套细则", LIBRARY).documents == ()
    # A prefecture's or a division's own text, a place's own rules asked about, an English place's regulation.
    ili = find_mentions("伊犁州党委、州政府自己印发的州级职责清单里教育局有几条", LIBRARY)
    assert ili.documents == () and ili.unknown_names == ("伊犁州州级职责清单",)
    division = find_mentions("第一师阿拉尔市应急管理局出的棉花加工企业安全检查标准列了哪些", LIBRARY)
    assert division.unknown_names == ("第一师棉花加工企业安全检查标准",)
    corps = find_mentions("兵团自己的生产安全事故应急预案里响应分几级", LIBRARY)
    assert corps.unknown_names == ("兵团生产安全事故应急预案",)
    assert find_mentions("江苏那边省里有没有专门管实验室危化品的规定", LIBRARY).unknown_names
    assert find_mentions("does the shanghai fire protection regulation require drills?", LIBRARY).unknown_names
    assert not find_mentions("in shanghai, does the national fire law apply?", LIBRARY).unknown_names
    # 刑法 is not in the library; a clause with a question word in it is no title.
    assert find_mentions("刑法修正案(十一)的危险作业罪判几年", LIBRARY).unknown_names == ("刑法",)
    assert find_mentions("法规只要求企业演练,政府部门自己多久演一次没有硬性规定,真是这样", LIBRARY).unknown_names == ()


def test_names_of_the_sixth_round() -> None:
    tacheng = find_mentions("塔城地区住建局自个儿发的起重机械管理文件要不要备案", LIBRARY)
    assert tacheng.documents == () and tacheng.unknown_names == ("塔城地区起重机械管理文件",)
    assert find_mentions("听人说细则要求每季度交报告", LIBRARY).documents == ("seed",)
    assert find_mentions("他说上牌是各省自己定的,国家没统一规定,对不对", LIBRARY).unknown_names == ()
    assert find_mentions("jiangsu has its own special equipment safety regulation, i believe.", LIBRARY).unknown_names


def test_where_a_person_comes_from_is_not_the_place_asked_about() -> None:
    shop = find_mentions("楼里一家台湾老板开的五金店能不能卖稀释剂", LIBRARY)
    assert shop.region is None and shop.unknown_names == ()
    assert find_mentions("上海游客在新疆被电动车撞了找谁", LIBRARY).region == "新疆维吾尔自治区"
    assert find_mentions("台湾的消防法怎么规定", LIBRARY).unknown_names == ("台湾地区的法律法规",)


def test_names_of_the_eighth_round() -> None:
    assert find_mentions("到了新工地还得重新受安全培训吗?国家条例咋规定的", LIBRARY).unknown_names == ()
    corps = find_mentions("兵团卫健委有没有单独印发医疗机构安全生产责任清单", LIBRARY)
    assert corps.unknown_names == ("兵团医疗机构安全生产责任清单",)
    altay = find_mentions("阿勒泰地区行署或者公安处有没有自己印发的民爆物品管理办法", LIBRARY)
    assert altay.unknown_names == ("阿勒泰地区民爆物品管理办法",)
    dalian = find_mentions("my boss in dalian says liaoning has its own provincial special-equipment ordinance.",
                           LIBRARY)
    assert dalian.unknown_names
    assert find_mentions("北京市人民政府对电动车有什么规定", LIBRARY).region == "北京市"
    assert find_mentions("北京人大通过的条例", LIBRARY).region == "北京市"
