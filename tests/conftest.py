"""Shared fixtures: real services (PostgreSQL, Mosquitto) found or reported.

A developer's run skips a service-backed test with the reason when the service is absent;
with GATEWAYD_REQUIRE_SERVICES=1 (as `.ci/run` sets) its absence fails the test instead.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_HOST = os.environ.get("GATEWAYD_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("GATEWAYD_TEST_PG_PORT", "5432"))
POSTGRES_DSN = os.environ.get(
    "GATEWAYD_TEST_PG_DSN", f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"
)
MQTT_HOST = os.environ.get("GATEWAYD_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("GATEWAYD_TEST_MQTT_PORT", "1883"))


def services_required() -> bool:
    """True when a missing service must fail the run (CI), not skip the test."""
    return os.environ.get("GATEWAYD_REQUIRE_SERVICES", "") not in ("", "0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip (developer) or fail (CI) the calling test when host:port does not answer."""
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if services_required():
        pytest.fail(f"{reason} and GATEWAYD_REQUIRE_SERVICES is set", pytrace=False)
    pytest.skip(f"{reason}; set GATEWAYD_REQUIRE_SERVICES=1 to make this a failure")


@pytest.fixture
def postgres_dsn() -> str:
    """DSN of the CI PostgreSQL server (trust auth, database `test`)."""
    need_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    return POSTGRES_DSN


@pytest.fixture
def mqtt_address() -> tuple[str, int]:
    """Host and port of the Mosquitto broker."""
    need_service("Mosquitto", MQTT_HOST, MQTT_PORT)
    return MQTT_HOST, MQTT_PORT
