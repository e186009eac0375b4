"""Default word packs, written by the kefu team (short, our own; workspaces edit their copies).

Terms are matched after folding (full-width → half-width, traditional → simplified, lower
case), so ``絕對``, ``１００％`` and ``ＴＯＰ`` are covered by the simplified, half-width forms.
Exclusions are longer phrases that cancel an overlapping occurrence (``第一`` in ``第一次``).
"""

from __future__ import annotations

from types import MappingProxyType

from kefu.qa.rules import WordPack

#: 广告法 (Advertising Law art. 9) absolute / superlative wording
AD_LAW_ABSOLUTE = WordPack(
    name="ad_law_absolute",
    terms=(
        "最好", "最佳", "最优", "最强", "最低价", "最便宜", "最先进", "最高级", "最顶级",
        "最权威", "最正宗", "最受欢迎", "第一", "全网第一", "销量第一", "唯一", "绝对",
        "100%", "百分之百", "百分百", "顶级", "国家级", "世界级", "全球首发", "独一无二",
        "史无前例", "万能", "极品", "首选", "王牌", "冠军", "无敌", "全网最低", "永久",
    ),
    exclusions=(
        "第一次", "第一步", "第一时间", "第一个", "第一天", "第一件", "第一单", "第一条",
        "您最好", "你最好", "最好先", "最好是", "最好还是", "最好能", "唯一的办法",
        "唯一的方法", "绝对值", "永久地址",
    ),
)

#: promises an agent must not make
RISKY_PROMISES = WordPack(
    name="risky_promises",
    terms=(
        "保证", "担保", "一定", "肯定能", "肯定会", "绝对能", "绝对会", "包退包换",
        "包退", "包换", "包赔", "包过", "包治", "稳赚", "零风险", "无风险", "百分百到",
        "今天一定到", "明天一定到", "承诺",
    ),
    exclusions=(
        "不能保证", "无法保证", "不保证", "没法保证", "不敢保证", "一定的", "不一定",
        "一定程度", "说不一定", "无法承诺", "不能承诺", "不承诺",
    ),
)

#: abusive / dismissive wording (agent rudeness)
ABUSIVE = WordPack(
    name="abusive",
    terms=(
        "滚", "闭嘴", "白痴", "傻子", "傻瓜", "蠢货", "废物", "神经病", "有病吧", "脑子有问题",
        "你烦不烦", "爱买不买", "不买拉倒", "关我什么事", "关我屁事", "自己看去", "没长眼",
        "听不懂人话",
    ),
    exclusions=("滚动", "滚筒", "翻滚", "滚轮", "滚珠", "打滚", "滚烫", "利滚利", "滚雪球",
                "滚梯", "滚刷", "摸爬滚打", "滚蛋糕"),
)

#: placeholders: a workspace replaces these with its competitors' names
COMPETITORS = WordPack(
    name="competitors",
    terms=("竞品甲", "竞品乙", "竞品丙"),
)

DEFAULT_PACKS: MappingProxyType[str, WordPack] = MappingProxyType({
    p.name: p for p in (AD_LAW_ABSOLUTE, RISKY_PROMISES, ABUSIVE, COMPETITORS)
})
