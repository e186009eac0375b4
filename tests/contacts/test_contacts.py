"""Contacts: identities, resolution, updates, scoped access and lists."""

from __future__ import annotations

import pytest

from kefu.contacts import actions, queries
from kefu.contacts.access import access_contact
from kefu.contacts.schemas import ContactUpdate
from kefu.core.errors import Invalid, NotFound, PermissionDenied


def _resolve(uows, ws: str, external_id: str, **kw):
    with uows() as uow:
        return actions.do_resolve_contact(uow, workspace_id=ws, kind="webchat_visitor",
                                          external_id=external_id, **kw)


def test_resolve_creates_once_per_identity_and_workspace(uows, world, svc, clock):
    created = []
    svc.bus.subscribe("contact.created", created.append)
    first = _resolve(uows, world.ws_a, "v-1", name="访客甲")
    again = _resolve(uows, world.ws_a, "v-1", name="ignored")
    other_ws = _resolve(uows, world.ws_b, "v-1")
    assert again.id == first.id
    assert again.name == "访客甲"
    assert other_ws.id != first.id
    assert other_ws.workspace_id == world.ws_b
    assert [e.contact_id for e in created] == [first.id, other_ws.id]
    assert first.created_at == first.last_seen_at == clock.now()
    with uows(readonly=True) as uow:
        read = queries.contact_read(uow.session, access_contact(world.agent_li, first.id,
                                                                session=uow.session))
    assert [(i.kind, i.external_id, i.verified) for i in read.identities] == [
        ("webchat_visitor", "v-1", False)]


def test_same_external_id_of_another_kind_is_another_contact(uows, world):
    a = _resolve(uows, world.ws_a, "1001")
    with uows() as uow:
        b = actions.do_resolve_contact(uow, workspace_id=world.ws_a, kind="host_user",
                                       external_id="1001", verified=True)
    assert a.id != b.id


def test_update_contact_strips_merges_and_reports_changes(uows, world, svc):
    seen = []
    svc.bus.subscribe("contact.updated", seen.append)
    c = _resolve(uows, world.ws_a, "v-2")
    with uows() as uow:
        actions.do_update_contact(uow, world.agent_li, c.id, ContactUpdate(
            name=" 张三 ", phone="13800000000", attributes={"vip": True, "city": "杭州"}))
    with uows() as uow:
        actions.do_update_contact(uow, world.agent_li, c.id, ContactUpdate(
            name="张三", attributes={"city": "上海"}))
    with uows(readonly=True) as uow:
        got = access_contact(world.agent_li, c.id, session=uow.session)
        assert (got.name, got.phone, got.email) == ("张三", "13800000000", "")
        assert got.attributes == {"vip": True, "city": "上海"}
    assert [e.changed for e in seen] == [["name", "phone", "attributes"], ["attributes"]]


def test_too_many_attributes_is_invalid(uows, world):
    c = _resolve(uows, world.ws_a, "v-3")
    attrs = {f"k{i}": i for i in range(actions.MAX_ATTRIBUTES + 1)}
    with pytest.raises(Invalid) as info, uows() as uow:
        actions.do_update_contact(uow, world.agent_li, c.id, ContactUpdate(attributes=attrs))
    assert info.value.details["field"] == "attributes"
    with uows() as uow:  # exactly the maximum is fine
        actions.do_update_contact(uow, world.agent_li, c.id, ContactUpdate(
            attributes={f"k{i}": i for i in range(actions.MAX_ATTRIBUTES)}))


def test_inspector_reads_but_cannot_edit(uows, world):
    c = _resolve(uows, world.ws_a, "v-4", name="原名")
    with uows(readonly=True) as uow:
        assert access_contact(world.inspector_sun, c.id, session=uow.session).id == c.id
    with pytest.raises(PermissionDenied), uows() as uow:
        actions.do_update_contact(uow, world.inspector_sun, c.id, ContactUpdate(name="改名"))
    with uows(readonly=True) as uow:
        assert access_contact(world.admin_wang, c.id, session=uow.session).name == "原名"


def test_contact_of_another_workspace_is_not_found(uows, world):
    c = _resolve(uows, world.ws_a, "v-5")
    with pytest.raises(NotFound) as info, uows(readonly=True) as uow:
        access_contact(world.admin_b, c.id, session=uow.session)
    assert info.value.code == "contact_not_found"
    with pytest.raises(NotFound), uows() as uow:
        actions.do_update_contact(uow, world.admin_b, c.id, ContactUpdate(name="x"))


def test_list_contacts_search_scope_and_paging(uows, world, clock):
    names = ["王小明", "李雷", "韩梅梅", "Wang Lei"]
    for i, name in enumerate(names):
        _resolve(uows, world.ws_a, f"list-{i}", name=name)
        clock.advance(seconds=1)
    _resolve(uows, world.ws_b, "list-b", name="李雷")
    with uows(readonly=True) as uow:
        everything = queries.list_contacts(uow.session, world.agent_li, q=None, limit=50,
                                           offset=0)
        lei = queries.list_contacts(uow.session, world.agent_li, q=" lei ", limit=50,
                                    offset=0)
        li_lei = queries.list_contacts(uow.session, world.agent_li, q="李雷", limit=50,
                                       offset=0)
        page2 = queries.list_contacts(uow.session, world.agent_li, q=None, limit=3, offset=3)
    assert [c.name for c in everything.items] == list(reversed(names))  # newest first
    assert everything.total == 4
    assert [c.name for c in lei.items] == ["Wang Lei"]
    assert [(c.name, c.workspace_id) for c in li_lei.items] == [("李雷", world.ws_a)]
    assert (page2.total, [c.name for c in page2.items]) == (4, ["王小明"])


@pytest.mark.parametrize(("q", "expected"), [
    ("100%", ["100% 满意"]),
    ("%", ["100% 满意"]),
    ("a_b", ["a_b"]),
    ("_", ["a_b"]),
    ("\\", ["back\\slash"]),
    ("   ", ["100% 满意", "1000 boxes", "a_b", "axb", "back\\slash"]),
])
def test_search_text_is_literal(uows, world, q, expected):
    for i, name in enumerate(["100% 满意", "1000 boxes", "a_b", "axb", "back\\slash"]):
        _resolve(uows, world.ws_a, f"lit-{i}", name=name)
    with uows(readonly=True) as uow:
        page = queries.list_contacts(uow.session, world.agent_li, q=q, limit=50, offset=0)
    assert sorted(c.name for c in page.items) == expected
    assert page.total == len(expected)
