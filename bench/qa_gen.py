"""Realistic Chinese customer-service conversations for the quality-inspection benchmark.

E-commerce chats (logistics, refunds, after-sales, invoices, pre-sales, payment) built from our
own sentence templates, mixed with real text read at run time from ``../shared/datasets/``
(never copied into the repo):

* ``crosswoz/``: about 8 % of the conversations are a window of a CrossWOZ dialogue
  (``usr`` → customer, ``sys`` → agent; travel concierge chats on the ``app`` channel);
* ``waimai_10k/``: a negative (label 0) short review is the customer's complaint in about 3 %
  of the conversations.

Violations are planted at known rates so the rules fire: 广告法 absolute terms, risky
promises, personal data (mobile, ID card, bank card, e-mail) and off-platform diversion in agent
messages, rare abusive replies, angry customers, slow first replies (> 15 s) and long reply
gaps (> 120 s); a few customers leave and come back 10–60 minutes later. Some conversations
are written in traditional characters (customer side), some messages in full-width
characters, some mixed Chinese/English. Agent reply delays are mostly 3–40 s. Deterministic
for a seed; 1M messages take about 10 s.

Output: JSONL, one conversation per line::

    {"id": "c1", "channel": "web", "messages": [{"role": "customer", "text": "…",
     "ts": "2026-11-11T10:00:00+08:00"}, …]}

``python bench/qa_gen.py --messages 1000000 --out /tmp/x.jsonl --seed 0``
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets"

MIN_LEN, MAX_LEN, MODE_LEN = 4, 30, 10

# --------------------------------------------------------------------------- planted rates
#: per agent message (our templates and CrossWOZ alike)
P_AD_LAW = 0.020
P_RISKY = 0.020
P_MOBILE = 0.004
P_ID_CARD = 0.0015
P_BANK_CARD = 0.0015
P_EMAIL = 0.002
P_DIVERSION = 0.003
P_ABUSIVE = 0.0005
P_COMPETITOR = 0.0005
#: per conversation
P_SLOW_FIRST = 0.10  # first agent reply 16–180 s after the customer's first message
P_ANGRY = 0.08  # one angry customer message
P_WAIMAI = 0.03  # a real negative review as the customer's complaint
P_CROSSWOZ = 0.08  # the conversation is a CrossWOZ dialogue window
P_BOT = 0.35  # the bot greets first and hands over on 转人工
P_TRADITIONAL = 0.03  # the customer writes traditional characters
P_MIXED_EN = 0.03  # the customer mixes English in
#: per later agent reply
P_LONG_GAP = 0.02  # 121–400 s
#: per customer message answering the agent: the customer was away 10–60 minutes
P_AWAY = 0.006
#: per message
P_FULLWIDTH = 0.01

# ------------------------------------------------------------------------------- slots
PRODUCTS = (
    "车厘子", "阳光玫瑰葡萄", "砂糖橘", "猕猴桃", "芒果", "榴莲", "草莓", "蓝莓", "红富士苹果",
    "赣南脐橙", "牛油果", "火龙果", "丑橘", "沃柑", "山竹", "椰青", "蓝牙耳机", "充电宝",
    "手机壳", "电动牙刷", "空气炸锅", "保温杯", "扫地机器人", "电饭煲", "加湿器", "机械键盘",
    "羽绒服", "卫衣", "运动鞋", "牛仔裤", "连衣裙", "冲锋衣", "洗发水", "面霜", "防晒霜",
    "洗衣凝珠", "猫粮", "纸尿裤", "奶粉", "坚果礼盒",
)
COURIERS = ("顺丰", "中通", "圆通", "韵达", "申通", "京东物流", "邮政EMS", "极兔")
CITIES = ("北京", "上海", "杭州", "广州", "深圳", "成都", "武汉", "西安", "南京", "郑州",
          "长沙", "沈阳", "昆明", "厦门", "青岛", "合肥")
AGENTS = ("小美", "小鲜", "阿杰", "小雨", "橙子", "小林", "木木", "晓晓")
DATES = ("今天", "明天", "后天", "11月12日", "11月15日", "周五", "这周末", "下周一")
COUPONS = ("满199减30", "满99减10", "满299减50", "9折", "新人10元")
SIZES = ("S", "M", "L", "XL", "XXL")

# --------------------------------------------------------------------- customer templates
GREETINGS = ("你好", "在吗", "在吗？", "客服在吗", "您好", "hello", "哈喽", "亲，在吗",
             "有人吗", "你好，问一下", "你好呀", "hi")

TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "logistics": {
        "ask": (
            "我的订单{o}怎么还没发货？", "{p}什么时候能发货啊", "快递到哪了，一直没更新",
            "物流显示已签收，但是我没收到", "能帮我催一下{c}吗", "为什么物流三天没动了",
            "快递单号是多少", "能不能发{c}？", "我下单两天了还没发", "可以改一下收货地址吗，"
            "改成{city}的", "tracking number 能发我一下吗", "快递员说今天不送了",
            "我买的{p}到哪了", "订单{o}，帮我查下物流", "什么时候能到{city}",
        ),
        "follow": (
            "那大概几天能到？", "能不能快一点，我{d}要用", "单号查不到信息啊", "好的，那我再等等",
            "快递员电话打不通", "可以放驿站吗", "我{d}不在家", "能送货上门吗",
            "物流怎么一直显示在{city}", "麻烦帮我催一下",
        ),
        "answer": (
            "亲，您的订单已经在{d}发出了，{c}单号{t}，请注意查收",
            "帮您查询了一下，包裹目前在{city}中转，预计{d}送达",
            "非常抱歉让您久等了，仓库这边已经在加急处理",
            "已经帮您联系{c}催件了，有进展第一时间通知您",
            "我们一般是付款后48小时内发货，请您耐心等待",
            "这边显示包裹已由{c}揽收，物流信息可能有延迟",
            "亲，收货地址已经帮您修改好了，请核对一下",
            "签收的话可能是放在驿站或者门卫了，您可以先看一下",
            "我这边帮您登记一下，给快递公司发了催件工单",
            "您好，默认发{c}，偏远地区可能会慢一点",
            "运单号是{t}，您可以在{c}官网查询",
            "已经备注快递送货上门了，请您保持电话畅通",
        ),
    },
    "refund": {
        "ask": (
            "我要退款", "{p}不想要了，怎么退货", "退款申请了{days}天了还没到账",
            "退款{amt}元什么时候到？", "能直接退款不退货吗", "退货地址是哪里",
            "我已经寄回去了，单号{t}", "为什么我的退款被拒绝了", "可以refund吗",
            "退款是原路返回吗", "订单{o}申请退款", "拍错了，想取消订单",
        ),
        "follow": (
            "那运费谁出？", "多久能到账", "我已经填了单号了", "能快点处理吗",
            "退到哪里了，我没看到", "要自己寄回去吗", "可以上门取件吗", "好的，那我申请一下",
        ),
        "answer": (
            "亲，您在订单详情页点申请售后，选择退货退款就可以了",
            "退款会在商家确认收货后1-3个工作日原路返回",
            "已经帮您提交了退款申请，金额¥{amt}，请留意到账信息",
            "退货地址已经发到您的订单消息里了，寄的时候请备注订单号",
            "收到您寄回的商品后我们会尽快处理",
            "这边看到您的退款已经审核通过了",
            "不好意思，生鲜类商品签收后不支持无理由退货，不过坏果可以申请补偿",
            "您拍一下照片发过来，我这边帮您申请",
            "退款原路返回，一般1到3个工作日到账",
            "运费险会自动理赔到您的账户",
            "订单还没发货，已经帮您取消了，款项原路退回",
            "可以预约上门取件，运费由我们承担",
        ),
    },
    "quality": {
        "ask": (
            "收到的{p}有好几个坏了", "{p}用了两天就坏了", "东西和图片不一样",
            "{p}少发了一件", "包装破了，里面的{p}压坏了", "这个{p}是不是正品啊",
            "收到的颜色不对", "{p}充不进电", "有质保吗", "能换一个吗", "{p}有股怪味",
            "尺码偏小，想换大一码",
        ),
        "follow": (
            "照片已经发了", "那要怎么处理？", "能补发吗", "我不想退，能补偿一点吗",
            "视频拍好了", "大概什么时候能修好", "好的，那就补发吧", "补偿多少？",
        ),
        "answer": (
            "非常抱歉给您带来不好的体验，麻烦您拍一下照片发给我",
            "您放心，这个问题我们会负责到底的",
            "我这边帮您申请补发，预计{d}发出",
            "这边可以给您按坏果比例赔付，赔付{amt}元可以吗",
            "我们的商品都是品牌官方授权的，支持专柜验货",
            "麻烦提供一下视频，方便我们判断是否是质量问题",
            "质保期是一年，期间非人为损坏免费维修",
            "换货的话需要您先把原商品寄回",
            "已经为您登记了，售后专员会在24小时内联系您",
            "收到照片了，确实是运输过程中压坏的，给您申请补发",
        ),
    },
    "invoice": {
        "ask": (
            "能开发票吗", "我要开增值税专用发票", "发票抬头写错了能重开吗",
            "电子发票在哪里下载", "公司报销需要发票，税号是{tax}", "发票什么时候开",
            "可以开invoice吗，公司报销用", "订单{o}还没收到发票",
        ),
        "follow": (
            "抬头是{city}某某科技有限公司", "要发到邮箱吗", "纸质的可以吗", "好的，我去申请",
            "开票内容写明细可以吗",
        ),
        "answer": (
            "可以的亲，确认收货后在订单详情里申请开票就可以",
            "电子发票会在确认收货后3个工作日内发到您的邮箱",
            "请您提供一下发票抬头和税号",
            "专票需要提供公司的开票信息，我这边帮您登记",
            "发票已经重新开具了，请您查收",
            "发票金额是按实付金额开具的",
        ),
    },
    "presale": {
        "ask": (
            "{p}还有货吗", "这个{p}多大", "{p}保质期多久", "现在下单有优惠吗", "能便宜点吗",
            "{p}和上一款有什么区别", "{p}是哪里产的", "买两件能包邮吗",
            "有没有{coupon}的券", "这款支持七天无理由吗", "what size should I choose?",
            "我身高170，穿{size}码合适吗", "{p}怎么保存",
        ),
        "follow": (
            "那我先下单了", "可以送礼盒包装吗", "能备注{d}发货吗", "优惠券在哪领",
            "跟实体店一样吗", "好的，我考虑一下",
        ),
        "answer": (
            "有货的亲，现在下单{d}就能发货", "这款{p}是{city}产地直发的，口感很好",
            "现在店铺有{coupon}的活动，可以领券使用", "这款是单果200-250克，一箱5斤装",
            "保质期是12个月，开封后建议尽快食用", "全店满99包邮哦",
            "支持七天无理由退换货，不影响二次销售就可以",
            "价格已经是活动价了，不过可以送您一张10元优惠券",
            "建议您选择{size}码，尺码表在详情页最下面",
            "收到后建议冷藏保存，尽快食用口感更好",
        ),
    },
    "payment": {
        "ask": (
            "付款失败了怎么办", "为什么扣了两次钱", "优惠券用不了", "会员积分怎么兑换",
            "账号登不上去了", "花呗分期可以吗", "我的券过期了能补发吗", "订单{o}显示未支付",
        ),
        "follow": (
            "钱已经扣了啊", "那什么时候退回来", "还是不行", "好的我再试试",
            "积分有{amt}分能换什么",
        ),
        "answer": (
            "您先别着急，我这边帮您查一下支付记录",
            "重复扣款的话系统会在24小时内自动退回",
            "优惠券需要满足使用门槛才能用，您看下购物车金额",
            "积分可以在会员中心兑换优惠券",
            "支持花呗分期，结算的时候选择就可以",
            "过期的券无法补发，非常抱歉，我给您申请一张新的",
            "您可以退出账号重新登录，或者清除一下缓存再试试",
        ),
    },
}
TOPIC_NAMES = tuple(TOPICS)
TOPIC_WEIGHTS = (30, 22, 18, 8, 14, 8)

CUSTOMER_FILLERS = (
    "好的", "嗯嗯", "那要多久？", "还有别的办法吗", "行吧", "可以", "知道了", "麻烦快点",
    "好的谢谢", "ok", "那我等一下", "？", "还在吗", "什么意思", "大概什么时候", "好的，那我再等等",
    "订单号是{o}", "{o}", "收到", "嗯", "我看一下",
)
AGENT_FILLERS = (
    "好的亲，请您稍等，我这边帮您查询一下", "亲，还在吗？", "感谢您的耐心等待",
    "明白了，我马上帮您处理", "您看这样可以吗？", "好的，已经为您备注了",
    "麻烦您提供一下订单号", "收到", "这边已经帮您反馈给相关部门了", "请问还有其他问题吗？",
    "不好意思让您久等了", "亲亲，这边查到了", "好的，稍等哦",
)
AGENT_GREETINGS = (
    "您好，我是客服{n}，很高兴为您服务", "亲，您好，这里是人工客服{n}，请问有什么可以帮您？",
    "您好，客服{n}为您服务，请稍等，正在查看您的问题", "在的亲，请问有什么可以帮您",
)
CUSTOMER_CLOSINGS = ("好的，谢谢", "没有了，谢谢", "谢谢啦", "好的，辛苦了", "行，那就这样吧",
                     "thanks", "好的好的，谢谢你", "嗯，没别的了")
AGENT_CLOSINGS = (
    "不客气，还有其他可以帮您的吗？", "感谢您的耐心等待，祝您生活愉快！",
    "如果满意的话麻烦给个五星好评哦", "有问题随时联系我们，再见",
    "感谢您的理解与支持，再见", "不客气亲，祝您购物愉快",
)
BOT_GREETINGS = ("您好，我是智能助手小鲜，请问有什么可以帮您？",
                 "欢迎光临鲜果优选，我是智能客服，您可以直接描述您的问题")
BOT_ANSWERS = (
    "关于这个问题，您可以参考：订单详情页可以查看物流和申请售后",
    "为您找到以下问题：1. 多久发货 2. 如何退款 3. 怎么开发票",
    "抱歉，我没有理解您的问题，您可以换个说法或者输入“转人工”",
)
HANDOFF = ("转人工", "人工客服", "我要找人工", "转人工客服", "人工")
BOT_HANDOFF = ("正在为您转接人工客服，请稍候…", "好的，已为您转接人工，请稍等")
MIXED_EN = (
    "Hi, where is my order?", "我的package还没到", "can I get a refund?", "invoice 怎么开",
    "order {o} 还没 ship", "tracking 一直没 update", "这个 size 有点小, can I exchange?",
    "please check my order", "OK thanks", "coupon 用不了是什么 bug",
)
#: each scores ≥ 1.0 with kefu.nlp.sentiment.anger (checked by ``self_check``)
ANGRY = (
    "你们是骗子吧！", "再不给我处理我就去投诉了", "什么破服务，我要投诉", "太差了，必须给差评！！",
    "说了多少遍了，到底能不能处理？？", "我要打12315投诉你们", "气死我了，一个快递等了一个星期",
    "这就是黑店吧", "你们这是欺骗消费者，我要去消协", "我受够了，退钱！", "垃圾商家，坑人",
    "你们客服态度太差了，我要投诉", "再拖我就报警了", "忍无可忍，这都第三次了",
)

# ------------------------------------------------------------------ planted agent fragments
AD_LAW = (
    "这款{p}是我们店销量第一的", "我们家的{p}品质绝对没问题", "这是全网最低价了亲",
    "这是最好的{p}，闭眼入", "{p}是顶级货源，独一无二", "百分百正品，您放心",
    "首选这款，性价比超高", "这批{p}是国家级基地直供的",
)
RISKY = (
    "保证{d}就能到", "肯定能给您退下来", "这个一定给您处理好", "我向您承诺{d}一定发货",
    "包退包换，您放心买", "这个零风险的亲", "肯定会给您补发的",
)
ABUSIVE = ("爱买不买", "你烦不烦啊", "听不懂人话吗", "关我什么事，找快递去")
COMPETITORS = ("竞品甲那边更贵的", "别去竞品乙买，他们是假货")
DIVERSION = ("加我微信{wx}，私下给您便宜点", "您加一下vx: {wx} 我拉您进福利群",
             "可以加我qq {qq} 详细说")
MOBILE_TPL = ("我的手机号是{mob}，有问题直接打给我", "您登记的电话是{mob}对吧",
              "快递员电话{mob}，您可以直接联系")
ID_TPL = ("跟您核对一下身份证号{idc}", "实名信息是{idc}，对吗")
BANK_TPL = ("退款已经打到{card}这张卡上了", "您的银行卡号{card}已经绑定成功")
EMAIL_TPL = ("发票发到{email}了，请查收", "您把照片发到{email}这个邮箱就行")

ID_REGIONS = ("110101", "310104", "330106", "440305", "510107", "420102", "610113")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
BANK_PREFIXES = ("622202", "621700", "622848", "621483", "622588")
EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "example.com")
WX_WORDS = ("kefu", "xiaomei", "shop", "fruit", "vip", "sale", "good")

_FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)} | {0x20: 0x3000}
_EPOCH = date(2026, 11, 1)
_DAY_STR = tuple((_EPOCH + timedelta(days=d)).isoformat() for d in range(120))
_HOUR_WEIGHTS = (1, 0, 0, 0, 0, 0, 1, 2, 5, 8, 10, 10, 9, 9, 10, 10, 9, 8, 8, 9, 10, 10, 8, 4)


def fmt_ts(sec: int) -> str:
    """Seconds since 2026-11-01 00:00 Shanghai time → ISO 8601 with +08:00."""
    day, rem = divmod(sec, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{_DAY_STR[day]}T{h:02d}:{m:02d}:{s:02d}+08:00"


# ------------------------------------------------------------------------ numbers (fake)


def luhn_digit(body: str) -> str:
    """The Luhn check digit to append to ``body``."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def fake_mobile(rng: random.Random) -> str:
    num = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    return f"{num[:3]} {num[3:7]} {num[7:]}" if rng.random() < 0.2 else num


def fake_id_card(rng: random.Random) -> str:
    birth = date(1970, 1, 1) + timedelta(days=rng.randrange(12000))
    body = f"{rng.choice(ID_REGIONS)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    check = ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]
    return body + check


def fake_bank_card(rng: random.Random) -> str:
    body = rng.choice(BANK_PREFIXES) + "".join(rng.choice("0123456789")
                                               for _ in range(rng.choice((9, 12))))
    return body + luhn_digit(body)


def fake_order_no(rng: random.Random) -> str:
    """16 digits that fail Luhn (so an order number is never taken for a bank card)."""
    body = f"26{rng.randrange(10**13):013d}"
    good = int(luhn_digit(body))
    return body + str((good + 1 + rng.randrange(9)) % 10)


def fake_tracking(rng: random.Random, courier: str) -> str:
    if courier == "顺丰":
        return f"SF{rng.randrange(10**12):012d}"
    if courier == "圆通":
        return f"YT{rng.randrange(10**13):013d}"
    if courier == "京东物流":
        return f"JDVA{rng.randrange(10**11):011d}"
    return f"7{rng.randrange(10**12):012d}"


def fake_email(rng: random.Random) -> str:
    return f"{rng.choice(WX_WORDS)}{rng.randrange(100, 99999)}@{rng.choice(EMAIL_DOMAINS)}"


# --------------------------------------------------------------------------- real data


@dataclass
class Corpus:
    """Text read from ``../shared/datasets`` (empty lists when a set is missing)."""

    crosswoz: list[list[tuple[str, str]]] = field(default_factory=list)
    complaints: list[str] = field(default_factory=list)


def load_crosswoz(data_dir: Path = DATA) -> list[list[tuple[str, str]]]:
    """CrossWOZ test + val dialogues as [(role, text)], usr → customer, sys → agent."""
    out: list[list[tuple[str, str]]] = []
    for name in ("test.json.zip", "val.json.zip"):
        path = data_dir / "crosswoz" / name
        if not path.exists():
            continue
        with zipfile.ZipFile(path) as z:
            dialogues = json.loads(z.read(z.namelist()[0]))
        for key in sorted(dialogues, key=lambda k: int(k) if k.isdigit() else k):
            turns = [("customer" if m["role"] == "usr" else "agent", m["content"].strip())
                     for m in dialogues[key]["messages"] if m.get("content", "").strip()]
            if len(turns) >= MIN_LEN:
                out.append(turns)
    return out


def load_complaints(data_dir: Path = DATA, max_chars: int = 60) -> list[str]:
    """Short negative (label 0) waimai_10k reviews."""
    path = data_dir / "waimai_10k" / "waimai_10k.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return [r["review"].strip() for r in csv.DictReader(f)
                if r["label"] == "0" and 4 <= len(r["review"].strip()) <= max_chars]


def load_corpus(data_dir: Path = DATA) -> Corpus:
    return Corpus(load_crosswoz(data_dir), load_complaints(data_dir))


# --------------------------------------------------------------------------- generator


@dataclass
class GenStats:
    """What was generated and planted; ``truth_*`` follow the timing rules' semantics
    (``kefu.qa.rules.TimingRule``) over the generated timestamps."""

    conversations: int = 0
    messages: int = 0
    roles: Counter[str] = field(default_factory=Counter)
    planted: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"conversations": self.conversations, "messages": self.messages,
                "roles": dict(self.roles), "planted": dict(sorted(self.planted.items())),
                "seconds": round(self.seconds, 3)}


def plan_lengths(rng: random.Random, n_messages: int) -> list[int]:
    """Conversation lengths in [4, 30] (mode 10, mean ≈ 15) summing exactly to
    ``n_messages`` (≥ 4)."""
    if n_messages < MIN_LEN:
        raise ValueError(f"at least {MIN_LEN} messages")
    lengths: list[int] = []
    total = 0
    while total < n_messages:
        n = round(rng.triangular(MIN_LEN, MAX_LEN, MODE_LEN))
        lengths.append(n)
        total += n
    excess = total - n_messages
    i = len(lengths) - 1
    while excess > 0:
        cut = min(excess, lengths[i] - MIN_LEN)
        lengths[i] -= cut
        excess -= cut
        i -= 1
    return lengths


class _Conversation:
    """Builds one conversation: texts and roles first, then timestamps."""

    def __init__(self, gen: Generator, length: int) -> None:
        self.g = gen
        self.rng = gen.rng
        self.length = length
        self.roles: list[str] = []
        self.texts: list[str] = []
        rng = self.rng
        courier = rng.choice(COURIERS)
        self.slots = {
            "p": rng.choice(PRODUCTS), "c": courier, "o": fake_order_no(rng),
            "t": fake_tracking(rng, courier), "city": rng.choice(CITIES),
            "d": rng.choice(DATES), "n": rng.choice(AGENTS), "coupon": rng.choice(COUPONS),
            "amt": str(rng.choice((19, 29.9, 35, 58, 99, 128, 199, 268, 399))),
            "days": str(rng.randint(2, 9)), "size": rng.choice(SIZES),
            "tax": f"91{rng.randrange(10**6):06d}MA{rng.randrange(10**8):08d}X",
        }

    def fill(self, tpl: str) -> str:
        return tpl.format_map(self.slots) if "{" in tpl else tpl

    def add(self, role: str, text: str) -> None:
        self.roles.append(role)
        self.texts.append(text)

    def room(self) -> int:
        return self.length - len(self.roles)


class Generator:
    def __init__(self, seed: int = 0, corpus: Corpus | None = None) -> None:
        self.rng = random.Random(seed)
        self.corpus = corpus if corpus is not None else Corpus()
        self.stats = GenStats()
        import opencc  # a kefu dependency (kefu.nlp.normalise)

        self._s2t = opencc.OpenCC("s2t")

    # ------------------------------------------------------------------ text
    def _agent_text(self, conv: _Conversation, base: str) -> str:
        """An agent message, maybe with a planted violation appended."""
        rng, planted = self.rng, self.stats.planted
        r = rng.random()
        if r >= _P_AGENT_ANY:
            return base
        for name, limit, tpls in _AGENT_PLANTS:
            if r < limit:
                planted[name] += 1
                extra = rng.choice(tpls).format_map(self._plant_slots(conv, name))
                if not base or rng.random() < 0.3:
                    return extra
                return f"{base}{extra}" if base[-1] in "？！。?!" else f"{base}，{extra}"
        return base  # pragma: no cover - _P_AGENT_ANY is the last limit

    def _plant_slots(self, conv: _Conversation, name: str) -> dict[str, str]:
        rng = self.rng
        slots = dict(conv.slots)
        if name == "mobile":
            slots["mob"] = fake_mobile(rng)
        elif name == "id_card":
            slots["idc"] = fake_id_card(rng)
        elif name == "bank_card":
            slots["card"] = fake_bank_card(rng)
        elif name == "email":
            slots["email"] = fake_email(rng)
        elif name == "diversion":
            slots["wx"] = f"{rng.choice(WX_WORDS)}_{rng.randrange(1000, 99999)}"
            slots["qq"] = str(rng.randrange(10**5, 10**10))
        return slots

    def _template_conversation(self, conv: _Conversation) -> None:
        rng = self.rng
        topic = TOPICS[rng.choices(TOPIC_NAMES, TOPIC_WEIGHTS)[0]]
        mixed = rng.random() < P_MIXED_EN
        if mixed:
            self.stats.planted["mixed_en_conversations"] += 1
        n_close = 0 if conv.length < 6 else (2 if conv.length < 10 else rng.choice((2, 3, 4)))
        if conv.length >= 8 and rng.random() < P_BOT:
            conv.add("bot", rng.choice(BOT_GREETINGS))
            conv.add("customer", conv.fill(rng.choice(topic["ask"])))
            conv.add("bot", rng.choice(BOT_ANSWERS))
            conv.add("customer", rng.choice(HANDOFF))
            conv.add("bot", rng.choice(BOT_HANDOFF))
            # the agent picks up; the customer then repeats the question (loop below)
            conv.add("agent", self._agent_text(conv, conv.fill(rng.choice(AGENT_GREETINGS))))
        else:
            if rng.random() < 0.5:
                conv.add("customer", rng.choice(GREETINGS))
            conv.add("customer", conv.fill(rng.choice(topic["ask"])))
            conv.add("agent", self._agent_text(conv, conv.fill(rng.choice(AGENT_GREETINGS))))
        angry_at = -1
        if rng.random() < P_ANGRY:
            angry_at = rng.randrange(len(conv.roles), max(len(conv.roles) + 1,
                                                          conv.length - n_close))
        complaint = bool(self.corpus.complaints) and rng.random() < P_WAIMAI
        turn = "agent" if conv.roles and conv.roles[-1] == "customer" else "customer"
        while conv.room() > n_close:
            i = len(conv.roles)
            if turn == "customer":
                if i >= angry_at >= 0:
                    text = rng.choice(ANGRY)
                    self.stats.planted["angry_customer"] += 1
                    angry_at = -1
                elif complaint:
                    text = rng.choice(self.corpus.complaints)
                    self.stats.planted["waimai_complaints"] += 1
                    complaint = False
                elif mixed and rng.random() < 0.5:
                    text = conv.fill(rng.choice(MIXED_EN))
                elif rng.random() < 0.55:
                    text = conv.fill(rng.choice(topic["follow"]))
                else:
                    text = conv.fill(rng.choice(CUSTOMER_FILLERS))
                conv.add("customer", text)
            else:
                pool = topic["answer"] if rng.random() < 0.65 else AGENT_FILLERS
                conv.add("agent", self._agent_text(conv, conv.fill(rng.choice(pool))))
            # sometimes the same side writes twice in a row
            if rng.random() > 0.15:
                turn = "agent" if turn == "customer" else "customer"
        closing = [("customer", rng.choice(CUSTOMER_CLOSINGS)),
                   ("agent", rng.choice(AGENT_CLOSINGS)),
                   ("customer", rng.choice(CUSTOMER_CLOSINGS[:3])),
                   ("agent", rng.choice(AGENT_CLOSINGS))][:n_close]
        if conv.roles and closing and conv.roles[-1] == "customer":
            closing = [("agent", rng.choice(AGENT_CLOSINGS)), *closing[:-1]]
        for role, text in closing:
            conv.add(role, self._agent_text(conv, text) if role == "agent" else text)

    def _crosswoz_conversation(self, conv: _Conversation) -> None:
        rng = self.rng
        turns = rng.choice(self.corpus.crosswoz)
        self.stats.planted["crosswoz_conversations"] += 1
        for role, text in turns[:conv.length]:
            conv.add(role, self._agent_text(conv, text) if role == "agent" else text)
        while conv.room() > 0:
            if conv.roles[-1] == "customer":
                conv.add("agent", self._agent_text(conv, rng.choice(AGENT_CLOSINGS)))
            else:
                conv.add("customer", rng.choice(CUSTOMER_CLOSINGS))

    # ------------------------------------------------------------ timestamps
    def _timestamps(self, roles: list[str]) -> list[int]:
        """Seconds since the epoch per message; counts the timing truths."""
        rng, planted = self.rng, self.stats.planted
        day = rng.randrange(29)
        hour = rng.choices(range(24), _HOUR_WEIGHTS)[0]
        t = day * 86400 + hour * 3600 + rng.randrange(3600)
        slow_first = rng.random() < P_SLOW_FIRST
        if slow_first:
            planted["slow_first_reply_planted"] += 1
        first_customer: int | None = None
        waiting_since: int | None = None
        seen_reply = False
        out: list[int] = []
        prev = ""
        for role in roles:
            if out:
                if role == "bot":
                    t += rng.randint(1, 2)
                elif role == "customer":
                    if prev != "agent":
                        t += rng.randint(2, 10)
                    elif rng.random() < P_AWAY:
                        t += rng.randint(600, 3600)
                    else:
                        t += min(180, max(3, round(rng.lognormvariate(2.7, 0.6))))
                elif prev == "agent":
                    t += rng.randint(2, 15)
                elif not seen_reply and waiting_since is not None:
                    # the first person's reply is due from the customer's first words — or,
                    # after the bot, from the bot's last answer (the handoff)
                    target = rng.randint(16, 180) if slow_first else rng.randint(3, 14)
                    t = max(t + rng.randint(1, 3), waiting_since + target)
                elif rng.random() < P_LONG_GAP:
                    t += rng.randint(121, 400)
                else:
                    t += min(40, max(3, round(rng.lognormvariate(2.5, 0.5))))
            out.append(t)
            # the timing rules' semantics (scope agent), for the truth counts
            if role == "customer":
                if first_customer is None:
                    first_customer = t
                if waiting_since is None:
                    waiting_since = t
            elif role == "bot":
                if waiting_since is not None:
                    waiting_since = t  # the bot answered: the clock restarts
            elif role == "agent" and first_customer is not None:
                if waiting_since is not None:
                    late = t - waiting_since
                    if not seen_reply and late > 15:
                        planted["truth_first_reply_gt15s"] += 1
                    elif seen_reply and late > 120:
                        planted["truth_reply_gap_gt120s"] += 1
                seen_reply = True
                waiting_since = None
            prev = role
        if (not seen_reply and waiting_since is not None and roles[-1] == "customer"
                and out[-1] - waiting_since > 15):
            planted["truth_first_reply_gt15s"] += 1
        if out[-1] - out[0] > 1800:
            planted["truth_duration_gt30min"] += 1
        return out

    # ------------------------------------------------------------------ main
    def conversation(self, index: int, length: int) -> dict[str, Any]:
        rng = self.rng
        conv = _Conversation(self, length)
        if self.corpus.crosswoz and rng.random() < P_CROSSWOZ:
            channel = "app"
            self._crosswoz_conversation(conv)
        else:
            channel = rng.choices(("web", "app", "wechat", "miniprogram"), (50, 20, 22, 8))[0]
            self._template_conversation(conv)
        traditional = rng.random() < P_TRADITIONAL
        if traditional:
            self.stats.planted["traditional_conversations"] += 1
        times = self._timestamps(conv.roles)
        messages = []
        for role, raw, ts in zip(conv.roles, conv.texts, times, strict=True):
            text = self._s2t.convert(raw) if traditional and role == "customer" else raw
            if rng.random() < P_FULLWIDTH:
                text = text.translate(_FULLWIDTH)
                self.stats.planted["fullwidth_messages"] += 1
            messages.append({"role": role, "text": text, "ts": fmt_ts(ts)})
            self.stats.roles[role] += 1
        self.stats.conversations += 1
        self.stats.messages += len(messages)
        return {"id": f"c{index}", "channel": channel, "messages": messages}

    def conversations(self, n_messages: int) -> Iterator[dict[str, Any]]:
        for i, length in enumerate(plan_lengths(self.rng, n_messages), start=1):
            yield self.conversation(i, length)


_AGENT_PLANT_RATES = (
    ("ad_law", P_AD_LAW, AD_LAW), ("risky_promise", P_RISKY, RISKY),
    ("mobile", P_MOBILE, MOBILE_TPL), ("id_card", P_ID_CARD, ID_TPL),
    ("bank_card", P_BANK_CARD, BANK_TPL), ("email", P_EMAIL, EMAIL_TPL),
    ("diversion", P_DIVERSION, DIVERSION), ("abusive", P_ABUSIVE, ABUSIVE),
    ("competitor", P_COMPETITOR, COMPETITORS),
)
#: (name, cumulative probability, templates): one ``random()`` draw picks at most one plant
_AGENT_PLANTS = [(name, limit, tpls) for (name, _, tpls), limit in zip(
    _AGENT_PLANT_RATES, accumulate(p for _, p, _ in _AGENT_PLANT_RATES), strict=True)]
_P_AGENT_ANY = _AGENT_PLANTS[-1][1]


def write_jsonl(path: Path, n_messages: int, seed: int = 0, data_dir: Path = DATA,
                corpus: Corpus | None = None) -> GenStats:
    """Generate ``n_messages`` messages into ``path``; returns what was generated."""
    t0 = time.perf_counter()
    gen = Generator(seed, corpus if corpus is not None else load_corpus(data_dir))
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with path.open("w", encoding="utf-8") as f:
        batch: list[str] = []
        for conv in gen.conversations(n_messages):
            batch.append(dumps(conv))
            if len(batch) >= 2000:
                f.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            f.write("\n".join(batch) + "\n")
    gen.stats.seconds = time.perf_counter() - t0
    return gen.stats


def self_check() -> list[str]:
    """Problems with the templates: an angry line below the anger threshold, a clean
    customer or agent line that is angry, a planted line the default packs would miss."""
    from kefu.nlp.sentiment import ANGRY as THRESHOLD
    from kefu.nlp.sentiment import anger

    problems = [f"angry template below {THRESHOLD}: {t}" for t in ANGRY
                if anger(t) < THRESHOLD]
    clean = [t for topic in TOPICS.values() for k in ("ask", "follow") for t in topic[k]]
    clean += [*CUSTOMER_FILLERS, *CUSTOMER_CLOSINGS, *GREETINGS, *MIXED_EN]
    problems += [f"clean customer line is angry: {t}" for t in clean if anger(t) >= THRESHOLD]
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA, help="the shared datasets folder")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"note: {args.data} not found: our own templates only", file=sys.stderr)
    stats = write_jsonl(args.out, args.messages, args.seed, args.data)
    info = stats.as_dict()
    info["messages_per_second"] = math.floor(stats.messages / max(stats.seconds, 1e-9))
    print(json.dumps(info, ensure_ascii=False, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
