"""Tokenisation: words with a user dictionary and synonyms, and character n-grams."""

from __future__ import annotations

from kefu.nlp.normalise import normalise
from kefu.nlp.tokenise import DEFAULT_STOP_WORDS, Tokeniser, stem


def test_synonyms_map_to_one_token() -> None:
    tok = Tokeniser(synonyms=[["快递", "物流", "发货"]])
    seen = {w for q in ("物流到哪了", "快递到哪了", "发货到哪了") for w in tok.words(normalise(q))}
    assert "快递" in seen
    assert not seen & {"物流", "发货"}
    assert "快递" in tok.chars(normalise("物流到哪了"))


def test_user_terms_stay_whole() -> None:
    tok = Tokeniser(terms=["超级会员卡"])
    assert "超级会员卡" in tok.words(normalise("超级会员卡怎么开通"))


def test_english_words_lowercased_and_stemmed() -> None:
    tok = Tokeniser()
    assert tok.words(normalise("My CARDS arrived")) == ["my", "card", "arriv"]
    assert stem("cards") == "card"
    assert stem("class") == "class"


def test_stop_words_dropped_but_never_everything() -> None:
    tok = Tokeniser(stop_words=DEFAULT_STOP_WORDS)
    assert "的" not in tok.words(normalise("我的订单"))
    assert tok.words(normalise("的")) == ["的"]


def test_char_ngrams() -> None:
    tok = Tokeniser()
    grams = tok.chars(normalise("花呗ab 好"))
    assert {"花呗", "#ab", "ab#", "好"} <= set(grams)
    assert "花" not in grams  # unigrams only for a lone character unless asked
    assert "花" in Tokeniser(char_unigrams=True).chars("花呗")
    assert tok.chars("") == []
