"""Login, logout, the current user, personal API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from kefu.accounts import actions as account_actions
from kefu.accounts.actor import Actor
from kefu.accounts.models import ApiToken, User
from kefu.accounts.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    LoginRequest,
    UserRead,
)
from kefu.core.errors import NotFound, RateLimited
from kefu.services import Services
from kefu.web.deps import SESSION_COOKIE, Auth, client_ip, current_actor, current_auth, services

router = APIRouter(prefix="/api/v1", tags=["auth"])


def login_user(svc: Services, request: Request, email: str, password: str) -> tuple[User, str, str]:
    """Check credentials under the rate limit; returns (user, cookie token, csrf token)."""
    key = f"{email.strip().lower()}|{client_ip(request)}"
    now = svc.clock.now()
    wait = svc.login_limiter.blocked_for(key, now)
    if wait > 0:
        raise RateLimited("登录失败次数过多，请稍后再试 / Too many failed logins, try later",
                          code="too_many_logins", retry_after=round(wait))
    try:
        with svc.uows() as uow:
            user = account_actions.check_credentials(uow, email=email, password=password)
            auth_session, token = account_actions.do_login(
                uow, user=user, ttl_hours=svc.settings.session_ttl_hours)
    except Exception:
        svc.login_limiter.fail(key, now)
        raise
    svc.login_limiter.reset(key)
    return user, token, auth_session.csrf_token


def set_session_cookie(svc: Services, response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=svc.settings.secure_cookies,
                        max_age=svc.settings.session_ttl_hours * 3600, path="/")


@router.post("/auth/login")
def login(data: LoginRequest, request: Request, response: Response) -> dict[str, Any]:
    """Open a browser session (cookie). Returns the user and the CSRF token for writes."""
    svc = services(request)
    user, token, csrf = login_user(svc, request, data.email, data.password)
    set_session_cookie(svc, response, token)
    return {"user": UserRead.model_validate(user).model_dump(mode="json"), "csrf_token": csrf}


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, auth: Auth = Depends(current_auth)) -> None:
    svc = services(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with svc.uows() as uow:
            account_actions.do_logout(uow, token=cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me")
def me(request: Request, auth: Auth = Depends(current_auth)) -> dict[str, Any]:
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        user = uow.session.get(User, auth.actor.user_id)
        if user is None:
            raise NotFound("用户不存在 / No such user", code="user_not_found")
        return {"user": UserRead.model_validate(user).model_dump(mode="json"),
                "csrf_token": auth.csrf_token}


@router.get("/tokens", response_model=list[ApiTokenRead])
def list_tokens(request: Request, actor: Actor = Depends(current_actor)) -> list[ApiTokenRead]:
    from sqlalchemy import select

    svc = services(request)
    with svc.uows(readonly=True) as uow:
        rows = uow.session.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id)
                                   .order_by(ApiToken.created_at))
        return [ApiTokenRead.model_validate(r) for r in rows]


@router.post("/tokens", response_model=ApiTokenCreated, status_code=201)
def create_token(data: ApiTokenCreate, request: Request,
                 actor: Actor = Depends(current_actor)) -> ApiTokenCreated:
    """Create a personal API token. The token is shown once; only its hash is stored."""
    svc = services(request)
    with svc.uows() as uow:
        row, token = account_actions.do_create_api_token(uow, actor, name=data.name)
        read = ApiTokenRead.model_validate(row)
    return ApiTokenCreated(**read.model_dump(), token=token)


@router.delete("/tokens/{token_id}", response_model=ApiTokenRead)
def revoke_token(token_id: str, request: Request,
                 actor: Actor = Depends(current_actor)) -> ApiTokenRead:
    svc = services(request)
    with svc.uows() as uow:
        row = account_actions.do_revoke_api_token(uow, actor, token_id)
        return ApiTokenRead.model_validate(row)
