"""Custom field specs and values (tickets.fields): a table per type, every error named."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.core.errors import Invalid, NotFound
from kefu.core.uow import UowFactory
from kefu.tickets import files
from kefu.tickets.fields import spec_for_display, validate_spec, validate_values
from tests.conftest import World

SPEC: list[dict[str, Any]] = validate_spec([
    {"key": "order_no", "label": "订单号", "type": "text", "required": True, "max_length": 20},
    {"key": "amount", "label": "金额", "type": "number", "min": 0, "max": 10000},
    {"key": "bought_on", "label": "购买日期", "type": "date"},
    {"key": "reason", "label": "原因", "type": "select", "options": ["质量问题", "发错货", "其他"]},
    {"key": "channels", "label": "渠道", "type": "multiselect", "options": ["app", "web", "shop"]},
    {"key": "photos", "label": "照片", "type": "attachment"},
])


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("order_no", "  A123  ", "A123"),
    ("order_no", 12345, "12345"),
    ("amount", 12, 12),
    ("amount", "12.5", 12.5),
    ("amount", "１２３", 123),  # full-width digits
    ("amount", " 1,200 ", 1200),
    ("bought_on", "2026-11-11", "2026-11-11"),
    ("bought_on", "２０２６-１１-０９", "2026-11-09"),
    ("reason", "发错货", "发错货"),
    ("channels", ["web", "app", "web"], ["web", "app"]),
    ("channels", "shop", ["shop"]),
    ("photos", ["f1", "f1", "f2"], ["f1", "f2"]),
])
def test_good_values_are_normalised(key: str, value: Any, expected: Any) -> None:
    out = validate_values(SPEC, {"order_no": "X1", key: value})
    assert out[key] == expected


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("order_no", "x" * 21, "At most 20"),
    ("order_no", ["a"], "Must be text"),
    ("amount", "abc", "Must be a number"),
    ("amount", True, "Must be a number"),
    ("amount", -1, "at least 0"),
    ("amount", "10001", "at most 10000"),
    ("amount", "nan", "Must be a number"),
    ("bought_on", "2026-02-30", "YYYY-MM-DD"),
    ("bought_on", "11/11/2026", "YYYY-MM-DD"),
    ("bought_on", 20261111, "YYYY-MM-DD"),
    ("reason", "不喜欢", "Not one of the options"),
    ("channels", ["web", "tv"], "Not one of the options"),
    ("channels", {"a": 1}, "list of options"),
    ("photos", [1, 2], "attachment ids"),
])
def test_each_bad_value_is_named(key: str, value: Any, needle: str) -> None:
    with pytest.raises(Invalid) as err:
        validate_values(SPEC, {"order_no": "X1", key: value})
    assert err.value.code == "invalid_fields"
    assert list(err.value.details["fields"]) == [key]
    assert needle in err.value.details["fields"][key]
    assert " / " in err.value.details["fields"][key]  # bilingual


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(Invalid) as err:
        validate_values(SPEC, {"amount": "lots", "bought_on": "yesterday", "reason": "?",
                               "colour": "red"})
    fields = err.value.details["fields"]
    assert set(fields) == {"order_no", "amount", "bought_on", "reason", "colour"}
    assert "Required" in fields["order_no"]
    assert "Not a field" in fields["colour"]


def test_required_blank_is_missing_and_optional_blank_is_dropped() -> None:
    with pytest.raises(Invalid) as err:
        validate_values(SPEC, {"order_no": "   "})
    assert "Required" in err.value.details["fields"]["order_no"]
    assert validate_values(SPEC, {"order_no": "A", "amount": "", "channels": []}) == \
        {"order_no": "A"}


def test_partial_update_skips_missing_required_and_keeps_clears() -> None:
    assert validate_values(SPEC, {"amount": "５"}, partial=True) == {"amount": 5}
    assert validate_values(SPEC, {"amount": None}, partial=True) == {"amount": None}
    with pytest.raises(Invalid) as err:
        validate_values(SPEC, {"order_no": None}, partial=True)
    assert set(err.value.details["fields"]) == {"order_no"}


def test_attachment_ids_must_exist_in_the_workspace(world: World, uows: UowFactory) -> None:
    with uows() as uow:
        mine = files.do_store_file(uow, workspace_id=world.ws_a, name="a.png",
                                   content_type="image/png", data=b"\x89PNG", uploaded_by=None)
        theirs = files.do_store_file(uow, workspace_id=world.ws_b, name="b.png",
                                     content_type="image/png", data=b"\x89PNG",
                                     uploaded_by=None)
        ok = validate_values(SPEC, {"order_no": "A", "photos": [mine.id]},
                             session=uow.session, workspace_id=world.ws_a)
        assert ok["photos"] == [mine.id]
        with pytest.raises(Invalid) as err:
            validate_values(SPEC, {"order_no": "A", "photos": [mine.id, theirs.id]},
                            session=uow.session, workspace_id=world.ws_a)
        assert "not found" in err.value.details["fields"]["photos"]


# -- the spec ---------------------------------------------------------------------------------

def test_spec_normalised() -> None:
    out = validate_spec([{"key": "a", "label": " 名称 ", "type": "text"},
                         {"key": "b", "label": "B", "type": "select", "options": [" x ", "y", ""],
                          "required": True}])
    assert out[0] == {"key": "a", "label": "名称", "type": "text", "required": False,
                      "help": "", "options": [], "max_length": 2000}
    assert out[1]["options"] == ["x", "y"]
    assert out[1]["required"] is True


def test_spec_names_each_problem() -> None:
    with pytest.raises(Invalid) as err:
        validate_spec([
            {"key": "Order", "label": "x", "type": "text"},
            {"key": "ok", "label": "", "type": "text"},
            {"key": "ok", "label": "dup", "type": "colour"},
            {"key": "s", "label": "S", "type": "select", "options": []},
            {"key": "m", "label": "M", "type": "multiselect", "options": ["a", "a"]},
            {"key": "n", "label": "N", "type": "number", "min": 5, "max": 1},
            {"key": "t", "label": "T", "type": "text", "max_length": 0, "colour": "red"},
            "not a dict",
        ])
    assert err.value.code == "invalid_template"
    errors = err.value.details["errors"]
    assert set(errors) == {"fields[0].key", "fields[1].label", "fields[2].key", "fields[2].type",
                           "fields[3].options", "fields[4].options", "fields[5].max",
                           "fields[6].max_length", "fields[6]", "fields[7]"}
    assert "Duplicate key" in errors["fields[2].key"]
    assert "Duplicate options" in errors["fields[4].options"]


def test_removed_field_values_stay_readable() -> None:
    rows = spec_for_display(SPEC[:1], {"order_no": "A1", "old_field": ["x", "y"]})
    assert rows[0]["label"] == "订单号" and not rows[0]["removed"]
    assert rows[1] == {"key": "old_field", "label": "old_field", "type": None,
                       "value": ["x", "y"], "text": "x、y", "removed": True}


def test_store_file_limits(world: World, uows: UowFactory) -> None:
    with uows() as uow:
        with pytest.raises(Invalid) as err:
            files.do_store_file(uow, workspace_id=world.ws_a, name="e.txt", content_type="",
                                data=b"", uploaded_by=None)
        assert err.value.code == "file_empty"
        with pytest.raises(Invalid) as err:
            files.do_store_file(uow, workspace_id=world.ws_a, name="big.bin", content_type="",
                                data=b"0" * (10 * 1024 * 1024 + 1), uploaded_by=None)
        assert err.value.code == "file_too_large"
        f = files.do_store_file(uow, workspace_id=world.ws_a, name="../../etc/pa:ss<wd>.txt",
                                content_type="", data=b"hello", uploaded_by=None)
        assert f.name == "pa_ss_wd_.txt"
        assert f.content_type == "text/plain"
        assert f.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        assert files.get_file(uow, world.ws_a, f.id).id == f.id
        with pytest.raises(NotFound) as nf:
            files.get_file(uow, world.ws_b, f.id)
        assert nf.value.code == "file_not_found"
