"""The Daraja adapter against the fake Daraja: token cache, retries, timeouts, error mapping."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from billing.mpesa import StkPushAccepted
from gatewayd.adapters.daraja import DarajaClient, DarajaConfig
from gatewayd.service.ports_mpesa import DarajaRejected, DarajaUnavailable
from tests.fakes import daraja as fake

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


async def push(client: DarajaClient) -> StkPushAccepted:
    return await client.stk_push(
        amount_kes=10,
        phone="254708374149",
        account_reference="REF1",
        description="SMS top-up",
        now=NOW,
    )


class Ticks:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def server() -> AsyncIterator[fake.FakeDaraja]:
    daraja = fake.FakeDaraja()
    await daraja.start()
    yield daraja
    await daraja.close()


def config(base_url: str, **changes: object) -> DarajaConfig:
    values: dict[str, object] = {
        "consumer_key": fake.CONSUMER_KEY,
        "consumer_secret": fake.CONSUMER_SECRET,
        "shortcode": fake.SHORTCODE,
        "passkey": fake.PASSKEY,
        "callback_url": "https://gw.example/mpesa/callback",
        "base_url": base_url,
        "timeout_s": 2.0,
    }
    values.update(changes)
    return DarajaConfig(**values)  # type: ignore[arg-type]


async def test_the_token_is_cached_until_shortly_before_it_expires(
    server: fake.FakeDaraja,
) -> None:
    ticks = Ticks()
    async with DarajaClient(config(server.base_url), clock=ticks) as client:
        await push(client)
        await push(client)
        assert server.token_requests == 1
        ticks.t += 3599 - 61
        await push(client)
        assert server.token_requests == 1
        ticks.t += 2  # inside the renewal margin
        await push(client)
        assert server.token_requests == 2
    assert len(server.pushes) == 4


async def test_a_revoked_token_is_renewed_once_and_the_call_retried(
    server: fake.FakeDaraja,
) -> None:
    async with DarajaClient(config(server.base_url)) as client:
        await push(client)
        server.revoke_tokens()
        accepted = await push(client)
    assert accepted.checkout_request_id == server.pushes[-1].checkout_request_id
    assert server.token_requests == 2


async def test_wrong_consumer_secret_is_rejected_without_leaking_it(
    server: fake.FakeDaraja,
) -> None:
    async with DarajaClient(config(server.base_url, consumer_secret="wrong-secret")) as client:
        with pytest.raises(DarajaRejected) as caught:
            await push(client)
    assert caught.value.code == "auth"
    assert "wrong-secret" not in str(caught.value)


def test_secrets_stay_out_of_the_config_repr() -> None:
    text = repr(config("https://sandbox.safaricom.co.ke"))
    assert fake.CONSUMER_SECRET not in text and fake.PASSKEY not in text
    assert fake.CONSUMER_KEY in text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"shortcode": "17a"}, "shortcode"),
        ({"passkey": ""}, "passkey"),
        ({"consumer_key": ""}, "consumer_key"),
        ({"callback_url": "gw.example/cb"}, "callback_url"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_a_bad_config_fails_at_construction_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        config("https://sandbox.safaricom.co.ke", **change)


async def test_a_refused_push_maps_to_rejected_and_a_server_error_to_unavailable(
    server: fake.FakeDaraja,
) -> None:
    async with DarajaClient(config(server.base_url)) as client:
        server.push_status = 400
        with pytest.raises(DarajaRejected) as caught:
            await push(client)
        assert (caught.value.code, caught.value.description) == (
            "400.002.02", "Bad Request - Invalid PhoneNumber",
        )  # fmt: skip
        server.push_status = 503
        server.push_error = {"errorCode": "503.001.01", "errorMessage": "Service Unavailable"}
        with pytest.raises(DarajaUnavailable, match=r"503\.001\.01"):
            await push(client)


async def test_a_slow_daraja_times_out(server: fake.FakeDaraja) -> None:
    server.delay_s = 1.0
    async with DarajaClient(config(server.base_url, timeout_s=0.1)) as client:
        with pytest.raises(DarajaUnavailable, match="timed out"):
            await push(client)


async def test_an_unreachable_daraja_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the client connects
    async with DarajaClient(config(f"http://127.0.0.1:{port}")) as client:
        with pytest.raises(DarajaUnavailable, match="unreachable"):
            await client.stk_query("ws_CO_1", now=NOW)


async def test_query_is_none_while_processing_then_the_result(server: fake.FakeDaraja) -> None:
    async with DarajaClient(config(server.base_url)) as client:
        accepted = await push(client)
        assert await client.stk_query(accepted.checkout_request_id, now=NOW) is None
        server.settle(accepted.checkout_request_id, 1032)
        result = await client.stk_query(accepted.checkout_request_id, now=NOW)
        assert result is not None and (result.result_code, result.succeeded) == (1032, False)
        with pytest.raises(DarajaRejected, match="Invalid CheckoutRequestID"):
            await client.stk_query("ws_CO_nope", now=NOW)
