"""Video quality diagnosis: pure functions on numpy frames, one module per fault family."""

from lookout.health.vqd.frames import BadFrame
from lookout.health.vqd.suite import (FAULTS, Diagnosis, Reference, VqdConfig, diagnose, diagnose_views, frozen_since,
                                      prepare_reference, reference_limits)

__all__ = ["FAULTS", "BadFrame", "Diagnosis", "Reference", "VqdConfig", "diagnose", "diagnose_views", "frozen_since",
           "prepare_reference", "reference_limits"]
