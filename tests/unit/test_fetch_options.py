"""--fetch-ca / --fetch-proxy (provision/keyfetch.configure): a bad value is a usage error that
never quotes a proxy's login; the recorded command line hides a login in any URL; a proxy
spec's Gradle targets are checked when the playbook loads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from provision import keyfetch
from provision.cli import recorded_command
from provision.errors import UsageError
from provision.resources.proxy import ProxySpec


@pytest.fixture(autouse=True)
def reset():
    yield
    keyfetch.configure(None, None)


def test_a_bad_proxy_is_refused_without_its_login():
    with pytest.raises(UsageError) as info:
        keyfetch.configure(None, 'http://u:s3cr"t@proxy:3128')
    assert "--fetch-proxy" in str(info.value) and "s3cr" not in str(info.value)


def test_a_ca_file_that_is_not_pem_is_refused(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    for path in (bad, tmp_path / "missing.pem"):
        with pytest.raises(UsageError, match="not a readable PEM bundle"):
            keyfetch.configure(str(path), None)


def test_the_recorded_command_hides_a_login():
    line = recorded_command(["apply", "x.yml", "--fetch-proxy", "http://alice:s3cret@proxy:3128"], ())
    assert "s3cret" not in line and "alice:********@proxy:3128" in line


@pytest.mark.parametrize("field, value", [("gradle_users", ["Bob;rm"]), ("gradle_properties", ["relative/x"])])
def test_bad_gradle_targets_are_refused(field, value):
    with pytest.raises(ValidationError):
        ProxySpec.model_validate({"url": "http://proxy:3128", field: value})
