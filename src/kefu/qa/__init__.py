"""Quality inspection (智能质检): rules, word packs, personal data, the compiled engine."""

from kefu.qa.engine import (
    CompiledRules,
    Hit,
    Score,
    Scorecard,
    ScoreItem,
    check_message,
    compile_rules,
    default_rules,
    default_scorecard,
    fold,
    inspect,
    score,
)
from kefu.qa.rules import (
    KeywordRule,
    Message,
    PiiRule,
    RegexRule,
    SentimentRule,
    TimingRule,
    WordPack,
    WordpackRule,
)

__all__ = [
    "CompiledRules",
    "Hit",
    "KeywordRule",
    "Message",
    "PiiRule",
    "RegexRule",
    "Score",
    "ScoreItem",
    "Scorecard",
    "SentimentRule",
    "TimingRule",
    "WordPack",
    "WordpackRule",
    "check_message",
    "compile_rules",
    "default_rules",
    "default_scorecard",
    "fold",
    "inspect",
    "score",
]
