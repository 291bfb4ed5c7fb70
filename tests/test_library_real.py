"""The real engine (real model, FAISS, jieba) over the library: the seed plus the 15 national safety laws.

Builds the library index once (about half a minute on two cores) and checks the library's
acceptance examples and that the seed's duties keep the order the seed alone gives them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.search import Searcher, open_searcher

from .conftest import SEEDS

SAMPLE = SEEDS.parent.parent / "shared" / "corpora" / "safety-sample"
SEED_ID = "000_0181f60559a07f58"

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"{SAMPLE} is not there (shared corpora missing)")


@pytest.fixture(scope="module")
def real_library(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    root: Path = tmp_path_factory.mktemp("real-library") / "index"
    return open_searcher(root, seeds_dir=[SEEDS, SAMPLE], build_if_missing=True)


def test_a_named_law_and_article_answer_first(real_library: Searcher) -> None:
    answer = real_library.search("安全生产法第十条", 5)
    assert answer.hits[0].clause.id == "安全生产法(2021-06-10)#10-1"


def test_a_law_answers_where_the_duty_list_is_silent(real_library: Searcher) -> None:
    answer = real_library.search("跨两个县的突发事件由谁负责应对？", 5)
    assert "突发事件应对法(2024-06-28)#18" in [h.clause.id for h in answer.hits[:3]]
    assert any("上一级人民政府" in d.department for d in answer.departments)


def test_the_home_duty_list_answers_first(real_library: Searcher) -> None:
    answer = real_library.search("网吧的安全检查归哪个部门？", 5)
    assert answer.hits[0].clause.id == f"{SEED_ID}#30.6"
    assert answer.departments[0].department == "自治区文化和旅游厅"


@pytest.mark.parametrize("question", ["化工厂安全生产谁监管", "电动车充电归哪个部门管？", "学校食堂的食品安全谁负责"])
def test_the_seed_keeps_its_own_order_in_the_library(real_library: Searcher, real_searcher: Searcher,
                                                      question: str) -> None:
    alone = [h.clause.id for h in real_searcher.search(question, 100).hits]
    in_library = [h.clause.id.split("#", 1)[1] for h in real_library.search(question, 30).hits
                  if h.clause.document == SEED_ID]
    assert in_library
    shown = set(in_library) & set(alone)
    assert [c for c in in_library if c in shown] == [c for c in alone if c in shown]


def test_an_amount_a_law_states_is_in_scope_and_one_none_states_is_not(real_library: Searcher) -> None:
    # The fine of 消防法 第五十八条 is in the paragraph its items follow.
    fine = real_library.search("没过消防验收就开门营业了，要罚多少钱", 5)
    assert fine.in_scope and fine.hits[0].clause.id.startswith("消防法(2021-04-29)#58")
    assert real_library.search("493号令第三十二条", 5).hits[0].clause.id.startswith(
        "生产安全事故报告和调查处理条例(2007-04-09)#32")
    threshold = real_library.search("直接经济损失多少钱算重大事故", 5)
    assert threshold.in_scope and threshold.hits[0].clause.id.startswith("生产安全事故报告和调查处理条例(2007-04-09)#3")
    for text in ("消防法第十六条第（八）项", "银行存款在50万以内是不是绝对安全",
                 "特种作业操作证丢了，在哪个APP上能补办", "道路交通安全法实施条例 开车打手机怎么罚",
                 "493号令第五十条", "三个必须实施细则是哪一年印发的", "干粉灭火器怎么用",
                 "2007年版突发事件应对法第四十三条说的是什么", "消防法最新的修订草案都改了哪些内容"):
        assert not real_library.search(text, 5).in_scope, text
    # A period stated about something else (安全生产许可证的有效期为3年) does not answer for a 达标证书,
    # nor do the texts state floors, vehicles or weights.
    for text in ("企业安全生产标准化三级达标证书有效期是几年", "农村自建房最多能盖几层",
                 "办道路运输经营许可证最少得有几辆车", "多重以上的无人机要做实名登记"):
        assert not real_library.search(text, 5).in_scope, text
    assert real_library.search("安全生产许可证的有效期是几年", 5).in_scope
    # A claim whose figures no text near it states; a standard; a local regulation the library lacks.
    for text in ("货车司机连续开4个小时就必须停车休息20分钟，这是哪条法律规定的",
                 "特种设备安全法规定电梯用满15年就必须报废吗", "GB 2894 安全标志的四种颜色各代表什么",
                 "《新疆维吾尔自治区实施〈消防法〉办法》里消防安全重点单位怎么界定"):
        assert not real_library.search(text, 5).in_scope, text
    assert real_library.search("道路交通安全法规定醉驾吊销驾照后五年内不得重新取得吗", 5).in_scope


def test_an_item_of_a_department_s_article(real_library: Searcher) -> None:
    item = real_library.search("自治区公安厅那一条的第三项写的啥", 5)
    assert item.in_scope and item.hits[0].clause.id == f"{SEED_ID}#18.3"
    assert not real_library.search("自治区应急管理厅职责的第十五项讲的是什么", 5).in_scope
    missing = real_library.search("新疆细则里公安厅那一条的第十三项写的啥", 5)
    assert not missing.in_scope and any("没有第（十三）项" in n for n in missing.notes)
    assert {h.clause.document for h in missing.hits} == {SEED_ID}


def test_an_office_no_text_names(real_library: Searcher) -> None:
    for text in ("新疆三个必须细则中自治区退役军人事务厅分工负责哪些安全生产工作",
                 "新疆生产建设兵团应急管理局分管哪些行业", "新疆审计厅在安全生产方面承担哪些职责"):
        answer = real_library.search(text, 5)
        assert not answer.in_scope and any("没有写到" in n for n in answer.notes), text
    # An alias with the region's prefix is the department (文旅厅 → 自治区文化和旅游厅).
    assert real_library.search("自治区文旅厅管网吧吗", 5).in_scope
    assert real_library.search("学校的消防和安全生产工作，自治区层面由哪个厅指导", 5).in_scope


def test_a_section_of_a_chapter_is_listed_or_said_to_be_missing(real_library: Searcher) -> None:
    section = real_library.search("特种设备安全法第二章第一节讲什么", 5)
    assert section.route == "citation" and section.in_scope
    assert section.hits[0].clause.id == "特种设备安全法(2013-06-29)#13-1"
    assert all(h.clause.section.startswith("第一节") for h in section.hits)
    assert any("第一节 一般规定" in n for n in section.notes)
    # 消防法 has no sections: out of scope, with a note that says so.
    missing = real_library.search("消防法第三章第二節講什麼", 5)
    assert not missing.in_scope and any("没有第三章第二节" in n for n in missing.notes)


def test_a_statement_about_a_cited_article(real_library: Searcher) -> None:
    """A cited article that says nothing of the statement does not answer it; one that speaks of it does."""
    unsaid = real_library.search("矿山安全法第二十六条规定工人下井前必须做酒精检测，对吧", 5)
    assert not unsaid.in_scope and unsaid.hits[0].clause.id.startswith("矿山安全法(2009-08-27)#26")
    assert any("第二十六条没有写到" in note for note in unsaid.notes)
    # 消防法第六十九条 fines 五万元以上十万元以下, not 两万: the article answers (it says otherwise).
    said = real_library.search("消防法第六十九条说消防技术服务机构出虚假文件，最多也就罚两万，对吧？", 5)
    assert said.in_scope and said.hits[0].clause.id.startswith("消防法(2021-04-29)#69")


def test_a_place_s_own_text_and_other_kinds_of_safety(real_library: Searcher) -> None:
    hunan = real_library.search("湖南省自己的烟花爆竹安全管理条例，对家庭式小作坊有没有另外的禁止条款", 5)
    assert not hunan.in_scope and any("湖南省烟花爆竹安全管理条例" in note for note in hunan.notes)
    assert not real_library.search("县里PM2.5年度考核不达标，按规定应当由哪个部门担责？", 5).in_scope
    # Cantonese: 喺烏魯木齊…要去邊一級公安 asks which level of police.
    concert = real_library.search("喺烏魯木齊搞演唱會，預計八千人入場，要去邊一級公安申請安全許可？", 5)
    assert concert.in_scope and concert.hits[0].clause.id == "大型群众性活动安全管理条例(2007-09-14)#12"


def test_figures_a_cited_article_never_states_and_loose_names_kept_whole(real_library: Searcher) -> None:
    unsaid = real_library.search("特种设备安全法第三十三条说使用登记证每5年要换一次，对不对", 5)
    assert not unsaid.in_scope and any("没有写到5年" in note for note in unsaid.notes)
    # 職防法 is 职业病防治法 loosely written: not corrected into 职 + 方法; it has no 第八十九条.
    loose = real_library.search("同事說職防法第89條是補充罰則的，想請教這條到底規範了哪件事？", 5)
    assert not loose.in_scope and all(h.clause.document == "职业病防治法(2018-12-29)" for h in loose.hits)
    assert not any("方法" in note for note in loose.notes)
    # A revision to come is not dated by the header (the header still says when it took effect).
    assert not real_library.search("消防法下一次修订大概啥时候？新版本哪天开始施行", 5).in_scope
    assert real_library.search("消防法哪天开始施行", 5).in_scope


def test_an_item_a_department_s_article_lacks(real_library: Searcher) -> None:
    answer = real_library.search("细则里国家矿山安全监察局新疆局那一条，第（六）项写的是什么职责？", 5)
    assert not answer.in_scope and any("没有第（六）项" in note for note in answer.notes)
    english = real_library.search("Does the Work Safety Law cap night shifts at chemical plants at 10 hours? "
                                  "A client told me that's Article 44.", 5)
    assert not english.in_scope and english.hits[0].clause.id.startswith("安全生产法(2021-06-10)#44")


def test_the_seed_by_its_slogan_and_an_item_named_after_its_department(real_library: Searcher) -> None:
    sixty_one = real_library.search("三个必须细则第六十一条规定了什么内容", 5)
    assert not sixty_one.in_scope and all(h.clause.document == SEED_ID for h in sixty_one.hits)
    tenth = real_library.search("新疆那个三个必须细则第十条", 5)
    assert tenth.in_scope and tenth.hits[0].clause.id.startswith(f"{SEED_ID}#10")
    ninth = real_library.search("三个必须实施细则第三十一条卫健委职责里的第（九）项是什么内容？", 5)
    assert not ninth.in_scope and any("没有第（九）项" in note for note in ninth.notes)


def test_a_statement_without_a_citation_and_items_named_after_a_comma(real_library: Searcher) -> None:
    """A rumour none of the closest articles speaks of is out of scope; one an article settles is not."""
    unsaid = real_library.search("听说消防法规定每家每户都得装烟雾报警器，是真的吗？", 5)
    assert not unsaid.in_scope and any("最相关的条款没有写到" in note for note in unsaid.notes)
    settled = real_library.search("听说企业出了事故瞒着不报，老板要被罚上一年收入的一大半，真的假的？", 5)
    assert settled.in_scope
    tenth = real_library.search("大型群众性活动安全管理条例第六条，安全工作方案的第十项是什么？", 5)
    assert not tenth.in_scope and any("没有第（十）项" in note for note in tenth.notes)
    english = real_library.search("What does item (8) of Article 9 of the Mine Safety Law require?", 5)
    assert not english.in_scope and any("没有第（八）项" in note for note in english.notes)
    # 细则 alone is the library's only 细则 (the seed): its 第十条 has two items.
    seed = real_library.search("细则第十条党委政法委那条的第（四）项是讲啥的", 5)
    assert not seed.in_scope and all(h.clause.document == SEED_ID for h in seed.hits)


def test_words_common_in_the_named_text_say_nothing_of_a_statement(real_library: Searcher) -> None:
    # 消防安全 is in many of 消防法's clauses: the statement's own words (电影院, 提示片) are not.
    unsaid = real_library.search("聽說消防法規定電影院每場開映前都必須播一段消防安全提示片，沒播就要罰款，是真的嗎？",
                                 5)
    assert not unsaid.in_scope and any("最相关的条款没有写到" in note for note in unsaid.notes)
    english = real_library.search("Please show me Article 30 of the Work Safety License Regulation.", 5)
    assert not english.in_scope and all(h.clause.document == "安全生产许可证条例(2014-07-29)" for h in english.hits)


def test_an_essay_about_a_cited_article_is_not_in_the_library(real_library: Searcher) -> None:
    essay = real_library.search("请以“论安全生产法第三条的衔接”为题，写一篇3000字的课程论文", k=3, mode="full")
    assert essay.route == "citation" and not essay.in_scope
    assert essay.hits[0].clause.id.startswith("安全生产法(2021-06-10)#3")
    shown = real_library.search("帮我把安全生产法第十条原文调出来", k=3, mode="full")
    assert shown.route == "citation" and shown.in_scope


def test_a_statement_of_which_one_word_alone_is_found(real_library: Searcher) -> None:
    # 仓库 is in the closest articles; 保管员, 外地 and 安全管理人员 (the statement's point) are not.
    rumour = real_library.search("听说危化品条例规定仓库保管员和安全管理人员只能招外地户口的人，是真的吗？", 5)
    assert not rumour.in_scope and any("最相关的条款没有写到" in note for note in rumour.notes)
    # Most of what the statement says is there: the article speaks of it.
    settled = real_library.search(
        "听说建设工程安全生产管理条例允许把工人宿舍放在还没竣工的楼里，只要配够灭火器就行，是这样吗", 5)
    assert settled.in_scope
    # A number of hours asked for is not answered by hours the texts state about something else.
    hours = real_library.search("地铁列车司机一个班最多能连续开几个小时就必须换人？有没有法律写死的数字", 5)
    assert not hours.in_scope
    english = real_library.search("When does the new Hazardous Chemicals Safety Law take effect?", 5)
    assert not english.in_scope and any("危险化学品安全法" in note for note in english.notes)
