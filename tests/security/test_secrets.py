"""No default signing, storage or service secret outside an explicit local mode; the launcher makes its own per
data folder, once, readable by its owner alone."""

from __future__ import annotations

import stat

import pytest
from pydantic import ValidationError

from deploy.local_secrets import SECRETS, read
from deploy.stack import Stack
from shared.settings import LOCAL_SECRETS, Settings

GIVEN = {name: f"{name}-given-0123456789abcdef" for name in LOCAL_SECRETS}


@pytest.fixture
def no_fieldops_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("FIELDOPS_"):
            monkeypatch.delenv(key)


def test_production_is_the_default_and_refuses_to_start_without_each_secret(no_fieldops_env):
    with pytest.raises(ValidationError, match="FIELDOPS_SECRET_KEY"):
        Settings()
    assert Settings(**GIVEN).env == "production"
    for name, default in LOCAL_SECRETS.items():
        with pytest.raises(ValidationError, match=f"FIELDOPS_{name.upper()}"):
            Settings(**{**GIVEN, name: None})
        with pytest.raises(ValidationError, match=f"FIELDOPS_{name.upper()}"):  # nor the development value
            Settings(**{**GIVEN, name: default})


@pytest.mark.parametrize("mode", ["local", "test"])
def test_only_an_explicit_local_mode_has_development_secrets(no_fieldops_env, mode):
    settings = Settings(env=mode)
    assert {name: getattr(settings, name) for name in LOCAL_SECRETS} == LOCAL_SECRETS
    assert Settings(env=mode, secret_key="mine-" * 8).secret_key == "mine-" * 8


def test_the_launcher_makes_secrets_once_per_data_folder_and_reuses_them(no_fieldops_env, tmp_path):
    first = Stack(env={"FIELDOPS_DATA_DIR": str(tmp_path / "a")})
    assert first.settings.env == "local"
    path = tmp_path / "a" / "secrets.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    made = {name: first.environ[name] for name in SECRETS}
    assert len(set(made.values())) == len(SECRETS) and all(len(value) >= 64 for value in made.values())
    assert read(path) == made
    assert (first.settings.secret_key, first.settings.s3_secret_key, first.settings.internal_token) == (
        made["FIELDOPS_SECRET_KEY"],
        made["FIELDOPS_S3_SECRET_KEY"],
        made["FIELDOPS_INTERNAL_TOKEN"],
    )
    assert not set(made.values()) & set(LOCAL_SECRETS.values())
    # The next start of the same folder reuses them; another folder gets its own.
    again = Stack(env={"FIELDOPS_DATA_DIR": str(tmp_path / "a")})
    assert {name: again.environ[name] for name in SECRETS} == made
    other = Stack(env={"FIELDOPS_DATA_DIR": str(tmp_path / "b")})
    assert not {other.environ[name] for name in SECRETS} & set(made.values())
    # A secret given in the environment wins over the file, which keeps its own.
    given = Stack(env={"FIELDOPS_DATA_DIR": str(tmp_path / "a"), "FIELDOPS_SECRET_KEY": "k" * 40})
    assert given.settings.secret_key == "k" * 40
    assert given.environ["FIELDOPS_INTERNAL_TOKEN"] == made["FIELDOPS_INTERNAL_TOKEN"]
