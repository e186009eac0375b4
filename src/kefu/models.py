"""Import every domain's models so that ``metadata`` knows all tables (Alembic, tests)."""

from kefu.accounts import models as accounts_models
from kefu.bot import models as bot_models
from kefu.contacts import models as contacts_models
from kefu.core import audit, jobs
from kefu.core.db import Base
from kefu.inbox import models as inbox_models
from kefu.kb import models as kb_models
from kefu.qa import models as qa_models
from kefu.tickets import models as tickets_models

metadata = Base.metadata
__all__ = ["accounts_models", "audit", "bot_models", "contacts_models", "inbox_models", "jobs",
           "kb_models", "metadata", "qa_models",
           "tickets_models"]
