"""Workspaces (tenants)."""

from __future__ import annotations

import pytest

from kefu.accounts import actions
from kefu.core.errors import Conflict, Invalid


def test_create_workspace(uows, clock):
    with uows() as uow:
        ws = actions.do_create_workspace(uow, name="茶叶店", slug="tea-shop", timezone="UTC")
    assert (ws.name, ws.slug, ws.timezone, ws.created_at) == ("茶叶店", "tea-shop", "UTC",
                                                              clock.now())
    assert ws.workspace_id == ws.id


@pytest.mark.parametrize("slug", ["A-shop", "-shop", "s", "shop_1", "店铺", "x" * 64, ""])
def test_bad_slug_is_invalid(uows, slug):
    with pytest.raises(Invalid) as info, uows() as uow:
        actions.do_create_workspace(uow, name="x", slug=slug)
    assert info.value.details == {"field": "slug"}


def test_taken_slug_is_a_conflict(uows):
    with uows() as uow:
        actions.do_create_workspace(uow, name="x", slug="shop-1")
    with pytest.raises(Conflict) as info, uows() as uow:
        actions.do_create_workspace(uow, name="y", slug="shop-1")
    assert info.value.code == "slug_taken"
