"""Registry: tiers, sites, devices, channels, zones and counting lines; GB/T 28181 codes; the ledger."""
