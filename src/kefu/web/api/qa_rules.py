"""Quality inspection API: rules (versioned, with restore, defaults, dry run, import/export),
word packs and scorecards. Reading needs ``qa.review`` or ``qa.manage`` (agents do not see
rule definitions); every write needs ``qa.manage``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from kefu.accounts.actor import Actor
from kefu.core.errors import Invalid
from kefu.qa import dryrun, manage
from kefu.qa.access import access_pack, access_rule, access_scorecard
from kefu.qa.models import QaRule, QaScorecard, QaWordPack
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1", tags=["qa"])

IMPORT_PATH = "/api/v1/qa/rules/import"
MAX_IMPORT_BYTES = 8 * 1024 * 1024
#: upload routes (POST path -> largest file) for ``web.routes.UPLOAD_LIMITS``
UPLOAD_LIMITS: dict[str, int] = {IMPORT_PATH: MAX_IMPORT_BYTES}


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    key: str
    name: str
    kind: str
    definition: dict[str, Any]
    enabled: bool
    inbox_ids: list[str]
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    definition: dict[str, Any]
    enabled: bool = True
    inbox_ids: list[str] = Field(default_factory=list, max_length=500)


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    definition: dict[str, Any] | None = None
    enabled: bool | None = None
    inbox_ids: list[str] | None = Field(None, max_length=500)


class VersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    version: int
    snapshot: dict[str, Any]
    actor_id: str | None
    at: datetime


class DryRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: dict[str, Any]
    name: str = Field("", max_length=200)
    days: int = dryrun.DEFAULT_DAYS
    inbox_id: str | None = Field(None, max_length=24)


class PackRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    terms: list[str]
    exclusions: list[str]
    version: int
    updated_by: str | None
    updated_at: datetime


class PackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    terms: list[str] = Field(max_length=50_000)
    exclusions: list[str] = Field(default_factory=list, max_length=50_000)


class PackUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=64)
    terms: list[str] | None = Field(None, max_length=50_000)
    exclusions: list[str] | None = Field(None, max_length=50_000)


class ScorecardRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    base: float
    group_weights: dict[str, float]
    items: dict[str, Any]
    inbox_ids: list[str]
    team_ids: list[str]
    is_default: bool
    version: int
    updated_at: datetime


class ScorecardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    base: float = 100.0
    group_weights: dict[str, float] = Field(default_factory=dict)
    items: dict[str, dict[str, Any]] = Field(default_factory=dict)
    inbox_ids: list[str] = Field(default_factory=list, max_length=500)
    team_ids: list[str] = Field(default_factory=list, max_length=500)
    is_default: bool = False


class ScorecardPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    base: float | None = None
    group_weights: dict[str, float] | None = None
    items: dict[str, dict[str, Any]] | None = None
    inbox_ids: list[str] | None = Field(None, max_length=500)
    team_ids: list[str] | None = Field(None, max_length=500)
    is_default: bool | None = None


def _rule(row: QaRule) -> RuleRead:
    return RuleRead.model_validate(row)


# -- rules (fixed paths before /qa/rules/{rule_id}) ---------------------------------------

@router.get("/qa/rules")
def list_rules(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Every rule of the workspace (disabled ones too; deleted ones not). ``uses_defaults``:
    the workspace stores no rule, so the built-in default set inspects."""
    with services(request).uows(readonly=True) as uow:
        rows = manage.list_rules(uow.session, actor)
        return {"items": [_rule(r).model_dump(mode="json") for r in rows],
                "uses_defaults": manage.uses_defaults(uow.session, actor)}


@router.post("/qa/rules", status_code=201, response_model=RuleRead)
def create_rule(data: RuleCreate, request: Request,
                actor: Actor = Depends(current_actor)) -> RuleRead:
    """A new rule; ``definition`` is the ``kefu.qa.spec`` form of the rule without
    ``id``/``name`` (``{"kind": "keyword", "terms": [...], ...}``). Every problem is listed
    in ``error.details.errors`` as ``{field, reason}``; a key in use is 409."""
    with services(request).uows() as uow:
        return _rule(manage.do_create_rule(uow, actor, key=data.key, name=data.name,
                                           definition=data.definition, enabled=data.enabled,
                                           inbox_ids=data.inbox_ids))


@router.post("/qa/rules/install-defaults")
def install_defaults(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Store the built-in rules the workspace does not have yet (idempotent)."""
    with services(request).uows() as uow:
        added = manage.do_install_defaults(uow, actor)
        return {"added": [_rule(r).model_dump(mode="json") for r in added]}


@router.post("/qa/rules/dry-run")
def post_dry_run(data: DryRunIn, request: Request,
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Run a draft rule (not saved) over the last ``days`` days (1–90) of conversations,
    newest first, at most 5,000 (``truncated`` says when there were more). Changes nothing."""
    with services(request).uows(readonly=True) as uow:
        return dryrun.dry_run(uow.session, actor, data.definition, now=uow.clock.now(),
                              days=data.days, inbox_id=data.inbox_id,
                              name=data.name).as_dict()


@router.get("/qa/rules/export")
def export_rules(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    """The workspace's rules, word packs and default card as a rules file
    (``kefu qa inspect --rules``)."""
    with services(request).uows(readonly=True) as uow:
        data = manage.export_rules(uow.session, actor)
        stamp = uow.clock.now().strftime("%Y%m%d")
    body = json.dumps(data, ensure_ascii=False, indent=1).encode()
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="qa-rules-{stamp}.json"'})


async def _import_payload(request: Request) -> object:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        raw = b"" if upload is None or isinstance(upload, str) else await upload.read(
            MAX_IMPORT_BYTES + 1)
        await form.close()
        if not raw:
            raise Invalid("请上传规则文件 / Upload a rules file", code="no_file")
    else:
        raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise Invalid("规则文件过大 / The rules file is too large", code="file_too_large")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise Invalid("规则文件不是 UTF-8 文本 / The rules file is not UTF-8 text",
                      code="invalid_import") from None
    except json.JSONDecodeError as exc:
        raise Invalid(f"规则文件不是合法的 JSON / The rules file is not valid JSON: line "
                      f"{exc.lineno} column {exc.colno}: {exc.msg}",
                      code="invalid_import") from None


@router.post("/qa/rules/import")
async def import_rules(request: Request,
                       actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Import a rules file (a JSON body, or a multipart upload in field ``file``). All or
    nothing; existing keys become new versions."""
    payload = await _import_payload(request)

    def run() -> dict[str, Any]:
        with services(request).uows() as uow:
            return manage.do_import_rules(uow, actor, payload).as_dict()

    return await run_in_threadpool(run)


@router.get("/qa/rules/{rule_id}", response_model=RuleRead)
def get_rule(rule_id: str, request: Request, actor: Actor = Depends(current_actor)) -> RuleRead:
    with services(request).uows(readonly=True) as uow:
        return _rule(access_rule(actor, rule_id, session=uow.session))


@router.patch("/qa/rules/{rule_id}", response_model=RuleRead)
def patch_rule(rule_id: str, data: RuleUpdate, request: Request,
               actor: Actor = Depends(current_actor)) -> RuleRead:
    """Change a rule (a new version; the key cannot change)."""
    with services(request).uows() as uow:
        return _rule(manage.do_update_rule(uow, actor, rule_id, name=data.name,
                                           definition=data.definition, enabled=data.enabled,
                                           inbox_ids=data.inbox_ids, key=data.key))


@router.delete("/qa/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: str, request: Request, actor: Actor = Depends(current_actor)) -> Response:
    """Soft delete (old results keep naming the rule)."""
    with services(request).uows() as uow:
        manage.do_delete_rule(uow, actor, rule_id)
    return Response(status_code=204)


@router.get("/qa/rules/{rule_id}/versions", response_model=list[VersionRead])
def get_versions(rule_id: str, request: Request,
                 actor: Actor = Depends(current_actor)) -> list[VersionRead]:
    with services(request).uows(readonly=True) as uow:
        return [VersionRead.model_validate(v)
                for v in manage.list_versions(uow.session, actor, rule_id)]


@router.post("/qa/rules/{rule_id}/versions/{version}/restore", response_model=RuleRead)
def restore_version(rule_id: str, version: int, request: Request,
                    actor: Actor = Depends(current_actor)) -> RuleRead:
    """Bring back an old version as a new version."""
    with services(request).uows() as uow:
        return _rule(manage.do_restore_version(uow, actor, rule_id, version))


# -- word packs ---------------------------------------------------------------------------

def _pack(row: QaWordPack) -> PackRead:
    return PackRead.model_validate(row)


@router.get("/qa/packs")
def list_packs(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """The workspace's own packs, and the names of every pack a rule may use."""
    with services(request).uows(readonly=True) as uow:
        return {"items": [_pack(p).model_dump(mode="json")
                          for p in manage.list_packs(uow.session, actor)],
                "available": manage.pack_names(uow.session, actor)}


@router.post("/qa/packs", status_code=201, response_model=PackRead)
def create_pack(data: PackCreate, request: Request,
                actor: Actor = Depends(current_actor)) -> PackRead:
    with services(request).uows() as uow:
        return _pack(manage.do_create_pack(uow, actor, name=data.name, terms=data.terms,
                                           exclusions=data.exclusions))


@router.get("/qa/packs/{pack_id}", response_model=PackRead)
def get_pack(pack_id: str, request: Request, actor: Actor = Depends(current_actor)) -> PackRead:
    with services(request).uows(readonly=True) as uow:
        return _pack(access_pack(actor, pack_id, session=uow.session))


@router.patch("/qa/packs/{pack_id}", response_model=PackRead)
def patch_pack(pack_id: str, data: PackUpdate, request: Request,
               actor: Actor = Depends(current_actor)) -> PackRead:
    with services(request).uows() as uow:
        return _pack(manage.do_update_pack(uow, actor, pack_id, name=data.name,
                                           terms=data.terms, exclusions=data.exclusions))


@router.delete("/qa/packs/{pack_id}", status_code=204)
def delete_pack(pack_id: str, request: Request, actor: Actor = Depends(current_actor)) -> Response:
    """Refused (409 ``pack_in_use``) while an enabled rule reads the pack."""
    with services(request).uows() as uow:
        manage.do_delete_pack(uow, actor, pack_id)
    return Response(status_code=204)


# -- scorecards ---------------------------------------------------------------------------

def _card(row: QaScorecard) -> ScorecardRead:
    return ScorecardRead.model_validate(row)


@router.get("/qa/scorecards")
def list_scorecards(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        return {"items": [_card(c).model_dump(mode="json")
                          for c in manage.list_scorecards(uow.session, actor)]}


@router.post("/qa/scorecards", status_code=201, response_model=ScorecardRead)
def create_scorecard(data: ScorecardIn, request: Request,
                     actor: Actor = Depends(current_actor)) -> ScorecardRead:
    """Base score, group weights, per-rule item overrides
    (``{rule_key: {deduction, per_hit, cap, fatal, group}}``), the inboxes/teams it is for;
    ``is_default`` takes the default role from the previous default card."""
    with services(request).uows() as uow:
        return _card(manage.do_create_scorecard(uow, actor, manage.ScorecardInput(
            **data.model_dump())))


@router.get("/qa/scorecards/{scorecard_id}", response_model=ScorecardRead)
def get_scorecard(scorecard_id: str, request: Request,
                  actor: Actor = Depends(current_actor)) -> ScorecardRead:
    with services(request).uows(readonly=True) as uow:
        return _card(access_scorecard(actor, scorecard_id, session=uow.session))


@router.patch("/qa/scorecards/{scorecard_id}", response_model=ScorecardRead)
def patch_scorecard(scorecard_id: str, data: ScorecardPatch, request: Request,
                    actor: Actor = Depends(current_actor)) -> ScorecardRead:
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    with services(request).uows() as uow:
        return _card(manage.do_update_scorecard(uow, actor, scorecard_id, changes))


@router.delete("/qa/scorecards/{scorecard_id}", status_code=204)
def delete_scorecard(scorecard_id: str, request: Request,
                     actor: Actor = Depends(current_actor)) -> Response:
    with services(request).uows() as uow:
        manage.do_delete_scorecard(uow, actor, scorecard_id)
    return Response(status_code=204)

