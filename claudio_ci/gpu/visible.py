"""`CUDA_VISIBLE_DEVICES`: which devices a command may use, as CUDA reads the variable.

Entries are NVML indices (`0,2`), GPU UUIDs or unique prefixes of them (`GPU-8f1c...`) and
MIG UUIDs (`MIG-...`). As in CUDA, the list ends at the first entry that names no device;
an empty value or `-1` hides every GPU. Indices are NVML's (PCI bus) order, which is CUDA's
order under `CUDA_DEVICE_ORDER=PCI_BUS_ID`; UUIDs mean the same in both, so `--gpus` sets UUIDs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from claudio_ci.gpu.readings import DeviceReading

VARIABLE = "CUDA_VISIBLE_DEVICES"


@dataclass(frozen=True)
class Visibility:
    """`allowed` None: every device; else the UUIDs named (a GPU's MIG slices included)."""

    allowed: frozenset[str] | None = None

    def admits(self, device: DeviceReading) -> bool:
        if self.allowed is None:
            return True
        return device.uuid in self.allowed or (device.parent_uuid or "") in self.allowed

    def names(self, device: DeviceReading) -> bool:
        """The variable names this device: it counts as used even without process lists."""
        return self.allowed is not None and self.admits(device)


def _resolve(entry: str, devices: Sequence[DeviceReading]) -> str | None:
    if entry.isdigit():
        for d in devices:
            if d.index == int(entry):
                return d.parent_uuid if d.mig and d.parent_uuid else d.uuid
        return None
    candidates = {d.uuid for d in devices} | {d.parent_uuid for d in devices if d.parent_uuid}
    matches = [uuid for uuid in candidates if uuid.startswith(entry)]
    return matches[0] if len(matches) == 1 else None


def visibility(environ: Mapping[str, str], devices: Sequence[DeviceReading]) -> Visibility:
    value = environ.get(VARIABLE)
    if value is None:
        return Visibility()
    named: list[str] = []
    for entry in (e.strip() for e in value.split(",")):
        uuid = _resolve(entry, devices) if entry else None
        if uuid is None:
            break
        named.append(uuid)
    return Visibility(frozenset(named))
