"""Pricing: which rate a GPU model gets, MIG shares, energy, the shipped table."""

from __future__ import annotations

import pytest

from claudio_ci.core.settings import GpuSection, build
from claudio_ci.gpu.pricing import Pricing, shipped_rates
from claudio_ci.gpu.usage import MJ_PER_KWH, GpuUsage


@pytest.mark.parametrize(
    ("model", "rate"),
    [
        ("NVIDIA H100 80GB HBM3", 3.95),
        ("NVIDIA H100 PCIe", 3.95),
        ("NVIDIA A100-SXM4-80GB", 2.5),  # "A100 80GB" has more words than "A100"
        ("NVIDIA A100 80GB PCIe", 2.5),
        ("NVIDIA A100-SXM4-40GB", 1.48),
        ("NVIDIA A100-SXM4-40GB MIG 3g.20gb", 1.48),
        ("Tesla T4", 0.59),
        ("NVIDIA L4", 0.8),
        ("NVIDIA L40S", 1.95),  # not L4: words, not substrings
        ("NVIDIA A10", 0.86),
        ("NVIDIA GH200 480GB", None),  # not H200, not H100
        ("NVIDIA A10G", None),
    ],
)
def test_the_shipped_table_matches_models_by_words(model: str, rate: float | None) -> None:
    assert Pricing().hourly_rate(model)[0] == rate


def test_your_rates_win_over_the_shipped_table_and_the_default_fills_gaps() -> None:
    rates = {"hourly_rates": {"h100": 2.0, "NVIDIA A10G": 1.01}, "default_hourly_rate": 0.5}
    pricing = Pricing.from_config(build(GpuSection, rates))
    assert pricing.hourly_rate("NVIDIA H100 80GB HBM3") == (2.0, "gpu.hourly_rates['h100']")
    assert pricing.hourly_rate("NVIDIA A10G")[0] == 1.01
    assert pricing.hourly_rate("NVIDIA A100-SXM4-80GB") == (2.5, "shipped rates of 2026-05-07")
    assert pricing.hourly_rate("Mystery GPU") == (0.5, "gpu.default_hourly_rate")


def test_cost_is_gpu_hours_times_rate_times_share_plus_energy() -> None:
    usage = GpuUsage("MIG-1", "NVIDIA H100 80GB HBM3 MIG 3g.40gb", True, 0.5, 7200.0, None)
    assert Pricing().cost(usage).cost == pytest.approx(2 * 3.95 * 0.5)
    whole = GpuUsage("GPU-1", "NVIDIA H100 80GB HBM3", seconds=3600.0, energy_mj=2 * MJ_PER_KWH)
    priced = Pricing(energy_price_per_kwh=0.25).cost(whole)
    assert priced.cost == pytest.approx(3.95 + 2 * 0.25)
    assert priced.hourly_rate == 3.95


def test_an_unpriced_model_costs_nothing_but_says_so() -> None:
    priced = Pricing().cost(GpuUsage("GPU-1", "NVIDIA B200", seconds=3600.0))
    assert (priced.hourly_rate, priced.rate_origin, priced.cost) == (None, "no rate", 0.0)


def test_the_shipped_table_states_date_and_source_of_every_rate() -> None:
    rates = shipped_rates()
    assert rates.date == "2026-05-07"
    assert "Approximate" in rates.note
    assert set(rates.sources) == set(rates.rates)
    assert all("https://" in source for source in rates.sources.values())
