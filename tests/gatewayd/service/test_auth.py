"""AuthService: secrets hashed and compared in constant time; HS256 tokens with a kid, expiry
against the handed-in clock, rotation, and revocation of disabled clients."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import jwt
import pytest

from gatewayd.service.auth import (
    AuthService,
    Principal,
    ScryptParams,
    SigningKeys,
    hash_secret,
    new_client_credentials,
    verify_secret,
)
from gatewayd.service.errors import InvalidCredentials, InvalidToken, TokenExpired
from tests.http_api.world import (
    CLIENT_A,
    FAST_HASH,
    KEY_1,
    KEY_2,
    SECRET_A,
    SECRET_B,
    T0,
    World,
    build_world,
)


@pytest.fixture
async def world() -> World:
    return await build_world()


def test_secret_hash_round_trip_and_format() -> None:
    stored = hash_secret("s3cret", FAST_HASH)
    assert stored.startswith("scrypt$256$8$1$")
    assert verify_secret("s3cret", stored)
    assert not verify_secret("s3cret ", stored)
    assert hash_secret("s3cret", FAST_HASH) != stored  # salted


@pytest.mark.parametrize("stored", ["", "plain", "scrypt$x$8$1$AA==$AA==", "bcrypt$1$2$3$4$5"])
def test_malformed_hash_never_matches(stored: str) -> None:
    assert not verify_secret("anything", stored)


def test_default_hash_cost_is_production_grade() -> None:
    assert ScryptParams().n >= 2**14


def test_new_credentials_are_random_and_long() -> None:
    first, second = new_client_credentials(), new_client_credentials()
    assert first != second
    assert len(first[0]) >= 20 and len(first[1]) >= 43


def test_keys_are_at_least_32_bytes_and_signing_kid_exists() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        SigningKeys("k1", {"k1": b"short"})
    with pytest.raises(ValueError, match="not among"):
        SigningKeys("k2", {"k1": KEY_1})


async def test_issue_and_verify(world: World) -> None:
    token, expires_in = await world.auth.issue_token(CLIENT_A, SECRET_A, T0)
    assert expires_in == 2_592_000
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("HS256", "k1")
    principal = world.auth.verify(token, T0 + timedelta(days=29))
    assert principal == Principal("acc-a", CLIENT_A)
    assert principal.actor == "api:client-a"


@pytest.mark.parametrize(
    ("client_id", "secret"), [(CLIENT_A, SECRET_B), ("nobody", SECRET_A), (CLIENT_A, "")]
)
async def test_wrong_credentials(world: World, client_id: str, secret: str) -> None:
    with pytest.raises(InvalidCredentials, match="Invalid credentials"):
        await world.auth.issue_token(client_id, secret, T0)


async def test_inactive_client_gets_no_token(world: World) -> None:
    client = await world.store.get_api_client(CLIENT_A)
    world.store._clients[CLIENT_A] = dataclasses.replace(client, active=False)
    with pytest.raises(InvalidCredentials):
        await world.auth.issue_token(CLIENT_A, SECRET_A, T0)


async def test_token_expires_at_ttl(world: World) -> None:
    token, ttl = await world.auth.issue_token(CLIENT_A, SECRET_A, T0)
    world.auth.verify(token, T0 + timedelta(seconds=ttl - 1))
    with pytest.raises(TokenExpired, match="expired"):
        world.auth.verify(token, T0 + timedelta(seconds=ttl))


async def test_custom_ttl() -> None:
    world = await build_world()
    auth = AuthService(world.store, world.auth.keys, token_ttl=900, hash_params=FAST_HASH)
    _, expires_in = await auth.issue_token(CLIENT_A, SECRET_A, T0)
    assert expires_in == 900


async def test_rotation_old_kid_still_verifies_unknown_kid_does_not(world: World) -> None:
    old_token, _ = await world.auth.issue_token(CLIENT_A, SECRET_A, T0)
    rotated = AuthService(
        world.store, SigningKeys("k2", {"k1": KEY_1, "k2": KEY_2}), hash_params=FAST_HASH
    )
    new_token, _ = await rotated.issue_token(CLIENT_A, SECRET_A, T0)
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert rotated.verify(old_token, T0).client_id == CLIENT_A
    with pytest.raises(InvalidToken):  # k2 is not known to the old configuration
        world.auth.verify(new_token, T0)
    retired = AuthService(world.store, SigningKeys("k2", {"k2": KEY_2}), hash_params=FAST_HASH)
    with pytest.raises(InvalidToken):
        retired.verify(old_token, T0)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode({"sub": "client-a", "acc": "acc-a", "exp": 2**40, "iss": "gatewayd"}, KEY_1),
        jwt.encode(
            {"sub": "client-a", "acc": "acc-a", "exp": 2**40, "iss": "gatewayd"},
            b"z" * 32,
            headers={"kid": "k1"},
        ),
        jwt.encode(
            {"sub": "client-a", "acc": "acc-a", "exp": 2**40, "iss": "other"},
            KEY_1,
            headers={"kid": "k1"},
        ),
        jwt.encode(
            {"sub": "client-a", "exp": 2**40, "iss": "gatewayd"}, KEY_1, headers={"kid": "k1"}
        ),
        jwt.encode(
            {"sub": "client-a", "acc": "acc-a", "exp": 2**40, "iss": "gatewayd"},
            None,
            algorithm="none",
            headers={"kid": "k1"},
        ),
    ],
    ids=["garbage", "no-kid", "wrong-key", "wrong-issuer", "no-account", "alg-none"],
)
async def test_forged_or_malformed_tokens_are_refused(world: World, token: str) -> None:
    with pytest.raises(InvalidToken):
        world.auth.verify(token, T0)


async def test_authenticate_notices_a_disabled_client(world: World) -> None:
    token, _ = await world.auth.issue_token(CLIENT_A, SECRET_A, T0)
    assert (await world.auth.authenticate(token, T0)).account_id == "acc-a"
    client = await world.store.get_api_client(CLIENT_A)
    world.store._clients[CLIENT_A] = dataclasses.replace(client, active=False)
    assert await world.auth.authenticate(token, T0 + timedelta(seconds=5))  # cached a while
    with pytest.raises(InvalidToken):
        await world.auth.authenticate(token, T0 + timedelta(seconds=31))


async def test_secret_check_runs_through_offload(world: World) -> None:
    calls: list[str] = []

    async def offload(work):  # type: ignore[no-untyped-def]
        calls.append("offloaded")
        return work()

    auth = AuthService(world.store, world.auth.keys, hash_params=FAST_HASH, offload=offload)
    await auth.issue_token(CLIENT_A, SECRET_A, T0)
    with pytest.raises(InvalidCredentials):
        await auth.issue_token("nobody", SECRET_A, T0)  # the decoy hash is offloaded too
    assert calls == ["offloaded", "offloaded"]


async def test_verified_tokens_are_remembered_but_still_expire(world: World) -> None:
    token, ttl = await world.auth.issue_token(CLIENT_A, SECRET_A, T0)
    first = world.auth.verify(token, T0)
    assert world.auth.verify(token, T0) is first  # from memory, no second HMAC
    with pytest.raises(TokenExpired):
        world.auth.verify(token, T0 + timedelta(seconds=ttl))
