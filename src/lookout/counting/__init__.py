"""Visitor counting: people across entrance lines and inside zones from video, counts from
turnstiles, ticketing, laser/infrared counters, WiFi and LBS, fused into site occupancy.

Stable entry points for other capabilities:
- ``lookout.counting.sources.ingest_samples(session, site_id, samples, now)`` — store count
  samples once each (API, video workers, ``lookout replay``);
- ``lookout.counting.fusion.site_occupancy(session, site_id, now)`` → ``OccupancySnapshot``
  (site_id, ts, present, entered_today, exited_today, zones, notes, day), published on the bus
  as ``site.<id>.occupancy`` by ``fusion.publish_occupancy``;
- ``lookout.counting.pipeline.CountingPipeline`` and ``PROFILES`` — per-camera detection,
  tracking, lines and zones (run by ``lookout.runtime.pipeline_worker``);
- ``lookout count VIDEO`` — the whole pipeline on a file (``counting.cli``).
"""
