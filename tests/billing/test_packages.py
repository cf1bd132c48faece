"""Packages: a rate in cents per unit, a minimum, and prices in integer cents."""

from __future__ import annotations

import pytest

from billing import PackageError, Rate, mpesa_amount_kes, price_cents, quote


def test_price_is_units_times_rate_in_cents() -> None:
    rate = Rate("Starter", "safaricom", rate_cents=35, min_units=1000)
    offer = quote(rate, 1234)
    assert (offer.units, offer.amount_cents) == (1234, 43_190)
    assert offer.mpesa_amount_kes == 432  # rounded up: never less than the price
    assert price_cents(80, 1000) == 80_000
    assert mpesa_amount_kes(80_000) == 800


def test_fewer_units_than_the_package_minimum_are_refused_naming_units() -> None:
    rate = Rate("Starter", "airtel", rate_cents=50, min_units=1000)
    with pytest.raises(PackageError) as caught:
        quote(rate, 999)
    assert caught.value.field == "units"
    assert "at least 1000 units" in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": " "}, "name"),
        ({"operator": "Safaricom"}, "operator"),
        ({"operator": ""}, "operator"),
        ({"rate_cents": 0}, "rate_cents"),
        ({"rate_cents": 0.5}, "rate_cents"),
        ({"min_units": 0}, "min_units"),
    ],
)
def test_invalid_packages_name_the_field(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "name": "Bulk", "operator": "telkom", "rate_cents": 30, "min_units": 1
    }  # fmt: skip
    values.update(kwargs)
    with pytest.raises(PackageError) as caught:
        Rate(**values)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize("units", [0, -5, True, 2.0])
def test_units_must_be_a_positive_whole_number(units: object) -> None:
    with pytest.raises(PackageError, match=r"^units: "):
        price_cents(30, units)  # type: ignore[arg-type]
