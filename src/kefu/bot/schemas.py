"""The bot's per-inbox settings (validated, stored as JSON in ``bot_settings.config``)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kefu.core.calendar import WEEKDAYS, BusinessCalendar, parse_span

DEFAULT_HANDOFF_KEYWORDS = [
    "转人工", "人工客服", "找客服", "人工服务", "找人工", "要人工", "接人工", "转接人工",
    "真人客服", "找真人", "要真人", "人工坐席", "客服在吗", "活人", "human", "real person",
    "talk to an agent", "speak to someone",
]
#: messages that are *only* this ask for a human too ("人工", "客服")
DEFAULT_HANDOFF_EXACT = ["人工", "客服", "转人工", "人工客服", "agent", "human"]


class BusinessHours(BaseModel):
    """Human service hours. Outside them a handoff becomes "leave a message" (留言)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False  # False: humans are always available
    timezone: str = "Asia/Shanghai"
    #: e.g. {"mon": ["09:00-18:00"], …}; a missing day is closed
    weekly: dict[str, list[str]] = Field(
        default_factory=lambda: {d: ["09:00-18:00"] for d in WEEKDAYS[:5]})
    holidays: list[date] = Field(default_factory=list, max_length=400)
    #: make-up workdays (调休) open with the first weekday's hours
    workdays: list[date] = Field(default_factory=list, max_length=100)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {v!r}") from exc
        return v

    @field_validator("weekly")
    @classmethod
    def _spans(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for day in v:
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}: use mon … sun")
        for spans in v.values():
            for s in spans:
                parse_span(s)
        return v

    def calendar(self) -> BusinessCalendar:
        weekly = tuple(tuple(parse_span(s) for s in self.weekly.get(d, [])) for d in WEEKDAYS)
        return BusinessCalendar(timezone=self.timezone, weekly=weekly,
                                holidays=frozenset(self.holidays),
                                workdays=frozenset(self.workdays), enabled=self.enabled)

    def describe(self) -> str:
        names = dict(zip(WEEKDAYS, "一二三四五六日", strict=True))
        parts = [f"周{names[d]} {', '.join(self.weekly[d])}"
                 for d in WEEKDAYS if self.weekly.get(d)]
        return "；".join(parts) if parts else "暂无人工服务时间"


class SuggestRule(BaseModel):
    """猜你想问 by page: when the host page's URL contains ``url_contains`` (and/or the
    widget's context has ``attribute`` = ``value``, e.g. order_status=unpaid), suggest these
    entries first."""

    url_contains: str = Field(default="", max_length=200)
    attribute: str = Field(default="", max_length=40)
    value: str = Field(default="", max_length=100)
    entry_ids: list[str] = Field(default_factory=list, max_length=10)


class BotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="智能客服", min_length=1, max_length=40)
    answer_threshold: float = Field(default=0.36, ge=0, le=1)
    clarify_threshold: float = Field(default=0.28, ge=0, le=1)
    max_clarify: int = Field(default=3, ge=1, le=5)
    greeting: str = Field(default="您好，我是智能客服，请问有什么可以帮您？", max_length=500)
    suggest_count: int = Field(default=5, ge=0, le=10)
    suggest_rules: list[SuggestRule] = Field(default_factory=list, max_length=50)
    clarify_text: str = Field(default="您是想问：", max_length=200)
    fallback_text: str = Field(
        default="抱歉，我还不太明白您的意思。您可以换个说法，或者输入“转人工”联系人工客服。",
        max_length=500)
    handoff_text: str = Field(default="好的，正在为您转接人工客服，请稍候……", max_length=500)
    max_misses: int = Field(default=2, ge=1, le=10)
    handoff_keywords: list[str] = Field(
        default_factory=lambda: list(DEFAULT_HANDOFF_KEYWORDS), max_length=100)
    handoff_on_anger: bool = True
    anger_text: str = Field(default="非常抱歉给您带来不好的体验，正在为您优先转接人工客服。",
                            max_length=500)
    handoff_on_unhelpful: bool = True
    unhelpful_text: str = Field(default="抱歉没能帮到您，正在为您转接人工客服。", max_length=500)
    helpful_text: str = Field(default="感谢您的反馈！还有其他问题可以继续问我。", max_length=500)
    hours: BusinessHours = Field(default_factory=BusinessHours)
    leave_message_text: str = Field(
        default="现在是非人工服务时间（{hours}）。请留下您的手机号或邮箱以及问题，"
                "我们会在 {next_open} 后尽快联系您。", max_length=500)
    leave_message_thanks: str = Field(
        default="已收到您的留言，我们会在 {next_open} 后尽快联系您。", max_length=500)
    use_documents: bool = True
    passage_threshold: float = Field(default=0.6, ge=0, le=1)
    smalltalk_threshold: float = Field(default=0.6, ge=0, le=1)

    @field_validator("clarify_text", "fallback_text", "handoff_text", "anger_text",
                     "unhelpful_text", "leave_message_text", "leave_message_thanks")
    @classmethod
    def _said(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the bot needs something to say here")
        return v

    @field_validator("leave_message_text", "leave_message_thanks")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        try:
            v.format(hours="", next_open="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("only the placeholders {hours} and {next_open} may be used "
                             "(write {{ and }} for braces)") from exc
        return v

    @model_validator(mode="after")
    def _thresholds(self) -> BotConfig:
        if self.clarify_threshold > self.answer_threshold:
            raise ValueError("clarify_threshold must not exceed answer_threshold")
        return self


class FeedbackCreate(BaseModel):
    turn_id: str = Field(min_length=1, max_length=24)
    helpful: bool
