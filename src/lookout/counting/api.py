"""Counting API (mounted under /api/v1).

- ``POST /counts``: a batch of samples from one site's machine client (turnstile, ticketing,
  laser/infrared counter, WiFi/LBS estimator), authenticated by its API key (header
  ``X-API-Key``, limited to one site). Body: a JSON array of samples, or ``{"samples": [...]}``;
  each sample ``{source, seq, ts, in, out}`` or ``{source, seq, ts, present}``. Answer:
  ``{accepted, duplicates, rejected: [...], gaps: {source: [[from, to], ...]}, occupancy}``.
  A retried batch is safe (each (source, seq) is stored once). A malformed sample refuses the
  batch with 422 naming the sample and field.
- ``GET /sites/{site_id}/occupancy``: the fused snapshot, for signed-in users who may see the site.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, status
from sqlalchemy.orm import Session

from lookout.api.deps import api_key, current_user, get_db
from lookout.counting.fusion import publish_occupancy, site_occupancy
from lookout.counting.sources import SampleError, ingest_samples
from lookout.security.models import ApiKey, User

router = APIRouter(tags=["counting"])


def _now() -> datetime:
    return datetime.now(timezone.utc)


@router.post("/counts")
def post_counts(body: Any = Body(...), key: ApiKey = Depends(api_key), db: Session = Depends(get_db)) -> dict[str, Any]:
    samples = body.get("samples") if isinstance(body, dict) else body
    if not isinstance(samples, list):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "body must be a JSON array of samples or {\"samples\": [...]}")
    now = _now()
    try:
        result = ingest_samples(db, key.site_id, samples, now)
    except SampleError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            {"index": exc.index, "field": exc.field, "error": str(exc)}) from exc
    db.flush()
    snapshot = site_occupancy(db, key.site_id, now)
    out = result.to_dict()
    out["occupancy"] = snapshot.to_dict()
    publish_occupancy(snapshot)
    return out


@router.get("/sites/{site_id}/occupancy")
def get_occupancy(site_id: int, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, Any]:
    from lookout.registry.models import Site
    from lookout.security.scope import can_see_site

    site = db.get(Site, site_id)
    if site is None or not can_see_site(user, site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id} not found")
    return site_occupancy(db, site_id, _now()).to_dict()
