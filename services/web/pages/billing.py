"""The billing screens."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from services.web.session import check_csrf

router = APIRouter(dependencies=[Depends(check_csrf)])
