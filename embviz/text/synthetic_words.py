"""The synthetic grammar's vocabulary: each category's words in English and in Chinese, and the function words."""

from __future__ import annotations

# Each category lists its words most frequent first; a word with several forms lists them
# separated by spaces: nouns ``singular plural``, verbs ``base 3rd-singular past``.
WORDS: dict[str, str] = {
    "noun/animal/pet": "dog dogs, cat cats, rabbit rabbits, puppy puppies, kitten kittens, "
                       "hamster hamsters, parrot parrots",
    "noun/animal/farm": "cow cows, horse horses, turkey turkeys, pig pigs, sheep sheep, "
                        "chicken chickens, goat goats",
    "noun/animal/wild": "lion lions, elephant elephants, tiger tigers, bear bears, wolf wolves, "
                        "monkey monkeys, giraffe giraffes, fox foxes",
    "noun/food/fruit": "apple apples, banana bananas, orange oranges, pear pears, grape grapes, "
                       "lemon lemons, cherry cherries",
    "noun/food/vegetable": "potato potatoes, carrot carrots, tomato tomatoes, onion onions, "
                           "bean beans, cabbage cabbages",
    "noun/food/dish": "bread, soup, rice, cake, pasta, pie, stew",
    "noun/food/drink": "water, milk, tea, coffee, juice",
    "noun/person/family": "mother, father, sister, brother, grandmother, grandfather, aunt, "
                          "uncle, son, daughter, cousin",
    "noun/person/generic": "man men, woman women, boy boys, girl girls, child children, "
                           "friend friends, baby babies",
    "noun/person/occupation": "teacher teachers, doctor doctors, farmer farmers, nurse nurses, "
                              "driver drivers, pilot pilots",
    "noun/person/role": "president, minister, king, queen, leader, mayor",
    "noun/place/country": "france, china, turkey, india, japan, italy, spain, egypt, brazil, kenya",
    "noun/place/city": "paris, beijing, istanbul, delhi, tokyo, rome, madrid, cairo, rio, nairobi",
    "noun/place/building": "school, house, hospital, market, library, church, shop, station, home",
    "noun/place/landscape": "forest, river, garden, farm, zoo, mountain, lake, park",
    "noun/time/day": "monday, tuesday, wednesday, thursday, friday, saturday, sunday",
    "noun/time/month": "january, february, march, april, may, june, july, august, september, "
                       "october, november, december",
    "noun/time/period": "day days, week weeks, year years, month months",
    "noun/time/part": "morning, evening, night, afternoon, weekend",
    "noun/object/vehicle": "car cars, bus buses, train trains, boat boats, plane planes",
    "noun/object/wearable": "hat hats, watch watches, coat coats, shirt shirts, scarf scarves, "
                            "dress dresses",
    "noun/object/household": "cup cups, table tables, chair chairs, pot pots, lamp lamps, "
                             "bed beds",
    "verb/motion/walk": "walk walks walked, run runs ran, jump jumps jumped, swim swims swam",
    "verb/motion/travel": "travel travels travelled, fly flies flew, drive drives drove, "
                          "sail sails sailed",
    "verb/motion/arrive": "come comes came, go goes went, return returns returned, "
                          "arrive arrives arrived",
    "verb/ingestion/eat": "eat eats ate, bite bites bit, chew chews chewed, taste tastes tasted",
    "verb/ingestion/drink": "drink drinks drank, sip sips sipped",
    "verb/cooking/heat": "cook cooks cooked, bake bakes baked, boil boils boiled",
    "verb/cooking/cut": "cut cuts cut, slice slices sliced, peel peels peeled, chop chops chopped",
    "verb/cooking/serve": "serve serves served, pour pours poured",
    "verb/perception/sight": "see sees saw, watch watches watched, notice notices noticed",
    "verb/perception/sound": "hear hears heard, listen listens listened",
    "verb/speech/say": "say says said, shout shouts shouted",
    "verb/speech/tell": "tell tells told, ask asks asked",
    "verb/cognition/think": "think thinks thought, know knows knew, believe believes believed",
    "verb/cognition/memory": "remember remembers remembered, forget forgets forgot",
    "verb/care/tend": "feed feeds fed, wash washes washed, brush brushes brushed",
    "verb/emotion/attitude": "like likes liked, love loves loved, hate hates hated",
    "verb/emotion/feel": "feel feels felt",
    "verb/emotion/express": "smile smiles smiled, laugh laughs laughed, cry cries cried, "
                            "sigh sighs sighed",
    "verb/possession/hold": "keep keeps kept, carry carries carried, "
                            "hold holds held, wear wears wore",
    "verb/possession/exchange": "buy buys bought, sell sells sold, give gives gave, "
                                "find finds found, pick picks picked",
    "adj/colour/warm": "red, orange, yellow, pink",
    "adj/colour/cool": "blue, green, purple",
    "adj/colour/neutral": "black, white, brown, grey",
    "adj/size/big": "big, large, huge, tall",
    "adj/size/small": "small, little, tiny, short",
    "adj/emotion/positive": "happy, glad, calm, proud",
    "adj/emotion/negative": "sad, angry, afraid, tired, worried",
    "num/cardinal/small": "one, two, three, four, five, six, seven, eight, nine, ten",
    "num/cardinal/teen": "eleven, twelve, thirteen, fourteen, fifteen, sixteen, seventeen, "
                         "eighteen, nineteen",
    "num/cardinal/tens": "twenty, thirty, forty, fifty",
    "num/cardinal/large": "hundred, thousand, million",
    "num/ordinal/rank": "first, second, third, fourth, fifth, sixth, seventh, eighth, ninth, tenth",
}

FUNCTION_WORDS: dict[str, str] = {
    "function/determiner/article": "the a an",
    "function/determiner/quantifier": "every",
    "function/determiner/relative": "last next",
    "function/pronoun/possessive": "my his her",
    "function/preposition/place": "in on at to from near around",
    "function/preposition/other": "of by for",
    "function/conjunction/coordinating": "and",
    "function/conjunction/subordinating": "that",
    "function/auxiliary/be": "is",
    "function/auxiliary/modal": "will can may must",
    "function/operator/arithmetic": "plus minus",
}

# Chinese words of each category, in the order of ``WORDS`` (one word for all forms of a lexeme). Three
# are homonyms, as in Chinese: 橙 the colour and the fruit (English "orange"), 到 "arrive" and the
# preposition "to", 给 "give" and "for".
WORDS_ZH: dict[str, str] = {
    "noun/animal/pet": "狗 猫 兔子 小狗 小猫 仓鼠 鹦鹉",
    "noun/animal/farm": "牛 马 火鸡 猪 羊 鸡 山羊",
    "noun/animal/wild": "狮子 大象 老虎 熊 狼 猴子 长颈鹿 狐狸",
    "noun/food/fruit": "苹果 香蕉 橙 梨 葡萄 柠檬 樱桃",
    "noun/food/vegetable": "土豆 胡萝卜 西红柿 洋葱 豆子 白菜",
    "noun/food/dish": "面包 汤 米饭 蛋糕 面条 馅饼 炖菜",
    "noun/food/drink": "水 牛奶 茶 咖啡 果汁",
    "noun/person/family": "妈妈 爸爸 姐姐 哥哥 奶奶 爷爷 阿姨 叔叔 儿子 女儿 表哥",
    "noun/person/generic": "男人 女人 男孩 女孩 孩子 朋友 婴儿",
    "noun/person/occupation": "老师 医生 农民 护士 司机 飞行员",
    "noun/person/role": "总统 部长 国王 女王 领导 市长",
    "noun/place/country": "法国 中国 土耳其 印度 日本 意大利 西班牙 埃及 巴西 肯尼亚",
    "noun/place/city": "巴黎 北京 伊斯坦布尔 德里 东京 罗马 马德里 开罗 里约 内罗毕",
    "noun/place/building": "学校 房子 医院 市场 图书馆 教堂 商店 车站 家",
    "noun/place/landscape": "森林 河 花园 农场 动物园 山 湖 公园",
    "noun/time/day": "星期一 星期二 星期三 星期四 星期五 星期六 星期日",
    "noun/time/month": "一月 二月 三月 四月 五月 六月 七月 八月 九月 十月 十一月 十二月",
    "noun/time/period": "天 星期 年 月",
    "noun/time/part": "早上 傍晚 晚上 下午 周末",
    "noun/object/vehicle": "汽车 公共汽车 火车 船 飞机",
    "noun/object/wearable": "帽子 手表 外套 衬衫 围巾 裙子",
    "noun/object/household": "杯子 桌子 椅子 锅 灯 床",
    "verb/motion/walk": "走 跑 跳 游泳",
    "verb/motion/travel": "旅行 飞 开车 航行",
    "verb/motion/arrive": "来 去 回 到",
    "verb/ingestion/eat": "吃 咬 嚼 尝",
    "verb/ingestion/drink": "喝 抿",
    "verb/cooking/heat": "烧 烤 煮",
    "verb/cooking/cut": "切 切片 剥 剁",
    "verb/cooking/serve": "端 倒",
    "verb/perception/sight": "看见 看 注意到",
    "verb/perception/sound": "听见 听",
    "verb/speech/say": "说 喊",
    "verb/speech/tell": "告诉 问",
    "verb/cognition/think": "想 知道 相信",
    "verb/cognition/memory": "记得 忘记",
    "verb/care/tend": "喂 洗 刷",
    "verb/emotion/attitude": "喜欢 爱 讨厌",
    "verb/emotion/feel": "觉得",
    "verb/emotion/express": "微笑 笑 哭 叹气",
    "verb/possession/hold": "养 带 拿 穿",
    "verb/possession/exchange": "买 卖 给 找到 摘",
    "adj/colour/warm": "红色 橙 黄色 粉色",
    "adj/colour/cool": "蓝色 绿色 紫色",
    "adj/colour/neutral": "黑色 白色 棕色 灰色",
    "adj/size/big": "大 庞大 巨大 高",
    "adj/size/small": "小 小小 微小 矮",
    "adj/emotion/positive": "快乐 高兴 平静 自豪",
    "adj/emotion/negative": "难过 生气 害怕 累 担心",
    "num/cardinal/small": "一 二 三 四 五 六 七 八 九 十",
    "num/cardinal/teen": "十一 十二 十三 十四 十五 十六 十七 十八 十九",
    "num/cardinal/tens": "二十 三十 四十 五十",
    "num/cardinal/large": "百 千 百万",
    "num/ordinal/rank": "第一 第二 第三 第四 第五 第六 第七 第八 第九 第十",
}

# Chinese for the grammar's function words ("" = none in Chinese) and the full stop.
FUNCTION_ZH: dict[str, str] = {
    "the": "", "a": "一个", "an": "一个", "every": "每", "last": "上", "next": "下",
    "my": "我的", "his": "他的", "her": "她的",
    "in": "在", "on": "在", "at": "在", "to": "到", "from": "从", "near": "附近", "around": "周围",
    "of": "的", "by": "乘", "for": "给", "and": "和", "that": "", "is": "是",
    "will": "会", "can": "能", "may": "可能", "must": "必须", "plus": "加", "minus": "减", ".": "。",
}
