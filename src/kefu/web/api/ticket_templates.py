"""(being written)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
#: upload routes (POST path -> largest file in bytes) allowed past the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {}
