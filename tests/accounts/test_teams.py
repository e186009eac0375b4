"""Teams: create, rename, members, delete; names unique per workspace; members in scope."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kefu.accounts import actions, queries
from kefu.accounts.models import Team, TeamMember
from kefu.accounts.schemas import TeamCreate, TeamUpdate
from kefu.core.errors import Conflict, Invalid, NotFound, PermissionDenied


def _team(uows, actor, name: str, members: list[str] | None = None):
    with uows() as uow:
        team = actions.do_create_team(uow, actor, TeamCreate(name=name,
                                                             member_ids=members or []))
        uow.session.flush()
        return queries.team_read(uow.session, team)


def test_create_rename_members_delete(uows, world, svc):
    seen = []
    svc.bus.subscribe("team.changed", seen.append)
    team = _team(uows, world.admin_wang, " 售前组 ",
                 [world.agent_li.user_id, world.agent_li.user_id, world.agent_chen.user_id])
    assert team.name == "售前组"
    assert team.workspace_id == world.ws_a
    assert team.member_ids == sorted([world.agent_li.user_id, world.agent_chen.user_id])

    with uows() as uow:
        actions.do_update_team(uow, world.admin_wang, team.id, TeamUpdate(
            name="售后组", member_ids=[world.supervisor_zhao.user_id]))
    with uows(readonly=True) as uow:
        read = queries.team_read(uow.session, uow.session.get(Team, team.id))
    assert read.name == "售后组"
    assert read.member_ids == [world.supervisor_zhao.user_id]

    with uows() as uow:  # description only: members stay
        actions.do_update_team(uow, world.admin_wang, team.id, TeamUpdate(description="退换货"))
    with uows(readonly=True) as uow:
        read = queries.team_read(uow.session, uow.session.get(Team, team.id))
    assert (read.description, read.member_ids) == ("退换货", [world.supervisor_zhao.user_id])

    with uows() as uow:
        actions.do_delete_team(uow, world.admin_wang, team.id)
    with uows(readonly=True) as uow:
        assert uow.session.get(Team, team.id) is None
        assert uow.session.scalar(select(func.count()).select_from(TeamMember)
                                  .where(TeamMember.team_id == team.id)) == 0
    assert [e.team_id for e in seen] == [team.id] * 4


def test_duplicate_team_name_is_a_conflict(uows, world):
    _team(uows, world.admin_wang, "VIP")
    other = _team(uows, world.admin_wang, "普通")
    with pytest.raises(Conflict) as info:
        _team(uows, world.admin_wang, " VIP ")
    assert info.value.code == "team_name_taken"
    with pytest.raises(Conflict, match="Team name taken"), uows() as uow:
        actions.do_update_team(uow, world.admin_wang, other.id, TeamUpdate(name="VIP"))
    # renaming a team to its own name is fine; another workspace may reuse the name
    with uows() as uow:
        actions.do_update_team(uow, world.admin_wang, other.id, TeamUpdate(name="普通"))
    assert _team(uows, world.admin_b, "VIP").workspace_id == world.ws_b


def test_member_from_another_workspace_is_not_found(uows, world):
    with pytest.raises(NotFound) as info:
        _team(uows, world.admin_wang, "混合", [world.agent_li.user_id, world.agent_b.user_id])
    assert info.value.code == "user_not_found"
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(Team).where(Team.name == "混合")) is None
    team = _team(uows, world.admin_wang, "A组", [world.agent_li.user_id])
    with pytest.raises(NotFound), uows() as uow:
        actions.do_update_team(uow, world.admin_wang, team.id,
                               TeamUpdate(member_ids=[world.agent_b.user_id]))
    with uows(readonly=True) as uow:
        assert queries.team_read(uow.session, uow.session.get(Team, team.id)).member_ids == [
            world.agent_li.user_id]


def test_team_of_another_workspace_is_not_found(uows, world):
    team = _team(uows, world.admin_wang, "A组")
    for op in (lambda uow: actions.do_update_team(uow, world.admin_b, team.id,
                                                  TeamUpdate(name="x")),
               lambda uow: actions.do_delete_team(uow, world.admin_b, team.id)):
        with pytest.raises(NotFound) as info, uows() as uow:
            op(uow)
        assert info.value.code == "team_not_found"
    with uows(readonly=True) as uow:
        assert uow.session.get(Team, team.id).name == "A组"


@pytest.mark.parametrize("persona", ["supervisor_zhao", "agent_li", "inspector_sun"])
def test_only_admins_manage_teams(uows, world, persona):
    actor = getattr(world, persona)
    with pytest.raises(PermissionDenied):
        _team(uows, actor, "x")
    team = _team(uows, world.admin_wang, "A组")
    with pytest.raises(PermissionDenied), uows() as uow:
        actions.do_update_team(uow, actor, team.id, TeamUpdate(name="y"))
    with pytest.raises(PermissionDenied), uows() as uow:
        actions.do_delete_team(uow, actor, team.id)


def test_list_teams_is_scoped_and_sorted(uows, world):
    _team(uows, world.admin_wang, "b-team")
    _team(uows, world.admin_wang, "a-team")
    _team(uows, world.admin_b, "c-team")
    with uows(readonly=True) as uow:
        assert [t.name for t in queries.list_teams(uow.session, world.admin_wang)] == [
            "a-team", "b-team"]
        assert [t.name for t in queries.list_teams(uow.session, world.admin_b)] == ["c-team"]


def test_deleting_a_team_unsets_it_on_conversations(uows, world):
    from kefu.inbox import actions as inbox_actions
    from kefu.inbox.models import Conversation
    from tests.conftest import customer_says

    team = _team(uows, world.admin_wang, "售后", [world.agent_li.user_id])
    conv_id, _ = customer_says(uows, world.inbox_a, "退货")
    with uows() as uow:
        inbox_actions.do_assign(uow, world.admin_wang, conv_id, assignee_id=None,
                                team_id=team.id)
    with uows() as uow:
        actions.do_delete_team(uow, world.admin_wang, team.id)
    with uows(readonly=True) as uow:
        conv = uow.session.scalars(select(Conversation).where(Conversation.id == conv_id)
                                   .execution_options(populate_existing=True)).one()
        assert conv.team_id is None


def test_blank_team_name_is_refused(uows, world):
    with pytest.raises(Invalid) as info:
        _team(uows, world.admin_wang, "   ")
    assert info.value.code == "blank_name"
    team = _team(uows, world.admin_wang, "A组")
    with pytest.raises(Invalid), uows() as uow:
        actions.do_update_team(uow, world.admin_wang, team.id, TeamUpdate(name="  "))
    with uows(readonly=True) as uow:
        assert uow.session.get(Team, team.id).name == "A组"
