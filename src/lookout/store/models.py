"""Imports every capability's models so that one metadata holds the whole schema (for Alembic)."""

from lookout.registry import models as registry_models  # noqa: F401
from lookout.security import models as security_models  # noqa: F401
from lookout.optional import optional_module
from lookout.store.base import Base

for _mod in ("lookout.media.models", "lookout.health.models", "lookout.counting.models", "lookout.safety.models",
             "lookout.federation.models"):
    optional_module(_mod)  # a capability without tables yet is skipped

metadata = Base.metadata
