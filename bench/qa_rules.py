"""A large, realistic quality-inspection rule set for the benchmark (our own vocabulary).

``build_ruleset()`` returns the JSON object of a ``kefu qa inspect --rules`` file
(``kefu.qa.spec``): well over 2,000 keyword terms spread over many keyword rules (modes
``any`` / ``all`` / ``at_least`` / ``none``, some with ``near``/``within`` and ``exclude``),
50 regex rules (order and tracking numbers, URLs, prices, WeChat / QQ ids, dates …; no nested
quantifiers, none matches the empty string), word-pack rules (the built-in packs plus one
defined in the file), personal-data, timing and sentiment rules, and a scorecard.

The vocabulary is generated deterministically from short word lists written by us: product ×
defect phrases, courier × problem, after-sales request × question, and so on.

``python bench/qa_rules.py --out rules.json`` writes it and prints the counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# ------------------------------------------------------------------------------ word lists
FRUITS = ("车厘子", "阳光玫瑰", "葡萄", "砂糖橘", "猕猴桃", "芒果", "榴莲", "草莓", "蓝莓",
          "苹果", "脐橙", "牛油果", "火龙果", "丑橘", "沃柑", "山竹", "椰青", "荔枝", "桃子",
          "西瓜", "哈密瓜", "柚子", "菠萝", "香蕉")
FRESH_DEFECTS = ("坏了", "烂了", "发霉", "不新鲜", "有虫", "压坏了", "磕破了", "太酸",
                 "干瘪", "变质", "冻伤", "个头小", "分量不足", "少了几个", "有异味", "化了")
GADGETS = ("耳机", "充电宝", "手机壳", "电动牙刷", "空气炸锅", "保温杯", "扫地机器人",
           "电饭煲", "加湿器", "键盘", "鼠标", "路由器", "手表", "音箱", "吹风机", "剃须刀",
           "台灯", "电风扇", "榨汁机", "数据线")
GADGET_DEFECTS = ("充不进电", "连不上", "死机", "开不了机", "没声音", "发烫", "屏幕碎了",
                  "断连", "续航差", "有杂音", "按键失灵", "漏电", "异响", "卡顿")
CLOTHES = ("羽绒服", "卫衣", "运动鞋", "牛仔裤", "连衣裙", "冲锋衣", "衬衫", "外套", "毛衣",
           "T恤", "裤子", "裙子", "袜子", "帽子", "围巾", "睡衣")
CLOTHES_DEFECTS = ("起球", "掉色", "开线", "尺码不对", "偏大", "偏小", "有色差", "线头多",
                   "质量差", "破洞", "褪色", "缩水")
BEAUTY = ("洗发水", "面霜", "防晒霜", "口红", "精华", "面膜", "沐浴露", "牙膏", "洗面奶",
          "香水", "护手霜", "粉底液")
BEAUTY_DEFECTS = ("过敏", "是假货", "过期", "漏液", "味道不对", "起痘", "不是正品", "批号不对")
COURIERS = ("顺丰", "中通", "圆通", "韵达", "申通", "京东物流", "邮政", "极兔", "德邦", "快递")
LOGISTICS_PROBLEMS = ("没更新", "丢件", "送错了", "不派送", "虚假签收", "爆仓", "太慢",
                      "延误", "不送上门", "暴力运输")
REQUESTS = ("退款", "退货", "换货", "补发", "赔偿", "维修", "退差价", "开发票", "改地址",
            "取消订单", "催发货", "价保", "保价", "退运费")
REQUEST_QUESTIONS = ("怎么申请", "怎么办理", "多久到账", "进度", "被拒", "失败", "流程",
                     "要多久", "什么时候", "在哪里")
PRODUCTS_ALL = FRUITS + GADGETS + CLOTHES + BEAUTY
PRESALE_QUESTIONS = ("有货吗", "什么时候发货", "多少钱", "有优惠吗", "保质期", "怎么保存",
                     "产地", "规格")

DIVERSION = ("私下交易", "私下转账", "线下交易", "微信转账", "支付宝转账", "转我支付宝",
             "扫我二维码", "私聊我", "绕过平台", "不走平台", "私人账户", "个人账户",
             "拍下不发", "改价私发", "加群领券")
DIVERSION_VERBS = ("加我", "加一下", "加个", "添加", "联系我")
DIVERSION_APPS = ("微信", "vx", "v信", "企鹅", "qq", "钉钉", "私人号", "小号")
MEDICAL = ("治愈", "根治", "药到病除", "包治百病", "抗癌", "防癌", "降血压", "降血糖",
           "降血脂", "减肥神器", "无副作用", "纯天然无添加", "增强免疫力", "延年益寿",
           "排毒养颜", "祛斑", "美白淡斑", "生发", "壮阳", "治疗失眠", "消炎", "杀菌率",
           "医用级", "临床验证", "专家推荐", "医生推荐", "药用", "疗效", "保健功效",
           "替代药物", "一吃就瘦", "七天见效", "永不反弹", "立竿见影", "彻底治好", "不复发",
           "调理肠胃", "补肾", "护肝", "抗衰老", "抗氧化", "修复细胞", "提高智力", "长高",
           "治百病", "神药", "秘方", "祖传", "特效", "速效")
FINANCE = ("稳赚不赔", "保本保息", "高收益", "零风险投资", "躺赚", "日赚", "月入过万",
           "翻倍", "内部渠道", "返现", "刷单", "好评返现", "刷好评", "代付", "套现", "垫付",
           "贷款", "借钱", "高利息", "回扣")
ABSOLUTE_PREFIX = ("全网", "全国", "全球", "全市", "行业", "同类", "业内", "史上", "国内")
ABSOLUTE_SUFFIX = ("第一", "最低", "最好", "最强", "最佳", "领先", "最高", "独家", "首家",
                   "顶尖", "唯一")
URGENCY = ("最后一天", "仅此一次", "错过再等一年", "马上涨价", "手慢无", "库存告急",
           "最后一件", "今天不买就没了", "过了今天就恢复原价", "绝版", "限量抢购",
           "最后机会", "清仓跑路", "亏本甩卖", "跳楼价", "赔本卖")
DISMISSIVE = ("不知道", "不清楚", "没办法", "不归我管", "你自己看", "你自己查",
              "找快递去", "找平台去", "跟我没关系", "我也没办法", "系统就这样",
              "规定就是这样", "爱咋咋地", "随便你", "你投诉吧", "那你去投诉", "问别人",
              "我说了算", "早就说过了", "说了你也不懂", "自己看详情页", "不是我的问题",
              "你等着吧", "没空", "下班了", "明天再说", "别问了", "你问题真多")
DISMISSIVE_EXCLUDE = ("如有不清楚", "有不清楚", "不知道您", "不清楚的地方", "没办法及时")
COMPENSATION = ("双倍赔偿", "假一赔十", "假一赔三", "十倍赔偿", "全额赔偿", "无条件退款",
                "无条件退货", "赔您", "赔给您", "补偿您", "先行赔付", "全额退款")
SECRETS = ("验证码发我", "把验证码", "告诉我密码", "支付密码", "银行卡密码",
           "短信验证码", "登录密码", "你的密码", "cvv", "安全码")
PLATFORMS = ("淘宝", "天猫", "京东", "拼多多", "抖音", "快手", "唯品会", "苏宁", "闲鱼",
             "得物", "小红书", "1688")
ESCALATION = ("找你们领导", "叫你们经理", "要求赔偿", "媒体曝光", "找记者", "发微博",
              "打12315", "消费者协会", "市场监管", "工商局", "律师函", "法院", "起诉",
              "黑猫投诉", "平台介入", "小二介入", "举报你们", "投诉到底", "报警",
              "上热搜", "发抖音曝光", "讨个说法", "不给说法", "没完", "告你们")
CHURN = ("再也不买了", "取消会员", "卸载", "拉黑", "换一家", "不会再来", "最后一次买",
         "以后不买了", "退会员", "注销账号", "差评警告", "再也不来了", "取关", "太失望了",
         "不推荐")
POLITE = ("您", "请", "亲", "谢谢", "感谢", "抱歉", "不好意思", "麻烦", "好的", "您好",
          "欢迎", "稍等")
CLOSING = ("感谢", "祝您", "再见", "生活愉快", "满意", "评价", "耐心", "购物愉快", "随时")
ENGLISH = ("refund", "return", "invoice", "tracking", "coupon", "vip", "cod", "exchange",
           "warranty", "discount", "order", "delivery")
TIME_PROMISES = ("今天", "明天", "后天", "24小时", "48小时", "三天内", "马上", "立刻")
TIME_OBJECTS = ("到货", "送达", "到账", "发货", "退款", "处理好", "修好")
TIME_HEDGES = ("预计今天", "预计明天", "预计后天", "一般24小时", "一般48小时", "大概明天",
               "预计24小时", "预计48小时", "正常明天", "通常48小时")


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _kw(rule_id: str, name: str, terms: list[str] | tuple[str, ...],
        **fields: Any) -> dict[str, Any]:
    return {"kind": "keyword", "id": rule_id, "name": name, "terms": list(terms), **fields}


def keyword_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    tag = {"scope": ["customer"], "deduction": 0, "group": "标签"}

    # customer-side tags (no deduction): product problems, logistics, requests, pre-sales
    combos: list[tuple[str, list[str]]] = [
        ("生鲜质量问题", [p + d for p in FRUITS for d in FRESH_DEFECTS]),
        ("数码产品故障", [p + d for p in GADGETS for d in GADGET_DEFECTS]),
        ("服饰质量问题", [p + d for p in CLOTHES for d in CLOTHES_DEFECTS]),
        ("美妆个护问题", [p + d for p in BEAUTY for d in BEAUTY_DEFECTS]),
        ("物流问题", [c + d for c in COURIERS for d in LOGISTICS_PROBLEMS]),
        ("售后诉求", [r + q for r in REQUESTS for q in REQUEST_QUESTIONS]),
        ("商品咨询", [p + q for p in PRODUCTS_ALL for q in PRESALE_QUESTIONS]),
    ]
    n = 0
    for name, terms in combos:
        for part, chunk in enumerate(_chunks(terms, 120), start=1):
            n += 1
            rules.append(_kw(f"kw_tag_{n:03d}", f"{name}（{part}）", chunk, **tag))
    rules.append(_kw("kw_escalation", "客户升级风险", ESCALATION, scope=["customer"],
                     deduction=0, group="标签", alert=True))
    rules.append(_kw("kw_churn", "客户流失风险", CHURN, scope=["customer"], deduction=0,
                     group="标签", exclude=["不推荐吗"]))
    rules.append(_kw("kw_english", "英文售后词", ENGLISH, scope=["customer"], deduction=0,
                     group="标签"))
    rules.append(_kw("kw_refund_urgent", "客户催退款（退款 + 催促）", ["退款", "快点"],
                     mode="all", scope=["customer"], deduction=0, group="标签"))

    # agent compliance
    diversion = list(DIVERSION) + [v + a for v in DIVERSION_VERBS for a in DIVERSION_APPS]
    rules += [
        _kw("kw_diversion", "引导站外交易", diversion, deduction=20, fatal=False,
            per_hit=False, group="合规", alert=True),
        _kw("kw_medical", "医疗功效宣称", MEDICAL, deduction=10, per_hit=True, cap=30,
            group="合规"),
        _kw("kw_finance", "金融收益/刷单", FINANCE, deduction=10, group="合规",
            exclude=["不能返现", "不支持返现", "没有返现", "不刷单", "不做刷单"]),
        _kw("kw_absolute_ext", "绝对化用语（扩展）",
            [p + s for p in ABSOLUTE_PREFIX for s in ABSOLUTE_SUFFIX], deduction=5,
            per_hit=True, cap=20, group="合规"),
        _kw("kw_urgency", "虚假紧迫促销", URGENCY, deduction=3, group="合规"),
        _kw("kw_compensation", "越权赔偿承诺", COMPENSATION, deduction=5, group="合规",
            exclude=["无法全额退款", "不能全额退款", "不支持无条件退货"]),
        _kw("kw_secrets", "索要密码/验证码", SECRETS, deduction=100, fatal=True,
            group="合规", block=True, exclude=["不要把验证码", "不会索要", "请勿泄露"]),
        _kw("kw_platforms", "提及其他平台", PLATFORMS, deduction=2, group="合规",
            exclude=["京东物流", "京东快递", "抖音小店", "北京东"]),
        _kw("kw_superlative_bare", "单字“最”（排除常用词）", ["最"], deduction=1,
            group="合规",
            exclude=["最近", "最后", "最快", "最晚", "最早", "最多", "最少", "最好先",
                     "最好是", "最下面", "最上面", "最新", "最终", "您最好"]),
    ]
    # agent service attitude and business handling
    rules += [
        _kw("kw_dismissive", "推诿/不耐烦", DISMISSIVE, deduction=5, per_hit=True, cap=15,
            group="服务态度", exclude=DISMISSIVE_EXCLUDE),
        _kw("kw_time_promise", "时效承诺（无预计/一般）", TIME_PROMISES, near=TIME_OBJECTS,
            within=4, exclude=TIME_HEDGES, deduction=2, group="业务能力"),
        _kw("kw_refund_refused", "拒绝退款表述", ["退款", "退货", "售后", "换货"],
            near=["不支持", "不能", "不给", "不行", "拒绝"], within=6, deduction=3,
            group="业务能力", exclude=["不影响退款"]),
        _kw("kw_promise_income", "收益承诺", ["收益", "回报", "利息"],
            near=["保证", "稳定", "固定", "肯定"], within=5, deduction=10, group="合规"),
        _kw("kw_polite_missing", "未使用礼貌用语", POLITE, mode="none", deduction=1,
            group="服务态度", cap=1),
        _kw("kw_closing_good", "规范结束语（加分）", CLOSING, mode="at_least", n=2,
            deduction=-1, group="服务态度"),
        _kw("kw_refund_explained", "退款说明完整（加分）", ["退款", "原路", "工作日"],
            mode="all", deduction=-1, group="业务能力"),
        _kw("kw_apology_comp", "致歉并给方案", ["抱歉", "补发", "赔付", "退款", "补偿"],
            mode="at_least", n=2, deduction=-1, group="服务态度"),
        _kw("kw_quality_explain", "质量问题需要凭证", ["照片", "视频", "凭证"],
            near=["拍", "提供", "发"], within=6, deduction=0, group="标签"),
    ]
    return rules


REGEXES: tuple[tuple[str, str, str, list[str], list[str]], ...] = (
    # (id suffix, name, pattern over the folded text, scope, exclude)
    ("order_no", "订单号", r"(?<!\d)26\d{14}(?!\d)", ["agent", "customer"], []),
    ("order_ctx", "订单号（带前缀）", r"订单(?:号|编号)?\s?:?\s?\d{10,20}",
     ["agent", "customer"], []),
    ("sf", "顺丰运单号", r"(?<![a-z])sf\d{12}(?!\d)", ["agent", "customer"], []),
    ("yto", "圆通运单号", r"(?<![a-z])yt\d{13}(?!\d)", ["agent", "customer"], []),
    ("jd", "京东运单号", r"(?<![a-z])jd[a-z]{2}\d{11}(?!\d)", ["agent", "customer"], []),
    ("zto", "中通/通用运单号", r"(?<!\d)7\d{12}(?!\d)", ["agent", "customer"], []),
    ("ems", "EMS 国际单号", r"(?<![a-z])e[a-z]\d{9}cn(?![a-z])", ["agent", "customer"], []),
    ("waybill_ctx", "运单号（带前缀）", r"(?:运单号|快递单号|物流单号)\s?:?\s?[a-z]{0,4}\d{10,15}",
     ["agent", "customer"], []),
    ("url", "外部链接", r"https?://[a-z0-9.-]+\.[a-z]{2,6}(?:/[\w./?%&=-]*)?", ["agent"],
     [r"https?://(?:www\.)?(?:xianguo|kefu)\.example\.com"]),
    ("short_url", "短链接", r"(?:t\.cn|dwz\.cn|url\.cn|suo\.im)/[a-z0-9]{4,12}", ["agent"], []),
    ("app_link", "其他平台跳转链接", r"(?:taobao|tmall|openapp\.jdmobile|pinduoduo)://\S{1,200}",
     ["agent"], []),
    ("price_yen", "价格（¥）", r"¥\s?\d{1,6}(?:\.\d{1,2})?", ["agent", "customer"], []),
    ("price_yuan", "价格（元/块）", r"(?<![\d.])\d{1,6}(?:\.\d{1,2})?\s?(?:元|块钱|块)",
     ["agent", "customer"], []),
    ("discount", "折扣", r"(?<![\d.])\d(?:\.\d)?折", ["agent"], []),
    ("full_reduction", "满减", r"满\d{2,5}减\d{1,4}", ["agent", "customer"], []),
    ("wechat_id", "微信号",
     r"(?:微信|vx|wx|v信|薇信|威信)\s?(?:号|id)?\s?:?\s?[a-z][-_a-z0-9]{5,19}", ["agent"], []),
    ("qq", "QQ 号", r"(?:qq|扣扣|企鹅)\s?号?\s?:?\s?[1-9]\d{4,10}(?!\d)", ["agent"], []),
    ("date_iso", "日期（ISO）", r"20\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])",
     ["agent", "customer"], []),
    ("date_cn", "日期（中文）", r"\d{1,2}月\d{1,2}[日号]", ["agent", "customer"], []),
    ("year_month", "年月", r"20\d{2}年\d{1,2}月", ["agent", "customer"], []),
    ("clock", "时刻", r"(?<!\d)(?:[01]?\d|2[0-3]):[0-5]\d(?!\d)", ["agent"], []),
    ("landline", "座机号", r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)", ["agent"], []),
    ("hotline_400", "400 电话", r"(?<!\d)400-?\d{3}-?\d{4}(?!\d)", ["agent"], []),
    ("percent", "百分比", r"(?<![\d.])\d{1,3}(?:\.\d{1,2})?%", ["agent"], []),
    ("coupon_code", "券码", r"(?:券码|优惠码|兑换码|口令)\s?:?\s?[a-z0-9]{6,12}", ["agent"], []),
    ("alipay", "支付宝账号",
     r"支付宝\s?(?:账号|账户)?\s?:?\s?"
     r"(?:1[3-9]\d{9}|[a-z0-9._-]{2,30}@[a-z0-9-]{2,20}\.[a-z]{2,6})", ["agent"], []),
    ("bank_name", "银行名称", r"(?:工商|建设|农业|招商|中国|交通|邮储|浦发|民生|兴业)银行",
     ["agent"], []),
    ("transfer", "转账金额", r"(?:转账|打款|汇款|转给您)\s?\d{1,6}", ["agent"], []),
    ("plate", "车牌号",
     r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][a-z][a-z0-9]{5}(?![a-z0-9])",
     ["agent", "customer"], []),
    ("ip", "IP 地址", r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])", ["agent"], []),
    ("postcode", "邮编", r"邮编\s?:?\s?\d{6}(?!\d)", ["agent", "customer"], []),
    ("address_room", "详细门牌", r"\d{1,3}(?:号楼|栋|幢)\d{1,2}单元\d{1,4}室?",
     ["agent", "customer"], []),
    ("weight", "重量规格", r"\d{1,4}(?:\.\d)?\s?(?:斤|公斤|千克|克|kg)", ["agent"], []),
    ("workdays", "工作日时效", r"\d{1,2}\s?(?:-|到|至)?\s?\d{0,2}\s?个?工作日", ["agent"], []),
    ("hours", "小时时效", r"\d{1,3}\s?个?小时(?:内|之内)", ["agent"], []),
    ("shouting", "连续标点（情绪）", r"[!?]{3,}", ["customer"], []),
    ("wechat_emoji", "微信表情", r"\[(?:微笑|大哭|发怒|再见|抱拳|玫瑰|捂脸|强|ok)\]",
     ["agent", "customer"], []),
    ("english_refund", "英文退款", r"(?<![a-z])(?:refund|chargeback|money back)(?![a-z])",
     ["customer"], []),
    ("size", "尺码", r"(?<![a-z])(?:xxxl|xxl|xl|xs|s|m|l)码", ["agent", "customer"], []),
    ("model_no", "型号", r"(?:型号|款号|货号)\s?:?\s?[a-z0-9][a-z0-9-]{3,15}",
     ["agent", "customer"], []),
    ("refund_amount", "退款金额", r"退(?:款|还|回)\s?¥?\s?\d{1,6}(?:\.\d{1,2})?", ["agent"], []),
    ("countdown", "库存/倒计时", r"还剩\s?\d{1,4}\s?(?:件|个|份|天|小时)", ["agent"], []),
    ("guarantee_days", "包退天数", r"\d{1,3}\s?天(?:无理由|包退|包换|保价)", ["agent"], []),
    ("compensation_amount", "赔付金额", r"(?:赔付|赔偿|补偿|返现)\s?¥?\s?\d{1,5}\s?(?:元|块)?",
     ["agent"], []),
    ("points", "积分", r"\d{1,7}\s?积分", ["agent", "customer"], []),
    ("vip_level", "会员等级", r"(?:vip|会员)\s?\d{1,2}(?!\d)", ["agent", "customer"], []),
    ("social_id", "社交平台账号", r"(?:抖音|快手|小红书)\s?(?:号|id)\s?:?\s?[a-z0-9_.]{4,24}",
     ["agent"], []),
    ("email_obfuscated", "变形邮箱",
     r"[a-z0-9._-]{2,30}\s?(?:#|\(at\)|艾特)\s?[a-z0-9-]{2,20}\.(?:com|cn|net)", ["agent"], []),
    ("phone_cn_digits", "中文数字手机号", r"[一幺二三四五六七八九零〇]{11}", ["agent"], []),
    ("time_promise", "定时送达承诺", r"(?:今天|明天|后天)\s?\d{1,2}点(?:前|之前)", ["agent"], []),
)


def regex_rules() -> list[dict[str, Any]]:
    out = []
    for suffix, name, pattern, scope, exclude in REGEXES:
        agent_only = scope == ["agent"]
        out.append({"kind": "regex", "id": f"re_{suffix}", "name": name, "pattern": pattern,
                    "exclude": exclude, "scope": scope,
                    "deduction": 1 if agent_only else 0,
                    "group": "合规" if agent_only else "标签"})
    return out


DIVERSION_PACK = {
    "terms": ["私下联系", "加我好友", "走微信", "微信付款", "不走平台", "线下付款", "私下退款",
              "返现给你", "好评返现"],
    "exclusions": ["不要私下联系", "请勿私下联系", "不能线下付款"],
}


def other_rules() -> list[dict[str, Any]]:
    return [
        {"kind": "wordpack", "id": "wp_ad_law", "name": "广告法绝对化用语",
         "pack": "ad_law_absolute", "deduction": 5, "per_hit": True, "cap": 20, "group": "合规"},
        {"kind": "wordpack", "id": "wp_risky", "name": "风险承诺", "pack": "risky_promises",
         "deduction": 5, "per_hit": True, "cap": 20, "group": "合规"},
        {"kind": "wordpack", "id": "wp_abuse", "name": "辱骂/不文明用语", "pack": "abusive",
         "deduction": 100, "fatal": True, "group": "服务态度", "alert": True, "block": True},
        {"kind": "wordpack", "id": "wp_competitor", "name": "提及竞品", "pack": "competitors",
         "deduction": 3, "group": "合规"},
        {"kind": "wordpack", "id": "wp_diversion", "name": "站外引流（自定义词包）",
         "pack": "diversion", "deduction": 10, "group": "合规"},
        {"kind": "wordpack", "id": "wp_customer_abuse", "name": "客户辱骂（标签）",
         "pack": "abusive", "scope": ["customer"], "deduction": 0, "group": "标签"},
        {"kind": "pii", "id": "pii_agent", "name": "客服发送个人敏感信息",
         "kinds": ["mobile", "id_card", "bank_card"], "deduction": 10, "per_hit": True,
         "cap": 30, "group": "合规"},
        {"kind": "pii", "id": "pii_email_agent", "name": "客服发送邮箱地址", "kinds": ["email"],
         "deduction": 2, "group": "合规"},
        {"kind": "pii", "id": "pii_customer", "name": "客户留下个人信息（标签）",
         "kinds": ["mobile", "id_card", "bank_card", "email"], "scope": ["customer"],
         "deduction": 0, "group": "标签"},
        {"kind": "timing", "id": "first_reply_15s", "name": "首次响应超过15秒",
         "check": "first_reply", "seconds": 15, "deduction": 5, "group": "服务态度"},
        {"kind": "timing", "id": "reply_gap_120s", "name": "回复间隔超过2分钟",
         "check": "reply_gap", "seconds": 120, "deduction": 2, "per_hit": True, "cap": 10,
         "group": "服务态度"},
        {"kind": "timing", "id": "duration_30min", "name": "会话超过30分钟",
         "check": "duration", "seconds": 1800, "deduction": 0, "group": "标签"},
        {"kind": "sentiment", "id": "customer_angry", "name": "客户情绪激动", "threshold": 1.0,
         "scope": ["customer"], "deduction": 5, "group": "服务态度"},
        {"kind": "sentiment", "id": "customer_furious", "name": "客户情绪非常激动",
         "threshold": 2.0, "scope": ["customer"], "deduction": 5, "group": "服务态度",
         "alert": True},
        {"kind": "sentiment", "id": "agent_negative", "name": "客服情绪失控", "threshold": 1.0,
         "scope": ["agent"], "deduction": 10, "group": "服务态度"},
    ]


def build_ruleset() -> dict[str, Any]:
    """The rules file object (deterministic)."""
    return {
        "packs": {"diversion": DIVERSION_PACK},
        "rules": keyword_rules() + regex_rules() + other_rules(),
        "scorecard": {"base": 100, "group_weights": {"合规": 1.0, "服务态度": 1.0,
                                                     "业务能力": 0.8, "标签": 0.0}},
    }


def counts(ruleset: dict[str, Any]) -> dict[str, int]:
    """Rules per kind and keyword-term totals (``keyword_terms`` counts distinct terms)."""
    out: dict[str, int] = {}
    terms: set[str] = set()
    words = 0
    for r in ruleset["rules"]:
        out[f"rules_{r['kind']}"] = out.get(f"rules_{r['kind']}", 0) + 1
        if r["kind"] == "keyword":
            terms.update(r["terms"])
            words += len(r["terms"]) + len(r.get("near", ())) + len(r.get("exclude", ()))
    out["rules"] = len(ruleset["rules"])
    out["keyword_terms"] = len(terms)
    out["keyword_words_incl_near_exclude"] = words
    return out


def write(path: Path) -> dict[str, int]:
    ruleset = build_ruleset()
    path.write_text(json.dumps(ruleset, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return counts(ruleset)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    info = write(args.out)
    print(json.dumps(info, ensure_ascii=False, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
