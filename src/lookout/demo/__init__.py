"""`lookout demo`: a living demo district on the embedded default (SQLite).

``seed`` creates the district; ``run_demo`` starts the camera simulator, the simulated turnstiles
(a holiday surge on one scenic area), a camera that develops a fault, and serves the platform.
"""

from lookout.demo.run import run_demo
from lookout.demo.seed import DEMO_PASSWORD, SITES, USERS, seed

__all__ = ["DEMO_PASSWORD", "SITES", "USERS", "run_demo", "seed"]
