"""Responsible people (负责人): a Chinese (or Korean-Chinese) name and a unique mobile number
each, drawn from the pools of surnames, given names and mobile prefixes."""

from __future__ import annotations

from weijian.samples.common import Rng

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡"
    "贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段"
    "雷钱汤尹黎易常武乔贺赖龚文庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍韦申尤毕聂丛焦向柳"
)
KOREAN_SURNAMES = "金李朴崔郑姜赵尹张林韩吴申权黄安宋"
GIVEN_SINGLE = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建亮成"
    "峰红梅玲丹萍颖琳雪慧莉蕾晶"
)
GIVEN_DOUBLE = (
    "秀英",
    "秀兰",
    "桂英",
    "建华",
    "建国",
    "志强",
    "海燕",
    "红梅",
    "玉兰",
    "立新",
    "春生",
    "德福",
    "永刚",
    "晓东",
    "丽娟",
    "淑珍",
    "凤琴",
    "宝山",
    "国庆",
    "振华",
    "长海",
    "玉霞",
    "文博",
    "子涵",
    "浩然",
    "雨萱",
    "思远",
    "俊杰",
    "明辉",
    "晓燕",
    "淑芬",
    "桂芝",
    "凤霞",
    "海涛",
    "宏伟",
    "金凤",
    "春雨",
    "晓光",
    "德胜",
    "永生",
    "佳怡",
    "欣怡",
    "一鸣",
    "天佑",
    "立国",
    "保国",
    "树林",
    "庆丰",
    "丽华",
    "亚楠",
)
KOREAN_GIVEN = (
    "英哲",
    "顺姬",
    "成浩",
    "美玉",
    "光洙",
    "春花",
    "哲洙",
    "英淑",
    "明植",
    "贞淑",
    "龙哲",
    "善玉",
    "东植",
    "惠英",
    "在勋",
    "允浩",
    "顺子",
    "京植",
)
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
)


class PeopleRegistry:
    """Responsible people (负责人): a Chinese name and a unique 11-digit mobile number."""

    def __init__(self, rng: Rng) -> None:
        self._rng = rng
        self._phones: set[str] = set()

    def person(self, korean_share: float = 0.0) -> tuple[str, str]:
        rng = self._rng
        if rng.random() < korean_share:
            name = (
                KOREAN_SURNAMES[rng.integers(len(KOREAN_SURNAMES))]
                + KOREAN_GIVEN[rng.integers(len(KOREAN_GIVEN))]
            )
        else:
            # frequent surnames first: a Zipf-like choice over the ordered list
            index = min(int(rng.pareto(1.2) * 6), len(SURNAMES) - 1)
            surname = SURNAMES[index]
            if rng.random() < 0.3:
                given = GIVEN_SINGLE[rng.integers(len(GIVEN_SINGLE))]
            else:
                given = GIVEN_DOUBLE[rng.integers(len(GIVEN_DOUBLE))]
            name = surname + given
        while True:
            prefix = MOBILE_PREFIXES[rng.integers(len(MOBILE_PREFIXES))]
            phone = prefix + "".join(str(d) for d in rng.integers(0, 10, 8))
            if phone not in self._phones:
                self._phones.add(phone)
                return name, phone
