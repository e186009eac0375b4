"""``kefu qa inspect``: exported logs inspected with no database or server — the default rule
set catches what it must, output lines follow input lines, bad lines get an error line (never a
stack trace), call transcripts are validated, several processes give the same bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kefu.cli.main import app
from kefu.qa.engine import MAX_CONVERSATION_MESSAGES, default_rules
from kefu.qa.spec import rule_to_dict

T = "2026-11-11T10:00:{:02d}+08:00"


def chat(cid: str, *msgs: tuple[str, str, int], **extra: Any) -> dict[str, Any]:
    return {"id": cid, "channel": "web", **extra,
            "messages": [{"role": r, "text": t, "ts": T.format(s)} for r, t, s in msgs]}


def write(path: Path, *lines: object) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False))
                            + "\n" for x in lines), encoding="utf-8")
    return path


def inspect_cli(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    r = CliRunner().invoke(app, ["qa", "inspect", *args])
    assert "Traceback" not in r.output, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    return r.exit_code, lines, r.stderr


def rules_of(result: dict[str, Any]) -> list[str]:
    return [h["rule_id"] for h in result["hits"]]


def test_the_default_rules_catch_what_the_issue_lists(tmp_path: Path):
    src = write(
        tmp_path / "in.jsonl",
        chat("ad", ("customer", "这个好吗", 0), ("agent", "这是全网最低价，绝对正品", 5)),
        chat("promise", ("customer", "明天能到吗", 0), ("agent", "保证明天到货", 5)),
        chat("mobile", ("customer", "怎么联系", 0), ("agent", "打我电话 138 1234 5678", 5)),
        chat("id", ("customer", "要登记吗", 0), ("agent", "您的身份证11010519491231002X对吗", 5)),
        chat("card", ("customer", "退到哪", 0), ("agent", "退到卡号6222020200112233446", 5)),
        chat("slow", ("customer", "在吗", 0), ("agent", "您好", 16)),
        chat("fast", ("customer", "在吗", 0), ("agent", "您好", 15)),
        chat("angry", ("customer", "你们就是骗子！我要投诉！", 0), ("agent", "非常抱歉", 3)),
        chat("calm", ("customer", "我不是要投诉，就问问", 0), ("agent", "好的", 3)),
    )
    code, out, err = inspect_cli(str(src))
    assert code == 0, err
    got = {r["id"]: r for r in out}
    assert list(got) == ["ad", "promise", "mobile", "id", "card", "slow", "fast", "angry",
                         "calm"]
    assert rules_of(got["ad"]) == ["ad_law_absolute", "ad_law_absolute"]
    assert rules_of(got["promise"]) == ["risky_promise"]
    assert rules_of(got["mobile"]) == ["pii_agent"]
    assert rules_of(got["id"]) == ["pii_agent"]
    assert rules_of(got["card"]) == ["pii_agent"]
    assert rules_of(got["slow"]) == ["first_reply_15s"]
    assert rules_of(got["fast"]) == []
    assert rules_of(got["angry"]) == ["customer_angry"]
    assert rules_of(got["calm"]) == []
    hit = got["mobile"]["hits"][0]
    text = "打我电话 138 1234 5678"
    assert text[hit["span"][0]:hit["span"][1]] == "138 1234 5678"
    assert hit["message_index"] == 1 and hit["kind"] == "pii" and hit["deduction"] == 10
    assert got["mobile"]["score"] == 90 and got["mobile"]["fatal"] is False
    assert got["fast"]["score"] == 100
    slow = got["slow"]["hits"][0]
    assert slow["kind"] == "timing" and slow["span"] is None
    assert "conversations 9" in err and "messages 18" in err and "errors 0" in err


def test_bad_lines_get_error_lines_in_place_and_exit_1(tmp_path: Path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        "\ufeff".encode() + json.dumps(chat("ok1", ("agent", "您好", 0))).encode() + b"\n"
        + b"\n"  # blank lines are skipped
        + json.dumps(chat("c2", ("boss", "x", 0))).encode() + b"\n"
        + b'{"id": "c3", "messages": [{"role": "agent", "text": "x", "ts": "2026-11-11 10:00"}]}\n'
        + "{\"id\": \"c4\", \"messages\": [{\"role\": \"agent\", \"text\": \"您好\"}]}\n"
        .encode("gbk")
        + b"[1, 2]\n"
        + b'{"id": "c6", "messages": []}\n')
    code, out, err = inspect_cli(str(src))
    assert code == 1
    # several processes read byte ranges of the file: same lines, same line numbers
    code2, out2, _ = inspect_cli(str(src), "--workers", "3")
    assert (code2, out2) == (code, out)
    assert [r.get("id") for r in out] == ["ok1", "c2", "c3", None, None, "c6"]
    assert out[1] == {"id": "c2", "line": 3, "error": {
        "field": "messages[0].role", "message": "must be customer, agent or bot, not 'boss'"}}
    assert out[2]["error"]["field"] == "messages[0].ts"
    assert "UTC offset" in out[2]["error"]["message"]
    assert out[3]["line"] == 5 and "UTF-8" in out[3]["error"]["message"]
    assert out[4]["line"] == 6 and "JSON object" in out[4]["error"]["message"]
    assert out[5] == {"id": "c6", "score": 100.0, "fatal": False, "hits": []}
    assert "errors 4" in err


@pytest.mark.parametrize(("turns", "field", "reason"), [
    ([{"speaker": "agent", "start_ms": -5, "end_ms": 100, "text": "喂"}],
     "turns[0].start_ms", "negative"),
    ([{"speaker": "agent", "start_ms": 500, "end_ms": 100, "text": "喂"}],
     "turns[0].end_ms", "before it starts"),
    ([{"speaker": "agent", "start_ms": 0, "end_ms": 3000, "text": "您好"},
      {"speaker": "agent", "start_ms": 2000, "end_ms": 4000, "text": "请讲"}],
     "turns[1].start_ms", "overlaps the previous agent turn"),
    ([{"speaker": "agent", "start_ms": 2000, "end_ms": 3000, "text": "您好"},
      {"speaker": "customer", "start_ms": 1000, "end_ms": 4000, "text": "喂"}],
     "turns[1].start_ms", "in order"),
    ([{"speaker": "agent", "start_ms": "0", "end_ms": 10, "text": "您好"}],
     "turns[0].start_ms", "milliseconds"),
])
def test_bad_call_transcripts_are_refused_with_the_field(tmp_path: Path, turns: list[Any],
                                                         field: str, reason: str):
    src = write(tmp_path / "calls.jsonl", {"id": "call", "channel": "phone",
                                           "started_at": T.format(0), "turns": turns})
    code, out, _ = inspect_cli(str(src))
    assert code == 1
    assert out[0]["error"]["field"] == field
    assert reason in out[0]["error"]["message"]


def test_call_transcripts_get_silence_and_interruption(tmp_path: Path):
    rules = [rule_to_dict(r) for r in default_rules()] + [
        {"kind": "timing", "id": "silence", "name": "静音", "check": "silence", "seconds": 5},
        {"kind": "timing", "id": "cut_in", "name": "抢话", "check": "interruption",
         "seconds": 0.5}]
    rules_file = write(tmp_path / "rules.json", {"rules": rules})
    src = write(tmp_path / "calls.jsonl", {
        "id": "call", "channel": "phone", "started_at": T.format(0), "turns": [
            {"speaker": "customer", "start_ms": 0, "end_ms": 2000, "text": "我要退货"},
            {"speaker": "agent", "start_ms": 9000, "end_ms": 12000, "text": "您好，请讲"},
            {"speaker": "customer", "start_ms": 12500, "end_ms": 15000, "text": "就是那个"},
            {"speaker": "agent", "start_ms": 14000, "end_ms": 16000, "text": "我明白"}]})
    code, out, _ = inspect_cli(str(src), "--rules", str(rules_file))
    assert code == 0
    assert [(h["rule_id"], h["message_index"]) for h in out[0]["hits"]] == [
        ("silence", 1), ("cut_in", 3)]


def test_facts_and_a_huge_conversation(tmp_path: Path):
    rules = [{"kind": "fact", "id": "csat", "name": "差评", "fact": "low_csat", "n": 2}]
    rules_file = write(tmp_path / "rules.json", rules)
    huge = chat("huge", *[("customer", "在吗", 0)] * (MAX_CONVERSATION_MESSAGES + 1))
    src = write(tmp_path / "in.jsonl", chat("rated", ("customer", "好", 0), facts={"csat": 1}),
                huge, chat("bad", ("customer", "好", 0), facts={"csat": 9}))
    code, out, _ = inspect_cli(str(src), "--rules", str(rules_file))
    assert code == 1
    assert rules_of(out[0]) == ["csat"]
    assert out[1]["error"]["field"] == "messages" and "at most" in out[1]["error"]["message"]
    assert out[2]["error"]["field"] == "facts.csat"


def test_a_bad_rules_file_names_every_problem_and_writes_nothing(tmp_path: Path):
    rules_file = write(tmp_path / "rules.json", {"rules": [
        {"kind": "regex", "id": "r1", "name": "r", "pattern": "(a+)+"},
        {"kind": "keyword", "id": "k1", "name": "k", "terms": []},
        {"kind": "wordpack", "id": "w1", "name": "w", "pack": "ad_law_absolute",
         "colour": "red"}]})
    src = write(tmp_path / "in.jsonl", chat("c", ("agent", "您好", 0)))
    out_file = tmp_path / "out.jsonl"
    r = CliRunner().invoke(app, ["qa", "inspect", str(src), "--rules", str(rules_file),
                                 "--out", str(out_file)])
    assert r.exit_code == 2
    text = " ".join(r.stderr.split())
    assert "rules[0]: rule r1: nested quantifier" in text
    assert "rules[1]: rule k1: no terms" in text
    assert "rules[2].colour: unknown field" in text
    assert not out_file.exists()
    write(rules_file, "{not json")
    r = CliRunner().invoke(app, ["qa", "inspect", str(src), "--rules", str(rules_file)])
    assert r.exit_code == 2 and "not valid JSON: line 1" in " ".join(r.stderr.split())
    r = CliRunner().invoke(app, ["qa", "inspect", str(tmp_path / "missing.jsonl")])
    assert r.exit_code == 2 and "no such file" in " ".join(r.stderr.split())


def test_two_worker_processes_write_the_same_bytes_as_one(tmp_path: Path):
    texts = ["您好，请问有什么可以帮您", "保证明天到货", "这是最好的", "我的电话13812345678",
             "你们太坑人了，我要投诉", "好的谢谢"]
    lines = [chat(f"c{i}", *[("customer" if j % 2 == 0 else "agent",
                              texts[(i + j) % len(texts)], j * 7) for j in range(6)])
             for i in range(700)]
    src = write(tmp_path / "in.jsonl", *lines)
    outs = []
    for workers in ("1", "2"):
        out_file = tmp_path / f"out{workers}.jsonl"
        done = subprocess.run([sys.executable, "-m", "kefu", "qa", "inspect", str(src),
                               "--out", str(out_file), "--workers", workers],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "conversations 700" in done.stderr and f"workers {workers}" in done.stderr
        outs.append(out_file.read_bytes())
    assert outs[0] == outs[1]
    results = [json.loads(x) for x in outs[0].decode().splitlines()]
    assert [r["id"] for r in results] == [f"c{i}" for i in range(700)]
    assert sum(len(r["hits"]) for r in results) > 700
    assert not list(tmp_path.glob(".out*.tmp"))


def test_extreme_values_become_error_lines_not_a_crash(tmp_path: Path):
    src = tmp_path / "in.jsonl"
    turns = '[{"speaker": "agent", "start_ms": %s, "end_ms": %s, "text": "您好"}]'
    src.write_text("\n".join([
        '{"id": "big", "started_at": "2026-11-11T10:00:00+08:00", "turns": %s}'
        % (turns % ("1e300", "1e300")),
        '{"id": "nan", "started_at": "2026-11-11T10:00:00+08:00", "turns": %s}'
        % (turns % ("NaN", "1")),
        '{"id": "late", "started_at": "9999-12-31T23:59:59-14:00", "turns": %s}'
        % (turns % ("0", "86400000")),
        "[" * 100_000,
        json.dumps(chat("fine", ("agent", "您好", 0))),
    ]) + "\n", encoding="utf-8")
    code, out, _ = inspect_cli(str(src))
    assert code == 1
    assert [r.get("id") for r in out] == ["big", "nan", "late", None, "fine"]
    assert out[0]["error"]["field"] == "turns[0].start_ms"
    assert out[1]["error"]["field"] == "turns[0].start_ms"
    assert "out of range" in out[2]["error"]["message"]
    assert "nested too deeply" in out[3]["error"]["message"]
    assert out[4]["score"] == 100.0
