from datetime import timedelta

import pytest
from pydantic import ValidationError

from shared.settings import DEV_SECRET, Settings


def test_clocks_take_seconds_or_iso_durations():
    s = Settings(accept_within_urgent="90", due_within_low="P10D", payment_run_every="PT24H")
    assert s.accept_within_urgent == timedelta(seconds=90)
    assert s.due_within_low == timedelta(days=10)
    assert s.payment_run_every == timedelta(hours=24)


def test_production_defaults():
    s = Settings()
    clocks = s.clocks()
    assert clocks.accept_within == {
        "urgent": timedelta(hours=1),
        "high": timedelta(hours=4),
        "normal": timedelta(hours=24),
        "low": timedelta(hours=72),
    }
    assert clocks.due_within == {
        "urgent": timedelta(hours=8),
        "high": timedelta(hours=24),
        "normal": timedelta(days=5),
        "low": timedelta(days=10),
    }
    assert clocks.recommendation_reminder_after == timedelta(hours=48)
    assert s.payment_run_every == timedelta(days=1)


def test_a_bad_duration_is_refused():
    with pytest.raises(ValidationError):
        Settings(accept_within_high="four hours")


def test_production_refuses_the_dev_secret():
    with pytest.raises(ValidationError):
        Settings(env="production", secret_key=DEV_SECRET)
    assert (
        Settings(env="production", secret_key="x" * 40, s3_secret_key="y" * 40, internal_token="z" * 40).env
        == "production"
    )


def test_port_offset_moves_every_port():
    s = Settings(port_offset=1000)
    assert s.gateway_url == "http://127.0.0.1:9000"
    assert s.temporal_target == "127.0.0.1:8233"
    assert s.service_port("notifications") == 9104
