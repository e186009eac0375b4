"""``kefu kb import|export|health`` against a temporary SQLite database."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, text

from tests.cli.test_cli import assert_clean_failure, out, run

GOOD = ("question 标准问题,phrasings 相似问法,answer 答案,category 分类,status 状态\n"
        "怎么申请退款,我要退钱||退款怎么操作,在订单页点申请退款,售后/退款,published\n"
        "什么时候发货,多久发货,付款后 48 小时内发货,物流,published\n")
BROKEN = ("question,answer,valid_until\n"
          "怎么开发票,在订单页申请,\n"
          ",没有问题,\n"
          "优惠券怎么用,结算时勾选,下周\n")


@pytest.fixture
def kb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.upper().startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    env = {"KEFU_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "KEFU_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    r = run(env, "db", "upgrade")
    assert r.exit_code == 0, out(r)
    r = run(env, "workspaces", "create", "--name", "鲜果优选", "--slug", "shop-a")
    assert r.exit_code == 0, out(r)
    return env


def entries(env: dict[str, str]) -> list[tuple[str, int]]:
    engine = create_engine(env["KEFU_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(
                text("SELECT question, version FROM kb_entries ORDER BY question"))]
    finally:
        engine.dispose()


def write(tmp_path: Path, name: str, content: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return str(path)


def test_import_export_reimport(kb_env: dict[str, str], tmp_path: Path) -> None:
    src = write(tmp_path, "faq.csv", GOOD, "gbk")
    r = run(kb_env, "kb", "import", src, "--workspace", "shop-a")
    assert r.exit_code == 0, out(r)
    assert "imported: 2 created, 0 updated, 0 unchanged, 0 errors" in out(r)
    assert entries(kb_env) == [("什么时候发货", 1), ("怎么申请退款", 1)]

    r = run(kb_env, "kb", "export", str(tmp_path / "out.csv"), "--workspace", "shop-a")
    assert r.exit_code == 0, out(r)
    data = (tmp_path / "out.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert {row["category 分类"] for row in rows} == {"售后/退款", "物流"}

    r = run(kb_env, "kb", "import", str(tmp_path / "out.csv"), "--workspace", "shop-a")
    assert r.exit_code == 0, out(r)
    assert "0 created, 0 updated, 2 unchanged" in out(r)
    assert entries(kb_env) == [("什么时候发货", 1), ("怎么申请退款", 1)]


def test_xlsx_export_by_suffix_and_format_option(kb_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    run(kb_env, "kb", "import", write(tmp_path, "faq.csv", GOOD), "--workspace", "shop-a")
    r = run(kb_env, "kb", "export", str(tmp_path / "faq.xlsx"), "--workspace", "shop-a")
    assert r.exit_code == 0, out(r)
    sheet = load_workbook(tmp_path / "faq.xlsx", read_only=True).worksheets[0]
    questions = sorted(str(row[1]) for row in sheet.iter_rows(min_row=2, values_only=True))
    assert questions == ["什么时候发货", "怎么申请退款"]
    r = run(kb_env, "kb", "export", str(tmp_path / "faq.data"), "--workspace", "shop-a",
            "--format", "xlsx")
    assert r.exit_code == 0, out(r)
    assert (tmp_path / "faq.data").read_bytes().startswith(b"PK")
    r = run(kb_env, "kb", "import", str(tmp_path / "faq.xlsx"), "--workspace", "shop-a")
    assert r.exit_code == 0, out(r)
    assert "2 unchanged" in out(r)


def test_broken_rows_fail_cleanly_and_import_nothing(kb_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    path = write(tmp_path, "broken.csv", BROKEN)
    r = run(kb_env, "kb", "import", path, "--workspace", "shop-a")
    printed = assert_clean_failure(r, "required", "bad_datetime", "nothing imported",
                                   "--partial")
    assert "question" in printed
    assert "valid_until" in printed
    assert entries(kb_env) == []

    r = run(kb_env, "kb", "import", path, "--workspace", "shop-a", "--dry-run")
    assert_clean_failure(r, "would import: 1 created")
    assert entries(kb_env) == []

    r = run(kb_env, "kb", "import", path, "--workspace", "shop-a", "--partial")
    assert_clean_failure(r, "imported: 1 created", "2 errors")
    assert entries(kb_env) == [("怎么开发票", 1)]


def test_dry_run_of_a_good_file(kb_env: dict[str, str], tmp_path: Path) -> None:
    r = run(kb_env, "kb", "import", write(tmp_path, "faq.csv", GOOD), "--workspace",
            "shop-a", "--dry-run")
    assert r.exit_code == 0, out(r)
    assert "would import: 2 created" in out(r)
    assert entries(kb_env) == []


@pytest.mark.parametrize(("name", "content", "needles"), [
    ("empty.csv", "", ("[empty_file]",)),
    ("nohead.csv", "分类,标签\n售后,退款\n", ("[missing_column]", "question")),
    ("faq.pdf", "%PDF", ("[unsupported_format]",)),
    ("bad.xlsx", "not a zip", ("[bad_file]",)),
])
def test_file_errors_are_clean(kb_env: dict[str, str], tmp_path: Path, name: str,
                               content: str, needles: tuple[str, ...]) -> None:
    r = run(kb_env, "kb", "import", write(tmp_path, name, content), "--workspace", "shop-a")
    assert_clean_failure(r, *needles)


def test_bad_encoding_names_the_line(kb_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes("question,answer\n退款要多久,三天\n".encode() + b"\xff\xfe,\xfd\n")
    r = run(kb_env, "kb", "import", str(path), "--workspace", "shop-a")
    assert_clean_failure(r, "line 3", "[bad_encoding]")


def test_unknown_workspace_missing_file_and_bad_format(kb_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    good = write(tmp_path, "faq.csv", GOOD)
    assert_clean_failure(run(kb_env, "kb", "import", good, "--workspace", "nope"), "nope")
    assert_clean_failure(run(kb_env, "kb", "import", str(tmp_path / "missing.csv"),
                             "--workspace", "shop-a"), "missing.csv")
    assert_clean_failure(run(kb_env, "kb", "export", str(tmp_path / "x.pdf"), "--workspace",
                             "shop-a"), "csv or xlsx")
    assert_clean_failure(run(kb_env, "kb", "health", "--workspace", "nope"), "nope")


def test_health_table_and_json(kb_env: dict[str, str], tmp_path: Path) -> None:
    r = run(kb_env, "kb", "health", "--workspace", "shop-a")
    assert r.exit_code == 0, out(r)
    assert "no issues" in out(r)
    clash = GOOD + "退款怎么操作？,,请联系客服,,published\n"
    run(kb_env, "kb", "import", write(tmp_path, "faq.csv", clash), "--workspace", "shop-a")
    r = run(kb_env, "kb", "health", "--workspace", "shop-a")
    assert r.exit_code == 0, out(r)
    assert "collision" in out(r)
    assert "1 issues" in out(r)
    r = run(kb_env, "kb", "health", "--workspace", "shop-a", "--json", "--days", "7")
    assert r.exit_code == 0, out(r)
    data = json.loads(r.stdout)
    assert data["checked"] == 3
    assert data["counts"]["collision"] == 1
    [issue] = data["issues"]
    assert "退款怎么操作？" in issue["questions"]
