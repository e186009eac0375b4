"""The services of one kefu process (database, bus, broker, hub, jobs, clock), wired once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kefu.bot import listeners as bot_listeners
from kefu.config import Settings
from kefu.core import mail
from kefu.core.clock import Clock, SystemClock
from kefu.core.db import make_engine, make_session_factory
from kefu.core.events import EventBus, LocalBroker
from kefu.core.jobs import JobQueue, JobRunner
from kefu.core.ratelimit import FailureLimiter
from kefu.core.uow import UowFactory
from kefu.kb.index import KbIndex
from kefu.qa import listeners as qa_listeners
from kefu.qa.registry import QaRegistry
from kefu.realtime import listeners as realtime_listeners
from kefu.realtime.hub import Hub, supervisors_topic
from kefu.tickets import listeners as tickets_listeners

log = logging.getLogger("kefu")


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus
    broker: LocalBroker
    hub: Hub
    jobs: JobQueue
    runner: JobRunner
    uows: UowFactory
    clock: Clock
    login_limiter: FailureLimiter
    kb: KbIndex
    qa: QaRegistry
    extra: dict[str, object] = field(default_factory=dict)


def build_services(settings: Settings, *, clock: Clock | None = None,
                   inline_jobs: bool = False, engine: Engine | None = None) -> Services:
    clock = clock or SystemClock()
    if settings.resolved_database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = engine or make_engine(settings.resolved_database_url, echo=settings.db_echo)
    sessions = make_session_factory(engine)
    bus = EventBus()
    broker = LocalBroker()
    hub = Hub()
    broker.subscribe(hub.publish)
    jobs = JobQueue(inline=inline_jobs)
    uows = UowFactory(sessions, bus=bus, clock=clock, jobs=jobs,
                      serialize_writes=engine.dialect.name == "sqlite")
    runner = JobRunner(jobs, uows)
    realtime_listeners.register(bus, broker)
    kb = KbIndex(uows, encoder_path=settings.bot_encoder_path)
    kb.background = not inline_jobs
    kb.register(bus)
    bot_listeners.register(bus, jobs, kb)
    qa = QaRegistry()
    qa_listeners.register(bus, jobs, qa, uows, broker.publish, supervisors_topic)
    jobs.register("send_email", mail.job_handler(settings))
    tickets_listeners.register(bus, jobs, settings)
    return Services(settings=settings, engine=engine, sessions=sessions, bus=bus, broker=broker,
                    hub=hub, jobs=jobs, runner=runner, uows=uows, clock=clock, kb=kb, qa=qa,
                    login_limiter=FailureLimiter(settings.login_max_failures,
                                                 settings.login_window_seconds))
