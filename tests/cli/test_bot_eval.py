"""``kefu bot eval``: offline evaluation from two CSV files, no database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kefu.cli.main import app

KB = (
    "id,question,similar_questions,answer,category\n"
    'refund,怎么申请退款,"退款怎么操作\n我要退钱\n如何退货退款",在订单页申请,售后\n'
    'ship,什么时候发货,"多久发货\n快递什么时候到",48小时内发货,物流\n'
    "invoice,怎么开发票,可以开发票吗,在订单页开票,发票\n"
)
QUERIES = (
    "query,expected_id\n"
    "退款要怎么弄,refund\n"
    "請問什麼時候發貨,ship\n"
    "发票怎么开,invoice\n"
    "今天北京天气怎么样,OOS\n"
    "你们老板是谁,\n"
)
KEYS = {"top1", "top3", "answered_rate", "precision_answered", "oos_precision", "oos_recall",
        "oos_f1", "latency_p50_ms", "latency_p99_ms", "build_seconds", "train_seconds",
        "n_queries"}


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["bot", "eval", *args], env={"COLUMNS": "200"})


def write(tmp: Path, kb: str, queries: str, encoding: str = "utf-8") -> tuple[str, str]:
    (tmp / "KB.csv").write_bytes(kb.encode(encoding))
    (tmp / "Q.csv").write_bytes(queries.encode(encoding))
    return str(tmp / "KB.csv"), str(tmp / "Q.csv")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_json_metrics(tmp_path: Path, encoding: str) -> None:
    kb, q = write(tmp_path, KB, QUERIES, encoding)
    res = run("--kb", kb, q, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == KEYS
    assert data["n_queries"] == 5
    assert data["top1"] == 1.0
    assert data["oos_recall"] == 1.0
    assert data["train_seconds"] == 0.0  # a 3-entry KB is too small to train on, as in the bot
    assert 0 <= data["answered_rate"] <= 1


def test_text_report(tmp_path: Path) -> None:
    kb, q = write(tmp_path, KB, QUERIES)
    res = run("--kb", kb, q)
    assert res.exit_code == 0, res.output
    for key in ("top1", "oos_f1", "latency_p99_ms", "build_seconds", "n_queries"):
        assert key in res.stdout


def test_broken_row_names_file_and_line(tmp_path: Path) -> None:
    broken = KB + "pwd,忘记密码怎么办,密码找回\n"  # line 8: quoted cells span lines
    kb, q = write(tmp_path, broken, QUERIES)
    res = run("--kb", kb, q)
    assert res.exit_code == 1
    assert "KB.csv:8" in res.stderr
    assert "expected 5 fields" in res.stderr


def test_unknown_expected_id(tmp_path: Path) -> None:
    kb, q = write(tmp_path, KB, QUERIES + "随便问问,nope\n")
    res = run("--kb", kb, q)
    assert res.exit_code == 1
    assert "Q.csv:7" in res.stderr
    assert "nope" in res.stderr


def test_bad_header_and_encoding(tmp_path: Path) -> None:
    kb, q = write(tmp_path, "id,question\n1,x\n", QUERIES)
    res = run("--kb", kb, q)
    assert res.exit_code == 1
    assert "header lacks" in res.stderr
    (tmp_path / "bin.csv").write_bytes(b"id,question\n\xff\xfe\xfa\xfb\n")
    res = run("--kb", str(tmp_path / "bin.csv"), q)
    assert res.exit_code == 1
    assert "bin.csv:2" in res.stderr


def test_missing_file(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text(QUERIES, encoding="utf-8")
    res = run("--kb", str(tmp_path / "none.csv"), str(tmp_path / "q.csv"))
    assert res.exit_code == 1
    assert "none.csv" in res.stderr
