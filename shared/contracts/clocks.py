from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel


class Clocks(BaseModel):
    """Durations the workflow waits on, fixed when a request starts so its timers replay identically."""

    accept_within: dict[str, timedelta]
    due_within: dict[str, timedelta]
    recommendation_reminder_after: timedelta
