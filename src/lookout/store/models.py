"""Imports every capability's models so that one metadata holds the whole schema (for Alembic)."""

from lookout.registry import models as registry_models  # noqa: F401
from lookout.security import models as security_models  # noqa: F401
from lookout.store.base import Base

for _mod in ("lookout.media.models", "lookout.health.models", "lookout.counting.models", "lookout.safety.models",
             "lookout.federation.models"):
    try:
        __import__(_mod)
    except ModuleNotFoundError as exc:  # a capability without tables yet
        if exc.name != _mod:
            raise

metadata = Base.metadata
