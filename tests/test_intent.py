"""What a question asks for (retriever.intent): who, duties, obligations, amounts, penalties, scope cues."""

from __future__ import annotations

from retriever.intent import Intent, amount_asked, amount_stated, figures, topic_words


def test_the_amount_asked_for_is_the_first_kind_the_question_names() -> None:
    law = "饮酒后驾驶机动车的，处暂扣六个月机动车驾驶证，并处一千元以上二千元以下罚款。"
    # 判几年 asks for a prison term: a law that states months and fines does not answer it.
    assert not amount_stated("醉驾要判几年", [law])
    assert amount_stated("醉驾罚款多少", [law])
    assert amount_stated("驾驶证暂扣几个月", [law])
    assert amount_stated("醉驾要判几年", ["处三年以下有期徒刑或者拘役"])
    assert amount_asked("网吧归谁管") is None
    assert Intent.read("网吧归谁管").amount is None and Intent.read("醉驾要判几年").amount is not None


def test_more_kinds_of_amounts() -> None:
    points = "对机动车驾驶人违反道路交通安全法律、法规的行为，实行累积记分制度。"
    assert not amount_stated("开车闯红灯一次扣几分", [points])
    assert amount_stated("闯红灯扣几分", ["一次记6分"])
    assert amount_stated("how many days after it goes into service must it be registered?", ["投入使用后三十日内"])


def test_an_amount_stated_about_another_topic_does_not_answer() -> None:
    licence = "安全生产许可证的有效期为3年。"
    assert amount_stated("达标证书有效期是几年", [licence])
    assert not amount_stated("达标证书有效期是几年", [licence], topic=("达标", "证书"))
    assert amount_stated("安全生产许可证有效期是几年", [licence], topic=("安全生产许可证",))
    words = ("企业", "安全生产标准化", "达标", "证书", "有效期", "几年")
    shares = {"企业": 0.2}
    assert topic_words(words, lambda w: shares.get(w, 0.0), 0.03) == ("安全生产标准化", "达标", "证书")


def test_floors_vehicles_and_weights_are_amounts() -> None:
    for text, stated in (("自建房最多能盖几层", "不得超过三层"), ("最少得有几辆车", "自有车辆十辆以上"),
                         ("多重以上的无人机要登记", "最大起飞重量为二十五千克")):
        assert Intent.read(text).quantity, text
        assert amount_stated(text, [stated]) and not amount_stated(text, ["应当依法登记"]), text
    assert not Intent.read("建立多重预防机制").quantity


def test_standards_offices_advice_and_papers() -> None:
    for text in ("gb 50016 疏散楼梯最窄多宽", "what does iso 45001 require", "osha fall protection height",
                 "gb/t 29639 应急预案编制导则"):
        assert Intent.read(text).standard, text
    assert not Intent.read("消防产品必须符合国家标准").standard
    assert Intent.read("兰州市应急管理局现任局长叫什么名字").official
    assert Intent.read("家用灭火器哪个牌子靠谱").advice and Intent.read("复议申请书怎么写").advice
    assert Intent.read("安全生产法下一次修订会在哪一年").advice and not Intent.read("安全生产法修订了几次").advice
    assert Intent.read("办危险废物经营许可证需要准备哪些申请材料").papers
    for text in ("快报表能在哪下载电子版", "罚款到哪个银行去交", "职业病门诊一周哪几天看", "注册消防工程师考几门"):
        assert Intent.read(text).official, text
    assert Intent.read("安全带的国家标准编号是哪一个").standard
    assert Intent.read("安委会主任由谁担任").official
    assert Intent.read("设备投资额的10%可以抵免企业所得税吗").never_stated
    for text in ("重大责任事故罪的立案追诉标准出自哪个司法解释", "有没有统一裁判规则", "三个必须最早是由谁提出的",
                 "今年春节划定的禁放区包括哪些街道"):
        assert Intent.read(text).never_stated, text
    assert not Intent.read("职业病防治法最早是从哪一年开始施行的").never_stated
    assert Intent.read("应急管理部是哪一年正式组建挂牌的").never_stated
    assert Intent.read("what caused the 2015 tianjin port explosion and who was held responsible?").never_stated
    assert Intent.read("有没有统一的报表模板").official
    assert Intent.read("运煤车辆走高速通行费能打几折").never_stated
    assert Intent.read("安全生产月的口号有哪些").never_stated
    assert Intent.read("要几成业主同意").quantity and Intent.read("大客车驾驶员有没有年龄上限").quantity
    assert Intent.read("槽罐车每天几点到几点不让进城").quantity and not Intent.read("有几点要求").quantity


def test_a_claim_with_figures_to_check() -> None:
    assert figures("连续开4个小时就必须停车休息20分钟") == {(4, "小时"), (20, "分钟")}
    assert figures("电梯用满十五年") == {(15, "年")} and figures("一年一次") == frozenset()
    assert Intent.read("货车司机连续开4个小时就必须停车休息20分钟，这是哪条法律规定的").claim
    assert Intent.read("特种设备安全法规定电梯用满15年就必须报废吗").claim
    assert not Intent.read("特种设备安全法规定电梯要定期检验吗").claim  # no figures to check
    assert not Intent.read("广州一家工厂出事故死了5个人，由哪一级政府负责调查").claim
    assert Intent.read("应急预案是不是每三年就必须修订一次").claim
    assert Intent.read("安全生产法哪一条规定企业每年必须给员工做两次体检").claim
    assert Intent.read("连续开车4个小时必须停车歇20分钟，是道路交通安全法第几条").claim
    assert Intent.read("病房最多能放几张床").quantity


def test_a_ratio_is_answered_only_by_a_ratio() -> None:
    assert not amount_stated("每多少名观众必须配一个保安", ["预计参加人数在1000人以上的活动"])
    assert amount_stated("每多少人配一名安全员", ["每50人配备一名专职安全员"])
    assert amount_asked("每几天检查一次") is not amount_asked("每多少人配一个")


def test_who_pays_asks_for_an_obligation_not_a_supervisor() -> None:
    for text in ("职业健康体检的钱该谁出", "看病的费用谁承担", "事故损失谁来赔", "电梯维护保养谁来做",
                 "资金投入由谁予以保证"):
        intent = Intent.read(text)
        assert intent.who and intent.obligation, text
    for text in ("网吧归哪个部门管", "化工厂安全生产谁监管"):
        assert Intent.read(text).who and not Intent.read(text).obligation, text


def test_statistics_offices_and_frequencies() -> None:
    assert Intent.read("2023年全国火灾死了多少人").statistic and Intent.read("去年全省发生了多少起事故").statistic
    assert not Intent.read("每年要组织几次应急演练").statistic
    assert Intent.read("应急管理厅厅长是谁").official and not Intent.read("主要负责人有哪些职责").official
    assert amount_stated("应急预案多久演练一次", ["每年至少组织一次综合应急预案演练"])


def test_a_fee_is_stated_only_as_free() -> None:
    free = "国家综合性消防救援队、专职消防队扑救火灾、应急救援，不得收取任何费用。"
    assert amount_stated("灭完火会收钱吗", [free])
    assert not amount_stated("电梯年检收费多少钱", ["检验、检测收取费用，依照有关规定执行。"])
    assert amount_stated("罚款多少钱", ["处一千元以上二千元以下罚款"])  # a fine, not a fee


def test_prices_and_wages_are_never_stated() -> None:
    assert Intent.read("演唱会门票价格由谁定").never_stated and Intent.read("特种设备检验员月薪多少").never_stated
    assert not Intent.read("灭完火会收钱吗").never_stated


def test_penalties_duties_and_history() -> None:
    assert Intent.read("无证经营烟花会怎么样").penalty and not Intent.read("烟花爆竹归谁管").penalty
    assert Intent.read("应急管理厅有哪些职责").duty and not Intent.read("第十条说了什么").duty
    assert Intent.read("消防法什么时候修正的").history and not Intent.read("消防法第十条").history
    assert Intent.read("网吧消防检查").domain and not Intent.read("今天天气怎么样").domain
    assert Intent() == Intent.read("")


def test_time_limits_in_the_unit_asked_and_measures() -> None:
    assert not amount_stated("特种设备作业人员证书有效期几年", ["在检验合格有效期届满前一个月提出定期检验要求"])
    assert amount_stated("证书有效期多久", ["在检验合格有效期届满前一个月提出定期检验要求"])
    assert amount_stated("事故发生后几个小时内要报告", ["应当于1小时内向事故发生地县级以上人民政府报告"])
    assert amount_stated("电动自行车最高时速多少", ["电动自行车在非机动车道内行驶时，最高时速不得超过十五公里"])
    assert not amount_stated("化工厂离居民区要多远", ["与居民区的距离应当符合国家有关规定"])
    assert Intent.read("烟花仓库要多大").quantity


def test_naming_an_agency_asks_who_unless_it_asks_for_an_amount() -> None:
    from retriever.search import QueryAnalysis

    def analysis(text: str, names_agency: bool) -> QueryAnalysis:
        return QueryAnalysis(text=text, corrections=(), tokens=(), words=(), expansions=(), departments=(),
                             citation=None, names_agency=names_agency, intent=Intent.read(text))

    assert analysis("文旅厅管网吧吗", True).asks_who
    assert not analysis("应急管理厅罚款最多罚多少", True).asks_who
    assert analysis("罚款由哪个部门决定", False).asks_who


def test_which_ones_is_not_how_many_and_levels_are_amounts() -> None:
    assert not Intent.read("自然资源厅在安全方面具体负责哪几块").quantity
    assert Intent.read("一共要交几块钱").quantity
    assert amount_stated("预警分几级", ["预警级别分为一级、二级、三级和四级，分别用红色、橙色、黄色和蓝色标示"])
    assert amount_stated("事故分几个等级", ["根据生产安全事故造成的人员伤亡或者直接经济损失，事故一般分为以下等级"])


def test_an_office_address_or_telephone_is_no_regulation() -> None:
    assert Intent.read("应急管理厅的地址在哪里").official
    assert Intent.read("what is the address of the emergency management department?").official
    assert not Intent.read("发现火灾应当立即报警").official


def test_apps_websites_and_walk_in_hours_are_no_regulation() -> None:
    for text in ("特种作业操作证丢了，在哪个app上能补办", "安全员证考试在哪个网站报名", "网上报名入口在哪",
                 "what are the walk-in consultation hours of the fire brigade?"):
        assert Intent.read(text).official, text
    assert not Intent.read("安全生产许可证到哪个部门申请").official


def test_money_is_another_sense_of_safety() -> None:
    assert Intent.read("银行存款50万以内是不是绝对安全").finance and Intent.read("买股票的安全边际怎么算").finance
    assert not Intent.read("彩票销售点的安全谁管").finance and not Intent.read("安全生产费用怎么提取").finance


def test_sums_of_money_dates_and_how_long() -> None:
    # 多少钱 without a fee asks for a sum a law may state (a threshold in 元); a fee is stated only as free.
    assert amount_stated("直接经济损失多少钱算重大事故", ["造成5000万元以上1亿元以下直接经济损失的事故"])
    assert not amount_stated("注册安全工程师考试报名费多少钱", ["处二万元以上五万元以下的罚款"])
    assert not amount_stated("大型活动安全许可要交多少钱", ["处二万元以上五万元以下的罚款"])
    assert amount_stated("国家安全教育日是哪一天", ["每年4月15日为全民国家安全教育日"])
    assert not amount_stated("国家安全教育日是哪一天", ["应当在活动举办日的20日前提出安全许可申请"])
    assert Intent.read("等级保护测评多久做一次").quantity and Intent.read("how often must drills be held").quantity
    assert not Intent.read("三日内").quantity and not Intent.read("用人单位应当按照规定的期限妥善保存").quantity


def test_whom_to_report_to_is_the_reporting_partys_duty() -> None:
    for text in ("矿上出了伤亡事故，得向哪些部门报告", "事故要报告给谁", "who should we report the accident to"):
        intent = Intent.read(text)
        assert intent.who and intent.obligation, text
    assert not Intent.read("事故调查报告由谁批复").obligation


def test_advice_forecasts_statistics_and_how_soon() -> None:
    for text in ("干粉灭火器怎么用", "电动车和摩托车哪个更安全，值得换吗", "明年过年会不会放开燃放烟花爆竹",
                 "请以“论安全生产法第三条”为题，写一篇课程论文", "撰写一篇学术评析"):
        assert Intent.read(text).advice, text
    assert not Intent.read("超载会不会被罚").advice and not Intent.read("活动批下来以后想改时间怎么办").advice
    assert Intent.read("河南省去年安全生产考核排名第一的是哪个市").statistic
    assert amount_stated("电梯困人了，维保公司接到电话要多快赶到", ["接到故障通知后，应当立即赶赴现场"])
    assert amount_stated("电动自行车最快能骑多快", ["最高时速不得超过十五公里"])
    assert Intent.read("三个必须实施细则是哪一年印发的").history


def test_the_papers_a_procedure_needs() -> None:
    from retriever.intent import PAPERS_STATED

    assert Intent.read("燃气开户要带哪些材料去营业厅").papers and Intent.read("what documents do i need").papers
    assert not Intent.read("燃气安全归谁管").papers
    assert PAPERS_STATED.search("承办者应当在活动举办日的20日前提出安全许可申请，申请时，应当提交下列材料：")
    assert not PAPERS_STATED.search("有证据证明对方有过错的")


def test_the_unit_asked_before_the_topic_and_news() -> None:
    # "how many days … penalty" asks for days, not a fine.
    appeal = "under the mine safety law, how many days do i have to appeal against a penalty decision?"
    assert amount_stated(appeal, ["可以在接到处罚决定通知之日起十五日内向上一级机关申请复议"])
    assert not amount_stated(appeal, ["处五万元以上十万元以下的罚款"])
    assert amount_stated("罚款多少", ["处二万元以上五万元以下的罚款"])
    assert Intent.read("乌鲁木齐今天发暴雪红色预警了吗").advice


def test_percentages_are_amounts() -> None:
    assert not amount_stated("煤矿井下瓦斯浓度超过百分之几必须停工", ["瓦斯浓度超限时，必须停止作业，撤出人员"])
    assert amount_stated("安全生产费用提取比例是百分之几", ["按照营业收入的百分之二提取"])


def test_a_few_is_not_how_many() -> None:
    # 几 after a verb in a yes-or-no question means "a few".
    for text in ("我们矿上想招几个十七岁的小伙子下井干活,法律上有没有坑", "公安找我们要几张内场票,这样合规吗"):
        intent = Intent.read(text)
        assert not intent.quantity and intent.amount is None, text
    assert Intent.read("办安全许可要交几张照片").quantity
    assert Intent.read("招几个人需要备案").quantity  # no yes-or-no question: it asks how many


def test_more_ways_to_ask_for_a_figure() -> None:
    often = Intent.read("职业健康体检一年得做几回").amount
    assert often is not None and often.search("每年1次")
    assert Intent.read("职业健康检查是一年一次还是两年一次").amount is often
    hours = Intent.read("每一级不能超过几个钟头").amount
    assert hours is not None and hours.search("2小时") and not hours.search("2日")
    dates = Intent.read("浏阳过年禁放烟花是从几号到几号").amount
    assert dates is not None and dates.search("1月31日")


def test_a_statement_put_as_a_question() -> None:
    for text in ("矿山安全法第二十六条规定工人下井前必须做酒精检测,对吧",
                 "危化品条例第四十八条是不是要求押运员必须大专以上学历",
                 "安全生产法第四十四条规定企业每年放三天安全假,是这样吧"):
        assert Intent.read(text).checks, text
    assert not Intent.read("安全生产法第十条说了什么").checks
    assert not Intent.read("安全生产法第二条适用于个体户吗").checks
    # A claim's figures: 3个人 is three people.
    assert (3, "人") in figures("每个工房同时作业不能超过3个人")
    assert Intent.read("烟花爆竹安全管理条例是不是规定每个工房同时作业不能超过3个人").claim


def test_a_claimed_figure_is_stated_about_its_topic() -> None:
    from retriever.intent import stated_figures

    deaths = "造成3人以上10人以下死亡"
    assert stated_figures(frozenset({(3, "人")}), [deaths])
    assert not stated_figures(frozenset({(3, "人")}), [deaths], ("工房",))
    assert stated_figures(frozenset({(3, "人")}), ["危险工房内作业人员不得超过3人"], ("工房",))


def test_office_hours_tips_lesson_plans_pensions() -> None:
    for text in ("乌市住建局的窗口早上几点开门,礼拜六上不上班", "交警支队周六上班吗",
                 "what's the hotline number of the bureau"):
        assert Intent.read(text).official, text
    for text in ("晚上跑网约车有没有实用的自保技巧", "帮我排个消防安全课的教案", "安全生产法下一次啥时候修订",
                 "罚款会不会再提高", "any tips on how to structure a news feature"):
        assert Intent.read(text).advice, text
    assert Intent.read("退休矿工的养老金每年涨多少").never_stated
    assert not Intent.read("矿山企业必须对职工进行安全教育吗").advice


def test_other_kinds_of_safety() -> None:
    for text in ("等级保护测评该由哪个部门监管", "县里pm2.5年度考核不达标由哪个部门担责",
                 "医疗事故技术鉴定由哪个部门组织",
                 "新疆那边核电站的核安全由哪个部门负责", "员工个人信息被黑客窃取了归谁管"):
        assert Intent.read(text).other_safety, text
    for text in ("学校食堂的食品安全谁负责", "危险化学品泄漏污染了环境谁负责", "实验室生物安全在新疆归哪个部门监管"):
        assert not Intent.read(text).other_safety, text
    assert Intent.read("which department supervises banks' wealth-management products").finance


def test_more_cues_of_second_batches() -> None:
    assert (22, "岁") in figures("送气工必须年满22周岁才能上岗")
    for text in ("民爆条例第三十八条要求放炮前24小时要书面通知周边村民,是这么规定的吧",
                 "道路交通安全法第五十一条规定校车上必须配随车照管老师,是吧",
                 "细则第十三条里有一项是应急管理厅每年下达控制指标,是第几项"):
        assert Intent.read(text).checks, text
    fee = Intent.read("办安全生产许可证政府审查要收多少规费").amount
    assert fee is not None and fee.search("不得收取费用")
    money = Intent.read("请第三方机构一般收多少钱").amount
    assert money is not None and money.search("五万元")  # a sum of money, not a fee that must be free
    assert Intent.read("营运大货车是半年一检还是一年一检").amount is Intent.read("多久检一次").amount
    for text in ("伊犁州特种设备检验所在伊宁市哪条路上,预约打哪个电话", "台商协会会长是谁"):
        assert Intent.read(text).official, text
    assert Intent.read("全疆现在一共有几家职业病诊断机构,名单在哪能查").statistic
    for text in ("孩子去研学要准备哪些安全用品,帮忙列个清单", "帮我按步骤一二三列出来",
                 "step by step, how do i fill in the form", "when is the law due for its next amendment"):
        assert Intent.read(text).advice, text
    for text in ("采石场放炮扬尘超标归谁管", "柴油货车冒黑烟尾气超标归谁管", "食堂帮厨的健康证过期了谁来查",
                 "小区有人养烈性犬咬伤了人", "员工个人信息数据出境要找哪个单位申报"):
        assert Intent.read(text).other_safety, text
    assert Intent.read("村里有人搞非法集资找哪个部门").finance
    assert Intent.read("网格员兼着突发事件信息报告员,在哪部法律里有依据").domain


def test_cues_of_the_third_round() -> None:
    # English statements and their figures, in Chinese units.
    assert figures("operators must be at least 20 years old") == frozenset({(20, "岁")})
    assert figures("caps night shifts at 10 hours") == frozenset({(10, "小时")})
    assert (20, "倍") in figures("不得低于平均工资的二十倍") and (16, "课时") in figures("上满16个课时")
    assert Intent.read("article 14 says operators must be at least 20 years old — is that right?").checks
    assert Intent.read("does the work safety law cap night shifts at 10 hours? that's article 44").checks
    assert Intent.read("is it true the law caps dust-exposed workers at 6 hours a day?").claim
    assert Intent.read("道交法规定骑电动车必须年满16周岁 是吧").claim
    assert Intent.read("第五十九条规定末位的要被约谈,报告里这样引用没问题吧").checks
    assert Intent.read("安全生产法第五十六条是不是写了赔偿不得低于二十倍").checks
    # Who, in English, with words between which and department.
    assert Intent.read("which xinjiang department handles park designation?").who
    # "A few" after 雇了 in a question with 也得; speeds asked as 多少码.
    assert not Intent.read("雇了几个帮工的小本生意,也得给他们上工伤保险?").quantity
    speed = Intent.read("骑电驴最快能开多少码").amount
    assert speed is not None and speed.search("十五公里")
    for text in ("下周开家长会讲防溺水,ppt怎么做", "电驴被交警扣了,有没有啥话术", "安全生产法啥时候再修订",
                 "is the work safety law going to be amended again soon?"):
        assert Intent.read(text).advice, text
    for text in ("矿山安全监察局办公地点在哪个区,举报拨哪个号码", "who is the current head of the department?"):
        assert Intent.read(text).official, text
    assert Intent.read("全区各地州安全生产考核谁排第一").never_stated
    assert Intent.read("骑手收入要不要交个税").never_stated
    for text in ("保健品骗老人找谁投诉", "企业vocs排放浓度超标怎么罚", "动物实验的伦理审查归谁管"):
        assert Intent.read(text).other_safety, text


def test_cues_of_the_fourth_round() -> None:
    assert not Intent.read("公司安许证明年三月到期,要提前多久去办延期").advice  # a date, not a forecast
    assert Intent.read("明年过年会不会放开燃放烟花爆竹").advice
    assert not Intent.read("事后单位会不会因为这个扣工资").never_stated  # a consequence the law states
    assert Intent.read("电工的工资一般多少").never_stated
    people = Intent.read("较大事故的重伤人数范围是多少").amount
    assert people is not None and people.search("10人以上")
    assert Intent.read("超过核定人数两成以上,罚款幅度是多少").amount is Intent.read("罚多少").amount
    for text in ("油锅着火了到底咋灭,一步一步教我", "法考里这块有没有好记的口诀", "应急预案有没有现成范本",
                 "帮我出一份疏散演练的脚本"):
        assert Intent.read(text).advice, text
    for text in ("燃煤锅炉氮氧化物排放限值是多少", "医院抗菌药分级使用归谁管", "未成年人打游戏防沉迷归谁管"):
        assert Intent.read(text).other_safety, text
    for text in ("p2p平台暴雷的金融风险谁兜底", "车险团伙骗保谁监管", "商品房预售资金归谁管"):
        assert Intent.read(text).finance, text
    assert Intent.read("预警有红橙黄蓝四个颜色,哪个等级最高").domain


def test_cues_of_the_fifth_round() -> None:
    # A rough number stated is no question of quantity; 几具 and 几桶 asked are.
    for text in ("我家晾房雇了十几个季节工,也得给他们上工伤保险吗", "库里那几桶剧毒药剂,我自己收发签字行不行",
                 "里头还堆着几桶柴油,这样合规不", "想在操场放几个礼花,学校里能不能放"):
        assert not Intent.read(text).quantity, text
    assert Intent.read("三百来平米的晾房得配几具灭火器").quantity
    assert Intent.read("每个病房最多能放几张床,消防上有要求吗").quantity  # 能放几张 asks how many
    # A licence's validity is stated as its 有效期, not by any period about the licence.
    valid = Intent.read("剧毒化学品购买许可证有效期多久").amount
    assert valid is not None and valid.search("安全生产许可证的有效期为3年") and not valid.search("3日内发给购买许可证")
    for text in ("听说安全生产法规定气温超过40度就得停工,我们也算", "听说条例要求司仪也得持证上岗,是真的不",
                 "据说条例要求事故单位登报道歉,确有此规定",
                 "a friend says the mine safety law bans x. is that actually in the law?"):
        assert Intent.read(text).checks, text
    for text in ("一进门闻着煤气味,是先开窗户还是先去关总阀", "浓硫酸溅到手上了,现场急救步骤怎么弄",
                 "叉车侧翻了该往哪边跳", "听说职业病防治法明年要第五次修正", "帮我起三个标题", "去劳动仲裁怎么立案"):
        assert Intent.read(text).advice, text
    for text in ("降压药的药品召回归谁管", "学校食堂饭菜被抽检出来不合格归谁查处", "二次供水的水质检测归谁管"):
        assert Intent.read(text).other_safety, text
    assert Intent.read("雪场预售季卡的资金存管归谁监管").finance
    assert not Intent.read("学校食堂的食品安全谁负责").other_safety
    for text in ("前两年有起隧道塌方的事故,后来调查报告认定的责任单位是谁", "公布的批发企业名单里,伊犁州的有哪几家",
                 "今年国庆新疆高速对危化品车是哪几天禁止通行", "公司能不能扣他押金", "老师评中级职称要几篇论文"):
        assert Intent.read(text).never_stated, text


def test_cues_of_the_sixth_round() -> None:
    assert (2000, "元") in figures("每人每年能领两千块误工补贴")
    for text in ("老同事说特种设备安全法规定报告要盖章,是这么回事吗", "听讲安全生产法规定负责人要是中国国籍"):
        assert Intent.read(text).checks, text
    for text in ("燃气灶打不着火,我自己在家咋修", "乌鲁木齐有哪几家安保公司比较靠谱",
                 "特种设备安全法预计几时修订,有冇时间表",
                 "can you draft a one-page checklist for our plant?",
                 "will the fire law be amended next year?"):
        assert Intent.read(text).advice, text
    assert not Intent.read("we're bringing a new process in next year. does the law require training?").advice
    for text in ("包工头欠了半年工钱去哪告", "检查名单公布了没有", "一万人的场子大概报什么价",
                 "what's the gift-value threshold for hospitality?", "which labs in hami are accredited?"):
        assert Intent.read(text).never_stated, text
    assert Intent.read("前台收到一张假钞怎么处理").finance
    for text in ("出租屋里有人吸毒往哪举报", "尘肺病人咳得睡不着还有啥药能开", "酸奶没到保质期就涨袋了找谁"):
        assert Intent.read(text).other_safety, text
    assert not Intent.read("卖给客户的剧毒品几天内要报公安备案").other_safety
    assert Intent.read("手里还剩两瓶氰化钠能不能送人").domain
    assert (2, "点") in figures("凌晨两点以后必须停业")
    assert not Intent.read("细则里怎么写的").advice and Intent.read("申请书怎么写").advice
    assert Intent.read("我该怎么跟他沟通他才肯听").advice
    assert Intent.read("上牌的点在哪,周六周日开不开门").official


def test_cues_of_the_seventh_round() -> None:
    assert Intent.read("今天发暴雪红色预警了吗").advice
    assert not Intent.read("昨天那起剐蹭,让他接着处理这事合适吗").advice  # the scene, not news
    assert (8, "小时") in figures("一个班连续干不能超过八个钟头")
    assert Intent.read("听老师傅讲,特种设备安全法规定司炉工一个班不能超过八个钟头").checks
    assert Intent.read("有研究称细则第十八条定义了九小场所,此说是否属实").checks
    for text in ("商户欠了半年租金和物业费", "押运补贴三个月没见着,我该上哪儿去讨", "民办幼儿园保教费想涨一点要报谁",
                 "村民宅基地审批归谁", "乌鲁木齐哪家安评公司报价便宜",
                 "听说前几年有个铁矿透水淹了人,最后调查报告认定是谁的责任"):
        assert Intent.read(text).never_stated, text
    assert not Intent.read("厂房租给别人用了,出租方还要管安全吗").never_stated
    assert not Intent.read("浏阳的厂家给我报价,比批发部便宜一大截,能不能直接进货").never_stated
    assert Intent.read("新疆食品安全委员会成员单位怎么分工").other_safety
    for text in ("给我出个摊位布置方案", "出10道安全生产法的单选题", "实施条例预计哪一年出台"):
        assert Intent.read(text).advice, text
    assert (12, "点") in figures("户外演出最晚只能到晚上十二点") and not figures("第十条规定了三点要求")


def test_cues_of_the_eighth_round() -> None:
    assert Intent.read("放炮前的警报法律上规定要鸣几声").quantity
    assert (6, "级") in figures("刮六级以上大风必须停止脚手架作业")
    for text in ("麻醉药品的专用保险柜归谁查", "香港那边的强积金 mpf 还要不要供"):
        intent = Intent.read(text)
        assert intent.other_safety or intent.finance, text
    for text in ("公司一个月收我五千二的份子钱", "草原补奖标准每亩多少钱"):
        assert Intent.read(text).never_stated, text
    assert Intent.read("报名找谁、电话多少").official


def test_cues_of_the_ninth_round() -> None:
    for text in ("全疆lng站数量", "bog回收装置哪家厂的性价比高,给推荐两三家", "被征收的住户嫌补偿低不肯搬",
                 "居委会换届选举候选人有没有年龄要求", "去年那个拆除工地墙倒砸人的事,最后谁被追责了"):
        intent = Intent.read(text)
        assert intent.statistic or intent.never_stated, text
    assert Intent.read("lng储罐最高充装率").quantity
    assert not Intent.read("突发事件中被征用的车辆,补偿谁给").never_stated
    assert Intent.read("jt/t 617 里罐车的警告板前后都得挂吗").standard
    assert Intent.read("走高速还是翻天山,哪条更安全,帮我比一比").advice


def test_cues_of_the_tenth_round() -> None:
    # 几 in a statement before the question is "a few": 仓库有几个老叉车工 asks no number.
    assert not Intent.read("我们仓库有几个老叉车工一直无证在开。按国家法律,开叉车的必须持证吗?").quantity
    assert not Intent.read("现场经理说先把货清走,拍几张照片留底就行。事故现场能这么处理吗?").quantity
    assert Intent.read("危化品仓库一间最多住几个人。").quantity  # the last sentence is the question
    assert not Intent.read("撤了以后厂里要是扣大家工资咋整").never_stated  # a penalty, not a wage asked
    assert not Intent.read("能不能找一家没资质但报价低的小公司来保养?哪个部门管").never_stated
    for text in ("德邦、安能哪家便宜?帮我比比价", "七天无理由退货的运费该谁出"):
        assert Intent.read(text).never_stated, text
    assert Intent.read("村里的管道天然气,自治区是哪个厅来指导的?").who
    assert not Intent.read("乌鲁木齐哪家医院能做职业病诊断").who
    assert not Intent.read("我们大队要在公众号上辟谣,消防法原文怎么说").official
    for text in ("危化科值班电话有没有", "应急厅信访接待时间", "12350打不通怎么办"):
        assert Intent.read(text).official, text
    assert Intent.read("电动自行车最快能骑多少").amount is not None
    assert amount_stated("消防车过收费站要交过路费吗", ["消防车、消防艇前往执行火灾扑救任务，免收车辆通行费。"])
    for text in ("药店网上卖处方药违法吗", "取水许可证归哪个部门批", "林木采伐许可证怎么办", "投连险的佣金怎么披露"):
        intent = Intent.read(text)
        assert intent.other_safety or intent.finance, text
    for text in ("帮我整一份雪季安全自查表", "please make for me contract template", "卸油应急处置卡怎么编"):
        assert Intent.read(text).advice, text
    # The units asked for are not what a question is about (几个小时 is not answered by 2小时 of reporting).
    assert topic_words(("司机", "连续", "小时", "人数"), lambda w: 0.0, 0.03) == ("司机", "连续")
