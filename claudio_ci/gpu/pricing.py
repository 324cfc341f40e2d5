"""What GPU time costs: `gpu.hourly_rates`, else the shipped table (`rates.json`), else
`gpu.default_hourly_rate`; plus energy at `gpu.energy_price_per_kwh` when both are known.

A rate's key names a GPU model by words: it applies to every model whose NVML name holds
all of its words (case, `-` and `_` ignored), so `A100 80GB` prices "NVIDIA A100-SXM4-80GB"
and "NVIDIA A100 80GB PCIe". The key with the most words wins; a key of yours always wins
over the shipped table. A MIG slice costs its share of the board's rate.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from claudio_ci.core.settings import GpuSection
from claudio_ci.gpu.usage import GpuUsage

RATES_PATH = Path(__file__).with_name("rates.json")
SECONDS_PER_HOUR = 3600.0


def _words(name: str) -> frozenset[str]:
    return frozenset(re.split(r"[\s\-_]+", name.strip().lower())) - {""}


def _best_match(model: str, rates: Mapping[str, float]) -> str | None:
    words = _words(model)
    keys = [key for key in rates if _words(key) and _words(key) <= words]
    return max(keys, key=lambda key: len(_words(key)), default=None)


@dataclass(frozen=True)
class ShippedRates:
    date: str
    note: str
    rates: dict[str, float]
    sources: dict[str, str]  # rate key -> where the price comes from


@functools.cache
def shipped_rates() -> ShippedRates:
    data = json.loads(RATES_PATH.read_text(encoding="utf-8"))
    rates = {key: float(entry["usd_per_hour"]) for key, entry in data["rates"].items()}
    sources = {key: data["sources"][entry["source"]] for key, entry in data["rates"].items()}
    return ShippedRates(data["date"], data["note"], rates, sources)


@dataclass(frozen=True)
class GpuCost:
    hourly_rate: float | None  # None: no rate known for this model
    rate_origin: str
    cost: float


@dataclass(frozen=True)
class Pricing:
    hourly_rates: dict[str, float] = field(default_factory=dict)
    default_hourly_rate: float | None = None
    energy_price_per_kwh: float | None = None
    shipped: ShippedRates = field(default_factory=shipped_rates)

    @classmethod
    def from_config(cls, section: GpuSection) -> Pricing:
        return cls(
            hourly_rates=dict(section.hourly_rates),
            default_hourly_rate=section.default_hourly_rate,
            energy_price_per_kwh=section.energy_price_per_kwh,
        )

    def hourly_rate(self, model: str) -> tuple[float | None, str]:
        """The USD rate for one whole GPU of this model for an hour, and where it came from."""
        mine = _best_match(model, self.hourly_rates)
        if mine is not None:
            return self.hourly_rates[mine], f"gpu.hourly_rates[{mine!r}]"
        shipped = _best_match(model, self.shipped.rates)
        if shipped is not None:
            return self.shipped.rates[shipped], f"shipped rates of {self.shipped.date}"
        if self.default_hourly_rate is not None:
            return float(self.default_hourly_rate), "gpu.default_hourly_rate"
        return None, "no rate"

    def cost(self, usage: GpuUsage) -> GpuCost:
        rate, origin = self.hourly_rate(usage.name)
        cost = 0.0 if rate is None else usage.seconds / SECONDS_PER_HOUR * rate * usage.share
        if self.energy_price_per_kwh is not None and usage.kwh is not None:
            cost += usage.kwh * self.energy_price_per_kwh
        return GpuCost(rate, origin, cost)
