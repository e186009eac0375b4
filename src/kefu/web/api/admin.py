"""Administration: users, teams and inboxes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from kefu.accounts import actions as account_actions
from kefu.accounts import queries as account_queries
from kefu.accounts.access import access_team, access_user
from kefu.accounts.actor import Actor
from kefu.accounts.schemas import TeamCreate, TeamRead, TeamUpdate, UserCreate, UserRead, UserUpdate
from kefu.core.pagination import MAX_LIMIT, Page
from kefu.inbox import actions as inbox_actions
from kefu.inbox import queries as inbox_queries
from kefu.inbox.access import access_inbox
from kefu.inbox.schemas import InboxAdminRead, InboxCreate, InboxRead, InboxUpdate
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1", tags=["admin"])


@router.get("/users", response_model=Page[UserRead])
def list_users(request: Request, actor: Actor = Depends(current_actor),
               limit: int = Query(50, ge=1, le=MAX_LIMIT),
               offset: int = Query(0, ge=0)) -> Page[UserRead]:
    with services(request).uows(readonly=True) as uow:
        return account_queries.list_users(uow.session, actor, limit=limit, offset=offset)


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(data: UserCreate, request: Request,
                actor: Actor = Depends(current_actor)) -> UserRead:
    with services(request).uows() as uow:
        user = account_actions.do_create_user(uow, workspace_id=actor.workspace_id, data=data,
                                              actor=actor)
        return UserRead.model_validate(user)


@router.get("/users/{user_id}", response_model=UserRead)
def get_user(user_id: str, request: Request, actor: Actor = Depends(current_actor)) -> UserRead:
    with services(request).uows(readonly=True) as uow:
        return UserRead.model_validate(access_user(actor, user_id, session=uow.session))


@router.patch("/users/{user_id}", response_model=UserRead)
def update_user(user_id: str, data: UserUpdate, request: Request,
                actor: Actor = Depends(current_actor)) -> UserRead:
    with services(request).uows() as uow:
        return UserRead.model_validate(account_actions.do_update_user(uow, actor, user_id, data))


@router.get("/teams", response_model=list[TeamRead])
def list_teams(request: Request, actor: Actor = Depends(current_actor)) -> list[TeamRead]:
    with services(request).uows(readonly=True) as uow:
        return account_queries.list_teams(uow.session, actor)


@router.post("/teams", response_model=TeamRead, status_code=201)
def create_team(data: TeamCreate, request: Request,
                actor: Actor = Depends(current_actor)) -> TeamRead:
    with services(request).uows() as uow:
        team = account_actions.do_create_team(uow, actor, data)
        uow.session.flush()
        return account_queries.team_read(uow.session, team)


@router.get("/teams/{team_id}", response_model=TeamRead)
def get_team(team_id: str, request: Request, actor: Actor = Depends(current_actor)) -> TeamRead:
    with services(request).uows(readonly=True) as uow:
        return account_queries.team_read(uow.session,
                                         access_team(actor, team_id, session=uow.session))


@router.patch("/teams/{team_id}", response_model=TeamRead)
def update_team(team_id: str, data: TeamUpdate, request: Request,
                actor: Actor = Depends(current_actor)) -> TeamRead:
    with services(request).uows() as uow:
        team = account_actions.do_update_team(uow, actor, team_id, data)
        uow.session.flush()
        return account_queries.team_read(uow.session, team)


@router.delete("/teams/{team_id}", status_code=204)
def delete_team(team_id: str, request: Request, actor: Actor = Depends(current_actor)) -> None:
    with services(request).uows() as uow:
        account_actions.do_delete_team(uow, actor, team_id)


@router.get("/inboxes", response_model=list[InboxRead])
def list_inboxes(request: Request, actor: Actor = Depends(current_actor)) -> list[InboxRead]:
    with services(request).uows(readonly=True) as uow:
        return inbox_queries.list_inboxes(uow.session, actor)


@router.post("/inboxes", response_model=InboxAdminRead, status_code=201)
def create_inbox(data: InboxCreate, request: Request,
                 actor: Actor = Depends(current_actor)) -> InboxAdminRead:
    with services(request).uows() as uow:
        inbox = inbox_actions.do_create_inbox(uow, actor, workspace_id=actor.workspace_id,
                                              data=data)
        return InboxAdminRead.model_validate(inbox)


@router.get("/inboxes/{inbox_id}", response_model=InboxAdminRead | InboxRead)
def get_inbox(inbox_id: str, request: Request,
              actor: Actor = Depends(current_actor)) -> InboxAdminRead | InboxRead:
    """Admins also see the inbox secret (for the host site's identity HMAC)."""
    with services(request).uows(readonly=True) as uow:
        inbox = access_inbox(actor, inbox_id, session=uow.session)
        if actor.can("admin.manage"):
            return InboxAdminRead.model_validate(inbox)
        return InboxRead.model_validate(inbox)


@router.patch("/inboxes/{inbox_id}", response_model=InboxAdminRead)
def update_inbox(inbox_id: str, data: InboxUpdate, request: Request,
                 actor: Actor = Depends(current_actor)) -> InboxAdminRead:
    with services(request).uows() as uow:
        return InboxAdminRead.model_validate(
            inbox_actions.do_update_inbox(uow, actor, inbox_id, data))


@router.post("/inboxes/{inbox_id}/rotate-secret", response_model=InboxAdminRead)
def rotate_inbox_secret(inbox_id: str, request: Request,
                        actor: Actor = Depends(current_actor)) -> InboxAdminRead:
    with services(request).uows() as uow:
        return InboxAdminRead.model_validate(
            inbox_actions.do_rotate_inbox_secret(uow, actor, inbox_id))
