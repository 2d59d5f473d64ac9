"""GB/T 28181 device access: the platform side (a SIP server) that NVRs and IPCs register to.

sip.py (messages), digest.py (authentication), manscdp.py (XML bodies), presence.py (online state),
catalog.py (split catalog answers) are pure; store.py writes the database; server.py is the asyncio
UDP/TCP server; config.py its settings.
"""
