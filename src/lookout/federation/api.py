"""REST of the federation capability (GB/T 28181 devices and admission alerts), mounted under /api/v1."""

from lookout.federation.gb28181.api import router

__all__ = ["router"]
