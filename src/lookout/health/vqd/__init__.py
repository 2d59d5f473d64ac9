"""Video quality diagnosis: pure functions on numpy frames, one module per fault family."""

from lookout.health.vqd.frames import BadFrame
from lookout.health.vqd.suite import FAULTS, Diagnosis, VqdConfig, diagnose

__all__ = ["FAULTS", "BadFrame", "Diagnosis", "VqdConfig", "diagnose"]
