"""What kind of answer a question asks for: who is responsible, duties, an amount, penalties …

Read once per question from its normalised text (:class:`Intent`); retrieval, the
out-of-scope signal and the answer's composition all use the same reading. The patterns
are plain regular expressions over Chinese and English question words.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retriever.lexicon import has_cjk
from retriever.parse import chinese_to_int

# A wage asked for (工资多少), not a penalty docking it (扣工资, 扣大家工资).
_WAGE = r"(?<![扣降低其停])(?<!扣[^，,。?？])(?<!扣[^，,。?？]{2})工资"
# Asks who is responsible (a duty list answers it; a law names the body).
WHO = re.compile(
    r"谁|哪个部门|哪个单位|哪个机构|哪个(?:厅|局|委|办|队|所|站|部)|"
    # (哪家医院, 哪家保险公司便宜 ask which business, not which body.)
    r"哪家(?!医院|银行|公司|厂|保险|安评|店|快递|便宜|好|划算|更|靠谱)|哪级|哪一级|归哪|找哪|报哪|向哪|什么部门|什么单位|什么机构|哪些部门|哪些单位|"
    r"归口|主管|牵头|哪个(?=来|去管|管|负责|发证|批|考|查)|\bwho\b|\bwhich\s+(?:agency|department|authority|body|office|bureau|unit|government)|"
    r"responsib|in charge|oversee|supervis|\bwhich\s+(?:\w+\s+){1,2}(?:agency|department|authority|body|office|bureau)"
)
# A "who" question about a party's obligation (谁出钱, 谁承担, 谁来赔, 谁来维护保养), not about who supervises.
OBLIGATION = re.compile(
    r"谁(?:来)?(?:予以)?(?:出|付|掏|承担|担|赔|买单|支付|报销|交|做|修|维修|维护|保养|保证|负担|提供)|费用|钱|"
    # 出了事故得向哪些部门报告: the reporting party's duty, which laws state.
    r"向(?:哪|谁)[^，,。？?]{0,8}(?:报告|上报)|(?:报告|上报)给(?:谁|哪)|"
    r"who pays|who bears|liable|report\b.{0,30}\bto whom|who (?:do|should|must) (?:we|i) report")
# Questions about duties (共同职责有哪些, 负责接收…): a duty list answers them like "who" questions.
DUTY = re.compile(r"职责|负责|分工|管哪些|管什么|duties|duty")
# Asks for a figure of any kind; a duty list states none, laws state some.
QUANTITY = re.compile(
    r"多少|(?<!哪)几[个天年月岁人次回遍趟级块元分层辆台名位吨米张间成具把套只支瓶桶袋箱声]|几(?:公斤|斤|升|平米|平方)|几号(?=到|至)|年龄上限|年龄限制|多大年纪|多大岁数|几点(?=到|至|以后|之后|以前|之前|前|后)|有多重|多重以[上下]|"
    rf"多重(?=[？?]|$)|(?:最高|最低|最大)[^，,。?？]{{0,6}}率|多久|多长时间|哪一?天(?!内)|几月几[日号]|百分之几|百分比|多远|多宽|多高|多深|多大|多快|时速|限速|比例|收费|收钱|要钱|交钱|收不收|价格|费用标准|起步价|{_WAGE}|薪资|薪水|分数线|利率|税率|起征点|报销|罚款?金额|"
    r"how much|how many|how long|how often|how soon|what date|which day|"
    r"\bprice|\bcost|\bfees?\b|\bwage|\bsalary|\brates?\b"
)
# The amounts laws state, each with the question words that ask for it: prison terms,
# points, frequencies, fines, fees (only "free"), time limits and head counts (the first
# kind a question asks for counts: 判几年 asks for a sentence, not a time limit). Prices,
# wages, rates and statistics they never state.
_NUMBER = "[0-9零一二两三四五六七八九十百千万]+"
AMOUNT_KINDS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    # A ratio (每多少名观众配一个保安): a text states "per so many".
    (re.compile(r"每多少|每几(?![天年月日次])"), re.compile(rf"每{_NUMBER}")),
    (re.compile(r"判[了]?(?:几|多少|多久)|刑期|坐几年牢|判刑|sentence"),
     re.compile(rf"{_NUMBER}年以[上下]有期徒刑|有期徒刑{_NUMBER}|拘役")),
    (re.compile(r"扣几分|几分|扣多少分|记几分|扣分|how many points"), re.compile(rf"{_NUMBER}分(?!之)")),
    (re.compile(r"几[次回遍趟]|多少[次回遍趟]|(?:多久|多长时间).{0,6}一次|[一两二三半]+(?:年|个月|季度)一(?:次|检|审)还是|"
                r"how often"),
     re.compile(rf"{_NUMBER}次|每(?:年|半年|季度|月)")),
    # How long a licence or certificate stays valid (有效期多久): a text states its 有效期 itself
    # (安全生产许可证的有效期为3年), not any period about it (3日内发给购买许可证).
    (re.compile(r"有效期.{0,8}(?:几年|多少年)|(?:几年|多少年).{0,8}有效期"),
     re.compile(rf"有效期[^。；，,]{{0,6}}?{_NUMBER}年")),
    (re.compile(r"有效期"), re.compile(rf"有效期[^。；，,]{{0,6}}?{_NUMBER}(?:个)?(?:年|月|日|天|小时)")),
    # A time limit in the unit asked for (几年 is not answered by 一个月), else in any unit.
    (re.compile(r"几年|多少年|how many years"), re.compile(rf"{_NUMBER}年")),
    (re.compile(r"几个月|多少个月|how many months"), re.compile(rf"{_NUMBER}个月")),
    (re.compile(r"几天|多少天|多少日|几日|几个工作日|how many days"), re.compile(rf"{_NUMBER}(?:日|天|个工作日)")),
    (re.compile(r"几个?(?:小时|钟头)|多少(?:个)?(?:小时|钟头)|how many hours"), re.compile(rf"{_NUMBER}(?:个)?小时")),
    # How soon someone must act (接到电话要多快赶到): a text may say at once (立即).
    (re.compile(r"多快(?:能|要|得|会|就)?(?:赶|到|处理|答复|回复|办|批|出警|响应)|how soon|how quickly"),
     re.compile(rf"立即|立刻|马上|{_NUMBER}(?:日|天|小时|分钟)")),
    (re.compile(r"多久|多长时间|提前多|期限|有效期|时限|how long|within how|deadline"),
     re.compile(rf"{_NUMBER}(?:日|天|小时|个月|年)")),
    # Floors, vehicles and machines, and weights (自建房能盖几层, 最少得有几辆车, 多重的无人机要登记).
    (re.compile(r"几层|多少层|how many (?:floors|storeys|stories)"), re.compile(rf"{_NUMBER}层")),
    (re.compile(r"几[辆台]|多少[辆台]|how many (?:vehicles|trucks|cars|machines)"), re.compile(rf"{_NUMBER}[辆台]")),
    (re.compile(r"几[张间]|多少[张间]|how many (?:beds|rooms)"), re.compile(rf"{_NUMBER}[张间]")),
    (re.compile(r"有多重|多重以[上下]|多重(?=[？?]|$)|几吨|多少(?:吨|公斤|千克|斤)|how heavy|what weight"),
     re.compile(rf"{_NUMBER}(?:吨|千克|公斤|克)")),
    (re.compile(r"几个?人|几[名位]|多少(?:个)?人|多少[名位]|人数(?:范围|是多少|有多少)|死几|伤几|"
                r"how many (?:people|persons|deaths|workers)"),
     re.compile(rf"{_NUMBER}[人名]")),
    # A share (瓦斯浓度超过百分之几): a text states a percentage.
    (re.compile(r"百分之几|百分比|多少%|多少百分|几成|what percent|how many percent|percentage"),
     re.compile(rf"百分之{_NUMBER}|[0-9.]+%")),
    # A fine (罚多少): asked after the units, so that "how many days to appeal a penalty" asks for days.
    (re.compile(r"罚|fine|penalt"), re.compile(rf"{_NUMBER}(?:万?元|倍)")),
    # A fee: laws state none, except that some services are free (不得收取费用).
    (re.compile(r"收钱|收费|收不收|要钱|交钱|[交付缴花掏]多少钱|[交付缴收]多少(?!钱)|规费|费用|费(?:是|要|得)?多少|\bfees?\b|"
                r"\bcharge"),
     re.compile(r"不得(?:向[^。；]{0,12})?收取(?:任何)?费用|免费|不收取(?:任何)?费用|免(?:收|交|缴|予收取)")),
    # Any other sum of money (直接经济损失多少钱算重大事故: a threshold in 元).
    (re.compile(r"多少钱|how much money"), re.compile(rf"{_NUMBER}万?元")),
    # A date (国家安全教育日是哪一天): a text states the month and day.
    (re.compile(r"哪一?天(?!内)|几月几[日号]|几号(?=到|至)|什么日子|哪个日子|what date|which day|what day"),
     re.compile(rf"{_NUMBER}月{_NUMBER}日")),
    # Levels and grades (预警级别分为一级、二级、三级和四级; 事故一般分为以下等级).
    (re.compile(r"几级|几个等级|几个级别|分几类|几类|how many (?:levels|grades|classes)"),
     re.compile(rf"{_NUMBER}级|等级|级别")),
    # Speeds, distances and sizes (时速不得超过十五公里).
    # A time of day (几点到几点不让进城): a text states the hour.
    (re.compile(r"几点(?=到|至|以后|之后|以前|之前|前|后)|what time"), re.compile(rf"{_NUMBER}(?:时|点)")),
    (re.compile(r"时速|限速|车速|多快|最快[^，,。?？]{0,4}多少|多少码|几码|多远|多少米|几米|几公里|多少公里|多少千米|距离|多宽|多高|多深|多大面积|多少平方|"
                r"how fast|speed limit|how far|distance|how wide|how high"),
     re.compile(rf"{_NUMBER}(?:公里|千米|米|平方米|立方米)")),
)
# Asks about penalties or consequences (a law's 法律责任 chapter answers it).
PENALTY = re.compile(
    r"罚|处分|追究|吊销|撤销|没收|拘留|刑事|法律责任|违反|违法|违规|违章|后果|会怎[么样]|怎么处理|停产停业|关闭|"
    r"punish|penalt|\bfines?\b|liab|violat|sanction"
)
# A question for a statistic (a year's or a region's count), which no regulation states.
STATISTIC = re.compile(r"(?:19|20)\d\d年|去年|前年|今年以来|全国.{0,8}(?:发生|共|一共|总共)|统计|排名|排行|第几名|"
                       r"(?:一共|总共|现在)有(?:几|多少)家|名单在哪|名录在哪|"
                       r"(?:全疆|全区|全省|全国|全市|全州)[^，,。?？]{0,10}(?:数量|有多少|几家|多少家|多少个)|"
                       r"\bin (?:19|20)\d\d\b|last year|statistic")
# When a regulation was adopted, amended or took effect: its header says.
HISTORY = re.compile(
    r"(?:什么时候|何时|哪一?年|哪天|几月|时间).{0,6}(?:通过|公布|颁布|发布|印发|出台|施行|生效|实施|修订|修正|修改)|"
    r"(?:通过|公布|颁布|印发|施行|生效|修订|修正|修改)(?:了)?(?:几次|多少次|的时间|日期|于何时)|"
    r"when (?:was|did|does).{0,40}(?:adopt|pass|amend|revis|take effect|enter)")
# Prices, wages, rates and taxes, court practice, who first proposed an idea and this year's local
# arrangements, which safety regulations never state (票价由谁定 included).
NEVER_STATED = re.compile(
    rf"价格|票价|起步价|房价|{_WAGE}|薪资|薪水|月薪|年薪|养老金|退休金|公积金|利率|税率|收费标准|所得税|增值税|抵免|退税|税收优惠|减免税|"
    r"几折|打折|折扣|口号|标语|个税|个人所得税|谁排第一|排第一的是|排名第一的是|"
    # Court practice, who first proposed an idea, this year's local arrangements (司法解释, 最早由谁提出).
    r"司法解释|裁判规则|判例|法院(?:一般)?怎么判|立案追诉标准|首次提出|最早提出|由谁提出|"
    r"今年(?:春节|的主题|划定|公布|发布|印发|出台)|(?:哪一?年|什么时候|何时).{0,8}(?:组建|挂牌|成立)|"
    # This year's notices and lists (今年国庆…哪几天禁止通行, 名单里…有哪几家), what became of one accident
    # (前两年有起隧道塌方…后来调查报告认定…), deposits, teachers' titles: facts no regulation states.
    r"(?:今年|去年|前年)[^，,。?？]{0,24}(?:哪几天|哪些天)|名单(?:里|上|中)[^。?？]{0,12}(?:哪几家|哪些|有谁)|"
    r"(?:那起|这起|有起|有一起|有个|那个|那件|那次|那场)[^?？]{0,30}(?:事故|火灾|爆炸|塌方|透水|的事)[^?？]{0,20}"
    r"(?:后来|最后|最终|结果|原因是|调查报告)|押金|评[^，,。?？]{0,3}职称|职称评|名单[^，,。?？]{0,4}(?:公布|出来)了|"
    r"性价比|推荐[^，,。?？]{0,4}家|房屋征收|征收补偿|拆迁补偿|被征收|换届|工钱|欠薪|讨薪|份子钱|承包金|补贴标准|补助标准|补奖|每亩|(?:上|去)哪儿?(?:去)?讨|租金|物业费|学费|保教费|宅基地|(?:报|开|出)(?:什么|啥|多少)价|(?:报价|价格|收费|价钱)[^，,。?？]{0,2}(?:便宜|贵|高|低)(?!的)|比比?价|"
    r"\bbriber(?:y|ies)\b|\bgifts?\b|\bkickbacks?\b|which (?:labs|companies|firms|agencies) (?:in|are|can)\b|"
    # An accident named by its date (天津港8·12爆炸) or a case's outcome (…爆炸那个案子，最后判了什么): news.
    r"[0-9]{1,2}[·.][0-9]{1,2}”?[^，,。?？]{0,8}(?:爆炸|事故|火灾)|"
    r"(?:爆炸|事故|火灾)那个案子[^?？]{0,20}(?:最后|后来|结果|判)|"
    # A past event named by its year (the 2015 Tianjin port explosion): news, not a rule.
    r"\b(?:19|20)\d\d\b[^.?]{0,40}\b(?:explosion|accident|fire|disaster|collapse|blast)|"
    # Labour disputes, tolls, a policy to buy, refunds and freight claims (加班费, 劳动仲裁的时效, 绿通车通行费,
    # 三者险买哪家, 全额退票, 按货值赔): matters of contract and labour law, not of these texts.
    r"加班费|劳动仲裁|仲裁时效|通行费|绿通|三者险|商业险|家财险|退票|退货|运费|货值|"
    r"\bprices?\b|\bwages?\b|salary|\btax(?:es)?\b|\bpensions?\b")
# Money's safety (存款安不安全, 股票的安全边际): another sense of 安全 than the one these laws regulate.
FINANCE = re.compile(r"股票|炒股|股市|基金|理财|存款|贷款|信用卡|\bstocks?\b|\bdeposits?\b|\bloans?\b|"
                     r"非法集资|洗钱|p2p|金融风险|骗保|保险欺诈|预售资金|资金存管|会员费|预付卡|储值卡|假钞|假币|强积金|\bmpf\b|"
                     r"寿险|投连|万能险|分红险|年金险|重疾险|佣金|"
                     r"wealth[- ]management|financial products|"
                     r"money[- ]laundering")
# Other kinds of safety than the one these laws regulate: food poisoning and drugs, nuclear safety,
# the environment, graded protection of information systems, medical accidents (等级保护测评归谁管).
# (Not 食品安全: a school canteen's safety is the education department's, 学校食堂的食品安全谁负责.)
OTHER_SAFETY = re.compile(r"食物中毒|药品安全|核安全|核电|等级保护|等保测评|环评|环境影响评价|排污|废水|"
                          r"pm2\.5|空气质量|大气污染|碳排放|碳达峰|扬尘|尾气|冒黑烟|氮氧化物|二氧化硫|排放限值|抗菌药|防沉迷|"
                          r"网络游戏|医疗事故|医疗纠纷|健康证|养犬|犬只|烈性犬|"
                          r"食品安全委员会|食安委|四个最严|麻醉药品|精神药品|药品召回|降压药|违禁成分|二次供水|水质检测|饮用水|吸毒|(?<![剧有])毒品|禁毒|止咳|开药|啥药|什么药|保质期|涨袋|"
                          # Food quality tested (饭菜被抽检出来不合格), not a canteen's safety.
                          r"(?:饭菜|菜品|饮料|食品|蔬菜)[^，,。?？]{0,8}抽检|抽检[^，,。?？]{0,4}不合格|"
                          r"黑客|数据泄露|信息泄露|数据出境|人脸识别|关键信息基础设施|保健品|vocs?\b|排放浓度|实验动物|动物实验|伦理审查|"
                          # Quarantine, residues in food, carbon trading (检疫章, 农药残留超标, 碳市场的配额).
                          r"检疫|农药残留|兽药残留|残留超标|碳市场|碳交易|配额|处方药|"
                          # Water abstraction (取水许可证, 水资源费): water-resources law.
                          r"取水许可|取水证|水资源费|"
                          # Felling timber (林木采伐许可证): forestry law.
                          r"采伐许可|林木采伐|"
                          r"nuclear safety")
# 几 after a verb in a yes-or-no question means "a few", not "how many" (招几个十七岁的小伙子，有没有坑;
# 找我们要几张票，这样合规吗).
_INDEFINITE = re.compile(r"(?:(?<=[招请找雇要拿带买送收给叫派装挂贴拉搬养住堆存囤放])|"
                         r"(?<=[招请找雇要拿带买送收给叫派装挂贴拉搬养住堆存囤放][了着]))"
                         # (最多能放几张床 asks how many: 能/多 before the verb.)
                         r"(?<![能多][招请找雇要拿带买送收给叫派装挂贴拉搬养住堆存囤放])"
                         r"几(?=[个张名位件台辆根条块瓶箱袋杯桶罐])"
                         r"(?=.*(?:吗|有没有|能不能|可不可以|行不行|让不让|合不合|合规不|算不算|对不对|要不要|用不用|会不会|"
                         r"也得|也要))")
# A rough number stated, not asked (雇了十几个季节工, 好几年, 几十万, 库里那几桶): no question of quantity.
_ROUGH = re.compile(r"(?<=[十好那这])几|几(?=[十百千万])")
# A statement before the question (仓库有几个老叉车工一直无证在开。…必须持证吗): its 几 is "a few".
_STATEMENT = re.compile(r"[^。！!?？]*[。！!](?=.)")
_ASKING = re.compile(r"吗|呢|么|啥|什么|怎|多少|哪|请问|问一下|想知道|告诉我|问问")


def _stated_few(text: str) -> str:
    """``text`` with the 几 of statements that precede the question read as 些 (a few)."""
    return _STATEMENT.sub(lambda m: m.group(0) if _ASKING.search(m.group(0)) else m.group(0).replace("几", "些"),
                          text)
# Who holds an office (厅长是谁), or an office's address, telephone or hours: no regulation states them.
OFFICIAL = re.compile(r"(?:局长|厅长|部长|主任|书记|省长|市长|县长|区长|队长|总队长|支队长|总理|会长)"
                      r"(?:是谁|叫什么|叫啥|姓什么|是哪位)|现任|哪位(?:总理|领导|局长|厅长)|(?:哪位|谁)签署|(?:由谁|谁)(?:担任|兼任)|"
                      r"地址|办公电话|联系电话|联系方式|办公时间|上班时间|官网|网址|邮箱|热线(?:电话)?(?:是|号码)|"
                      r"(?:哪个|什么|哪家)(?:app|网站|平台|小程序|公众号)|"
                      r"(?:app|网站|小程序|公众号)上(?:能|可以|怎么|咋|在哪|办|查|交|申请|报名|预约|补)|网上(?:报名|办理|申请)|"
                      r"(?:在哪|去哪|到哪)(?:里|儿)?(?:报名|排队|取号)|报名入口|下载|电子版|模板|"
                      # Where to pay, which hospital, which days a clinic sees people.
                      r"(?:哪个|哪家)(?:银行|窗口|医院)|(?:去|到)哪(?:里|儿)?(?:交钱|缴费|交罚款|去交)|"
                      r"接待时间|打不通|一周哪几天|星期几|周几|礼拜几|上不上班|开不开门|电话(?:是)?多少|电话号码|(?:网点|办理点|的点)在哪|几点(?:开门|关门|上班|下班)|开门时间|"
                      r"(?:周六|周日|周末|礼拜六|礼拜天|星期六|星期天|节假日)(?:上班|开门|办公|营业)|"
                      # Exams: subjects, syllabus, fees (regulations require the exam, never its content).
                      r"考几门|考哪几门|考试科目|考些啥|考些什么|报名费|及格线|几分及格|"
                      r"who is the (?:current )?(?:head|director|minister|chief)|\baddress\b|phone number|"
                      r"telephone number|"
                      r"hotline number|哪条路|哪条街|打哪个电话|电话是多少|电话号码|怎么联络|"
                      r"办公地点|哪个号码|拨哪个|打哪个号|搬到哪|搬去哪|值班电话(?:是多少|多少|号码|有没有|有吗|是啥|是什么|给我|发我)|"
                      r"(?:office|opening|business|consultation|visiting) hours|walk-in|website|\bapp\b|e-?mail")
# Advice, opinions, forecasts and news (灭火器怎么用, 哪个更安全, 明年会不会放开, 今天发预警了吗):
# no regulation gives them.
ADVICE = re.compile(r"怎么用|怎么使用|如何使用|使用方法|哪个更|哪个好|值不值|值得|划算|推荐|将来会|以后会|"
                    # 明年会不会放开 forecasts; 明年三月到期 is a date.
                    r"(?:明年|后年)[^，,。?？]{0,6}(?:会|能不能|是否|可能|有没有)|"
                    r"一步一步|一步步教|手把手|口诀|怎么背|范本|范文|哪家(?:公司|机构|单位)(?:好|靠谱|便宜|专业)?|"
                    r"牌子|品牌|技巧|窍门|妙招|攻略|怎么写(?!的)|(?:怎么|咋)编(?![制号])|怎么填(?!的)|如何填写|怎么去领|去哪(?:里|儿)?领|往哪(?:里|儿)?(?:躲|跑)|"
                    r"(?:下一次|下次)[^，,。?？]{0,6}(?:大修|修订|修改|修正)|会不会再(?:提高|降低|涨|调整|加大)|"
                    r"教案|讲稿|课件|ppt|话术|说辞|脚本|(?:啥时候|什么时候|何时)\s*再(?:修订|修改|修正)|"
                    r"帮(?:我|忙)[^，,。?？]{0,6}(?:列|写|排|做|出|整|弄|搞|设计|起草|拟|编|起)|"
                    # What to do first in an emergency (先开窗户还是先去关总阀, 急救一二三步怎么弄, 往哪边跳).
                    r"先[^，,。?？]{1,10}还是先|急救[^，,。?？]{0,6}(?:步骤|怎么弄|怎么做|几步)|一二三步|按步骤|"
                    r"往哪(?:边|里|儿)?跳|怎么立案|如何立案|怎么(?:跟|和|与)[^，,。?？]{0,6}(?:沟通|交流|谈)|(?:咋|怎么|如何)修(?![订改正])|哪几家[^，,。?？]{0,8}(?:公司|机构|单位)|"
                    r"预计[^，,。?？]{0,6}(?:修订|修改|修正|出台|颁布|发布)|时间表|哪条(?:路|线)?更|帮我比|比一比|"
                    r"给我[^，,。?？]{0,4}(?:出|写|列|做|画|拟)(?:个|一个|一份|份)|出[0-9一二三四五六七八九十几]*道[^，,。?？]{0,8}题|"
                    # An essay asked for (以…为题，写一篇…论文; 撰写一篇…评析).
                    r"(?:写|撰写)一?篇|以[^，,。?？]{1,40}为题|"
                    r"单选题|多选题|判断题|选择题|(?:明年|后年)[^，,。?？]{0,6}(?:大修|修订|修正)|"
                    # News: whether something happened or was published (昨天那起剐蹭…合适吗 only sets the scene).
                    r"(?:今天|昨天|刚刚|刚才)[^?？]*(?:了吗|了没|公布|发布|通报)|最新消息|新闻|出来(?:没有|了没|了吗)|"
                    r"主意|"
                    r"today|yesterday|latest news|"
                    r"how (?:do|to) (?:i )?use|which is (?:safer|better)|worth it|recommend|\btips?\b|"
                    r"(?:will|going to|expected to|likely to)\b[^.?]{0,30}\bnext year|"
                    r"next year\b[^.?]{0,20}\b(?:will|going to)\b|"
                    r"\b(?:can|could) you (?:draft|write|prepare|make)\b|\bdraft (?:a|an|me)\b|"
                    r"\b(?:make|write|prepare) (?:for )?me\b|\btemplates?\b|"
                    r"how (?:should|do|can) (?:i|we) (?:write|structure|draft)|how to (?:write|structure|draft)|"
                    r"step[- ]by[- ]step|"
                    r"next (?:amendment|revision)|due for (?:its )?next|out for public comment|"
                    r"(?:going to|will) be amended|amended again|"
                    r"will .{0,30} be (?:lifted|allowed)")
# The papers a procedure needs (要带哪些材料): answered only where a text lists them (提交下列材料).
PAPERS = re.compile(r"(?:哪些|什么|啥)(?:申请)?(?:材料|资料|手续|证件|证明)|带(?:什么|啥)|"
                    r"what (?:documents|papers|paperwork)|which documents")
PAPERS_STATED = re.compile(
    r"(?:提交|提供|报送|出示|携带)[^。；]{0,12}(?:材料|文件|资料|证明|证件)|下列材料|申请材料|申请书|"
    r"办理[^。；]{0,6}手续|审批手续")
# A claim to check (是第几条, 哪条法律规定的, 规定…吗) that states figures (连续开4个小时就必须休息20分钟):
# when no text near the question states them, the claim is not in the library.
CLAIM = re.compile(r"(?:第几条|哪一?条|哪部法|哪个文件|哪个法规)|is it true|is that (?:right|true|correct)|"
                   r"规定.{0,40}(?:吗|是不是|对不对|真的|是吧|对吧|没错吧)|(?:是不是|是否|有没有)规定|"
                   r"是不是.{0,20}(?:必须|一定|至少|都得|都要|不能|不得|不准|只能|最多|超过)")
# A statement about what a text says, put as a question (第四十四条规定每年放三天安全假，是这样吧;
# 第二十九条是不是规定…): with a citation, the cited article must say something about it.
CHECKS = re.compile(r"(?:规定|要求|说|写)[^?？]*(?:是这样吗|是这样吧|是吗|是吧|对吧|对吗|对不对|真的假的|是真的吗|"
                    r"真的吗|没问题吧|是不是这样|是不是真的|是真的不|有这回事|有这(?:个|种)?说法|确有此(?:事|规定)|是这么回事|"
                    r"是否属实|属实吗|真有这一句|真有这么一条|"
                    r"真有这条|没错吧|的吧)|(?:是不是|是否|有没有)(?:规定|要求|说|写)|"
                    # …第十三条里有一项是…，是第几项: the item must be there to be found.
                    r"有一项是[^?？]*(?:是第几项|是哪一项)|"
                    r"\b(?:says?|requires?|states?|provides?)\b.*"
                    r"(?:is that (?:actually |really )?(?:right|true|correct|so|in the (?:law|regulations?|rules))|"
                    r"right\?|correct\?|true\?)|is it true|"
                    # 听说安全生产法规定…，我们…也算: a rumour of what a text says.
                    r"(?:听[^，,。?？]{0,4}(?:说|讲)|据说|有人说)[^?？。]{0,14}(?:规定|要求)|"
                    r"^(?:does|do|did|is|are)\b.*\b(?:caps?|requires?|limits?|sets?|says?|allows?|bans?|mandates?)\b")
# Words that say nothing about what a statement or an amount is about (规定, 必须, 超过; the document itself).
FILLERS = frozenset(("规定", "要求", "是不是", "是否", "有没有", "这样", "是这样", "真的", "假的", "真的假的",
                           "对吧", "对不对", "没错", "这条", "这个", "必须", "应当", "应该", "可以", "不得", "不能",
                           "不准", "只能", "最多", "至少", "超过", "一定", "就是", "也就", "听说", "据说", "是说",
                           # The document itself (这个细则, 本条例).
                           "细则", "实施细则", "条例", "本法", "法律", "法规"))
_FIGURE = re.compile(r"([0-9]+|[零一二两三四五六七八九十百千]+)\s*"
                     r"(个小时|小时|个钟头|钟头|分钟|个月|年|天|日|万元|万|元|块钱|块|个人|人|名|次|米|公里|层|级|周岁|岁|倍|"
                     r"个课时|课时|学时|%)")
# A time of day (凌晨两点以后, 晚上十二点): not 三点要求, the points of a list.
_FIGURE_TIME = re.compile(r"(?:凌晨|早上|上午|中午|下午|晚上|夜里|夜间)\s*([0-9]+|[零一二两三四五六七八九十]+)\s*点")
_FIGURE_UNIT = {"个小时": "小时", "个钟头": "小时", "钟头": "小时", "个月": "月", "天": "日", "万元": "万",
                "块钱": "元", "块": "元", "个人": "人", "名": "人", "周岁": "岁",
                "个课时": "课时", "学时": "课时"}


# The same in English questions (at least 20 years old, 6 hours a day), in the Chinese units.
_FIGURE_EN = re.compile(r"\b([0-9]+)\s*(hours?|minutes?|days?|months?|years? old|years?|yuan|people|persons|workers|"
                        r"times|met(?:er|re)s?|km|kilomet(?:er|re)s?|floors?|storeys?)\b")
_FIGURE_UNIT_EN = {"hour": "小时", "minute": "分钟", "day": "日", "month": "月", "years old": "岁", "year": "年",
                   "yuan": "元", "people": "人", "person": "人", "worker": "人", "time": "次", "meter": "米",
                   "metre": "米", "km": "公里", "kilometer": "公里", "kilometre": "公里", "floor": "层", "storey": "层"}


def figures(text: str) -> frozenset[tuple[int, str]]:
    """The figures a text states, as (value, unit): 4个小时 → (4, 小时), 十五年 → (15, 年), 二十万 → (20, 万).

    Ones (一年, 一人) are left out: they stand for "a" as often as for a figure.
    """
    found = set()
    for number, unit in _FIGURE.findall(text):
        try:
            value = chinese_to_int(number)
        except ValueError:
            continue
        if value > 1:
            found.add((value, _FIGURE_UNIT.get(unit, unit)))
    for number in _FIGURE_TIME.findall(text):
        with contextlib.suppress(ValueError):
            found.add((chinese_to_int(number), "点"))
    for number, unit in _FIGURE_EN.findall(text):
        singular = unit if unit in _FIGURE_UNIT_EN else unit.removesuffix("s")
        if int(number) > 1 and singular in _FIGURE_UNIT_EN:
            found.add((int(number), _FIGURE_UNIT_EN[singular]))
    return frozenset(found)


# A technical standard (GB 50016, ISO 45001, OSHA): standards are not regulations of the library.
STANDARD = re.compile(r"(?<![a-z])(?:gbz?|aq|jgj|jt|tsg|hg|sy|iso|iec|nfpa|ansi)\s*(?:/\s*t)?\s*[0-9]{2,}|"
                      r"(?<![a-z])osha(?![a-z])|"
                      r"标准编号|标准号|国标号|哪个国标|哪项国标")
DOMAIN_WORDS = re.compile(
    r"安全|事故|隐患|消防|火灾|应急|救援|突发事件|预警|工伤|职业病|持证|监管|监督|检查|执法|审批|许可|危险|风险|防护|职责|负责|管理|细则|施行|解释|"
    # Poisons by name or asked about (氰化钠, 剧毒, 岗位有啥毒): hazardous chemicals and occupational hazards.
    r"剧毒|有毒|氰化|(?:啥|什么)毒|"
    r"safety|hazard|accident|\bfire|emergenc|inspect|supervis|regulat|licen[cs]|permit"
)


def stated_figures(claimed: frozenset[tuple[int, str]], texts: Sequence[str], topic: Sequence[str] = ()) -> bool:
    """Whether one of ``texts`` states one of the ``claimed`` figures and names a word of ``topic``
    (any, when empty): 事故条例 states 3人 of deaths, not of workers in one room."""
    return any(claimed & figures(t) and _names(t, topic) for t in texts)


def amount_asked(question: str) -> re.Pattern[str] | None:
    """The pattern of the amount ``question`` asks for (its first kind), or None."""
    for asks, states in AMOUNT_KINDS:
        if asks.search(question):
            return states
    return None


def amount_stated(question: str, texts: Sequence[str], topic: Sequence[str] = ()) -> bool:
    """Whether one of ``texts`` states the kind of amount ``question`` asks for.

    With ``topic`` (the question's specific words, see :func:`topic_words`), the text that
    states it must also name one of them: 安全生产许可证的有效期为3年 does not answer how long a
    达标证书 is valid.
    """
    states = amount_asked(question)
    return states is not None and stated_about(states, texts, topic)


def stated_about(states: re.Pattern[str], texts: Sequence[str], topic: Sequence[str] = ()) -> bool:
    """Whether one of ``texts`` matches ``states`` and names a word of ``topic`` (any, when empty)."""
    return any(states.search(t) and _names(t, topic) for t in texts)


def stated_about_subject(states: re.Pattern[str], texts: Sequence[str], topic: Sequence[str]) -> bool:
    """Whether one of the best articles ``texts`` states the amount asked and names a word of the
    topic that says what it is about (not 必须, 规定, 超过: 客运司机连续开车超过几个小时 is not answered by
    每级上报的时间不得超过2小时), or the best article states it and names any word of the topic."""
    subject = tuple(w for w in topic if w not in FILLERS) or tuple(topic)
    return stated_about(states, texts, subject) or stated_about(states, texts[:1], topic)


def _names(text: str, topic: Sequence[str]) -> bool:
    """Whether ``text`` names a word of ``topic`` (any text does, when it is empty)."""
    return not topic or any(w in text for w in topic)


# Words that ask for the amount or qualify it (多少天, 提前, 至少, 一次 …): not what the question is about.
# (And the units and measures asked for: 几个小时 is not what 每级上报的时间不得超过2小时 is about.)
AMOUNT_WORDS = re.compile(r"多少|几|多久|多长|多快|多远|多大|时间|期限|有效期|时限|提前|以上|以下|以内|之内|"
                          r"最少|最多|至少|最长|最短|最晚|最快|要交|交钱|收钱|罚多少|钱|一次|每年|每月|"
                          r"小时|钟头|分钟|工作日|公里|米数|人数|天数|年限|时长|上限|下限|比例|百分比|数字|金额")


def topic_words(words: Sequence[str], frequency: Callable[[str], float], limit: float) -> tuple[str, ...]:
    """The specific words of a question: Chinese words of two or more characters that ask for no
    amount and occur in less than ``limit`` (a share) of the library's clauses by ``frequency``."""
    return tuple(dict.fromkeys(
        w for w in words
        if len(w) >= 2 and has_cjk(w) and not AMOUNT_WORDS.search(w) and frequency(w) < limit))



@dataclass(frozen=True)
class Intent:
    """What a question asks for, read from its normalised text.

    Attributes:
        who: asks who is responsible (谁, 哪个部门, which agency …).
        duty: asks about duties (职责, 负责, 管哪些).
        obligation: asks who pays, bears, maintains or guarantees something (a party's
            obligation, which laws state, rather than who supervises).
        quantity: asks for a figure of any kind (多少, 几天, 收费, how much; 哪几块 asks which, not how many).
        amount: the pattern of the kind of amount laws state that the question asks for
            (a prison term, points, a frequency, a fine, "free", a time limit, a head count), or None.
        penalty: asks about penalties or consequences (罚, 追究, 会怎么样).
        statistic: asks for a year's or a region's count, which no regulation states.
        never_stated: asks for a price, a wage, a rate or a tax, court practice, who first proposed an
            idea or this year's local arrangements, which safety regulations never state.
        finance: asks about money's safety (deposits, stocks, loans), not the safety these laws regulate.
        other_safety: asks about food poisoning, drugs, nuclear safety, the environment, the graded
            protection of information systems or medical accidents, which these laws do not regulate.
        advice: asks for advice, an opinion, a forecast or news (怎么用, 哪个更安全, 明年会不会, 今天…了吗),
            which no regulation gives.
        papers: asks which papers a procedure needs (要带哪些材料).
        official: asks who holds an office (厅长是谁), an office's address, telephone or hours, or
            which app or website to use.
        history: asks when a regulation was adopted, amended or took effect.
        claim: asks where a rule with figures is laid down, or whether it is (…是第几条, 规定…吗),
            and states those figures (see :func:`figures`).
        checks: puts a statement about what a text says as a question (…规定…，是这样吧; 是不是规定…).
        standard: names a technical standard (GB 50016, ISO 45001, OSHA), which no regulation of the
            library is.
        domain: has a word of the safety domain (安全, 事故, 消防 …).
    """

    who: bool = False
    duty: bool = False
    obligation: bool = False
    quantity: bool = False
    amount: re.Pattern[str] | None = None
    penalty: bool = False
    statistic: bool = False
    never_stated: bool = False
    finance: bool = False
    other_safety: bool = False
    advice: bool = False
    papers: bool = False
    official: bool = False
    history: bool = False
    claim: bool = False
    checks: bool = False
    standard: bool = False
    domain: bool = False

    @classmethod
    def read(cls, text: str) -> Intent:
        """The intent of a normalised question (lower-case, Simplified)."""
        # The figures asked for, without "a few" or "ten-odd".
        counted = _stated_few(_ROUGH.sub("余", _INDEFINITE.sub("些", text)))
        return cls(
            who=bool(WHO.search(text)), duty=bool(DUTY.search(text)), obligation=bool(OBLIGATION.search(text)),
            quantity=bool(QUANTITY.search(counted)), amount=amount_asked(counted), penalty=bool(PENALTY.search(text)),
            statistic=bool(STATISTIC.search(text)), never_stated=bool(NEVER_STATED.search(text)),
            finance=bool(FINANCE.search(text)), other_safety=bool(OTHER_SAFETY.search(text)),
            advice=bool(ADVICE.search(text)), papers=bool(PAPERS.search(text)),
            official=bool(OFFICIAL.search(text)),
            history=bool(HISTORY.search(text)), standard=bool(STANDARD.search(text)),
            claim=bool(CLAIM.search(text)) and bool(figures(text)), checks=bool(CHECKS.search(text)),
            domain=bool(DOMAIN_WORDS.search(text)),
        )


__all__ = [
    "ADVICE", "AMOUNT_KINDS", "AMOUNT_WORDS", "CHECKS", "CLAIM", "DOMAIN_WORDS", "DUTY", "FILLERS", "FINANCE",
    "HISTORY", "NEVER_STATED", "OBLIGATION", "OFFICIAL", "OTHER_SAFETY", "PAPERS", "PAPERS_STATED", "PENALTY",
    "QUANTITY", "STANDARD", "STATISTIC", "WHO",
    "Intent",
    "amount_asked", "amount_stated", "figures", "stated_about", "stated_about_subject", "stated_figures", "topic_words",
]
