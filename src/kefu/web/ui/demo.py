"""The demo shop page (``/demo/shop``): a fake fruit shop that embeds the web chat widget.

It shows what a host site does: one ``<script>`` tag with the inbox id, and for a logged-in
shop user the user id plus ``HMAC-SHA256(inbox secret, user id)`` computed on the backend.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select

from kefu.accounts.models import Workspace
from kefu.core.security import identity_hmac
from kefu.demo import DEMO_SLUG
from kefu.inbox.models import Inbox
from kefu.web.deps import services

router = APIRouter(include_in_schema=False)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "xml"], default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

USER_PATTERN = r"^[A-Za-z0-9_.@:-]{1,64}$"

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "智利车厘子 JJ 级 2.5kg 礼盒 - 鲜果优选旗舰店",
        "demo_note": "演示页面：这是一家虚构的水果店，右下角就是 kefu 在线客服窗口。",
        "agent_link": "打开坐席工作台",
        "brand": "鲜果优选", "brand_sub": "产地直采 · 冷链到家",
        "search": "搜索水果、礼盒…", "nav_home": "首页", "nav_season": "当季鲜果",
        "nav_import": "进口水果", "nav_gift": "礼盒专区", "nav_member": "会员中心",
        "cart": "购物车", "hello_user": "您好，{name}（已登录）", "login": "登录 / 注册",
        "crumb_import": "进口水果", "crumb_cherry": "车厘子",
        "product": "智利进口车厘子 JJ 级 2.5kg 礼盒装",
        "product_sub": "果径 28–30mm · 脆甜多汁 · 顺丰冷链直达",
        "price_label": "到手价", "was": "原价", "sold": "月销 3,280+",
        "rating": "好评率 98%", "promo": "优惠",
        "promo_1": "满 199 减 30", "promo_2": "新人立减 10 元", "promo_3": "顺丰冷链包邮",
        "spec": "规格", "spec_1": "2.5kg 礼盒", "spec_2": "5kg 家庭装", "qty": "数量",
        "add_cart": "加入购物车", "buy_now": "立即购买", "ask": "咨询客服",
        "added": "已加入购物车（演示）",
        "promise_1": "48 小时内发货", "promise_2": "坏果包赔", "promise_3": "产地直采",
        "promise_4": "冷链全程温控",
        "detail": "商品详情",
        "detail_body": "来自智利中部产区的当季车厘子，采摘后 24 小时内预冷入库，"
                       "全程 0–2°C 冷链运输。收到后请尽快冷藏，3 天内食用口感最佳。",
        "related": "猜你喜欢",
        "p_mango": "海南贵妃芒 5 斤装", "p_strawberry": "丹东 99 草莓 3 斤",
        "p_orange": "赣南脐橙 10 斤装", "p_kiwi": "佳沛阳光金果 12 粒",
        "footer": "© 2026 鲜果优选（演示商店，商品与价格均为虚构）",
        "verified": "此页面以已登录会员身份嵌入客服窗口（带身份签名）。",
    },
    "en": {
        "title": "Chilean Cherries JJ 2.5 kg Gift Box - Fresh Pick Flagship Store",
        "demo_note": "Demo page: a made-up fruit shop. The kefu chat widget is in the "
                     "bottom-right corner.",
        "agent_link": "Open the agent workspace",
        "brand": "Fresh Pick", "brand_sub": "Farm to door, cold-chain fresh",
        "search": "Search fruit, gift boxes…", "nav_home": "Home", "nav_season": "In season",
        "nav_import": "Imported", "nav_gift": "Gift boxes", "nav_member": "Members",
        "cart": "Cart", "hello_user": "Hi, {name} (signed in)", "login": "Sign in",
        "crumb_import": "Imported fruit", "crumb_cherry": "Cherries",
        "product": "Chilean Cherries, Grade JJ, 2.5 kg Gift Box",
        "product_sub": "28–30 mm · crisp and juicy · cold-chain delivery",
        "price_label": "Price", "was": "Was", "sold": "3,280+ sold this month",
        "rating": "98% positive", "promo": "Offers",
        "promo_1": "¥30 off orders over ¥199", "promo_2": "¥10 off for new customers",
        "promo_3": "Free cold-chain shipping",
        "spec": "Size", "spec_1": "2.5 kg gift box", "spec_2": "5 kg family box",
        "qty": "Quantity", "add_cart": "Add to cart", "buy_now": "Buy now",
        "ask": "Ask us", "added": "Added to cart (demo)",
        "promise_1": "Ships within 48 h", "promise_2": "Bad fruit refunded",
        "promise_3": "Direct from the farm", "promise_4": "Temperature-controlled",
        "detail": "Details",
        "detail_body": "In-season cherries from central Chile, pre-cooled within 24 hours of "
                       "picking and shipped at 0–2 °C all the way. Refrigerate on arrival; "
                       "best within 3 days.",
        "related": "You may also like",
        "p_mango": "Hainan mangoes, 2.5 kg", "p_strawberry": "Dandong strawberries, 1.5 kg",
        "p_orange": "Gannan navel oranges, 5 kg", "p_kiwi": "Zespri SunGold kiwi × 12",
        "footer": "© 2026 Fresh Pick (a demo store: products and prices are made up)",
        "verified": "This page embeds the chat as a signed-in member (with an identity hash).",
    },
}


@dataclass(frozen=True)
class DemoInbox:
    id: str
    secret: str


def find_demo_inbox(request: Request) -> DemoInbox | None:
    """The demo workspace's first inbox, or None when the demo is not loaded."""
    with services(request).uows(readonly=True) as uow:
        ws_id = uow.session.scalar(select(Workspace.id).where(Workspace.slug == DEMO_SLUG))
        if ws_id is None:
            return None
        inbox = uow.session.scalars(
            select(Inbox).where(Inbox.workspace_id == ws_id)
            .order_by(Inbox.created_at, Inbox.id).limit(1)).first()
        return DemoInbox(inbox.id, inbox.secret) if inbox is not None else None


def _headers(request: Request, nonce: str) -> dict[str, str]:
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if host else ""
    # A strict policy, as a careful host site would have: the widget must live with it.
    csp = (f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
           f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; "
           f"connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; "
           "frame-ancestors 'none'")
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}


@router.get("/demo/shop", response_class=HTMLResponse)
def demo_shop(
    request: Request,
    lang: str | None = Query(None, max_length=10),
    user: str | None = Query(None, pattern=USER_PATTERN),
) -> HTMLResponse:
    """A fake product page with the widget embedded (``?lang=en``; ``?user=<id>`` embeds
    the widget for a signed-in shop user with the identity hash)."""
    locale = "en" if (lang or "").lower().startswith("en") else "zh-CN"
    s = STRINGS[locale]
    nonce = secrets.token_urlsafe(16)
    inbox = find_demo_inbox(request)
    if inbox is None:
        html = _env.get_template("demo_shop.html").render(
            missing=True, s=s, locale=locale, nonce=nonce, embed={}, user_name="",
            lang_switch="")
        return HTMLResponse(html, status_code=404, headers=_headers(request, nonce))
    embed: dict[str, Any] = {"inbox": inbox.id, "lang": locale}
    user_name = ""
    if services(request).settings.env == "production":
        user = None  # never mint identity hashes for arbitrary ids on a real deployment
    if user:
        user_name = ("会员 " if locale == "zh-CN" else "Member ") + user
        embed.update({"user_id": user, "user_hash": identity_hmac(inbox.secret, user),
                      "name": user_name})
    other = "zh-CN" if locale == "en" else "en"
    query = f"?lang={other}" + (f"&user={user}" if user else "")
    html = _env.get_template("demo_shop.html").render(
        missing=False, s=s, locale=locale, nonce=nonce, embed=embed, user_name=user_name,
        lang_switch=query)
    return HTMLResponse(html, headers=_headers(request, nonce))
