"""What ``--precision auto`` and ``--ensemble auto`` (the defaults of ``aigc denoise``
and ``aigc eval``) pick on this machine, and why.

The rule: the best quality that stays at 20x or more BM3D's per-image speed, as
measured side by side (docs/denoising.md, "Defaults per machine"). Where bfloat16
is native the built-ins ran 39-42x BM3D's speed with a 4-way self-ensemble
(+0.09 dB over one pass), so 4; an 8-way one would sit at the 20x line. In float32
on an AVX2-only CPU one pass already runs at 12-16x, so 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from aigc_cli.models.precision import native_bfloat16

#: ``--ensemble auto`` per resolved precision.
AUTO_ENSEMBLE = {"bfloat16": 4, "float32": 1}


@dataclass(frozen=True)
class DenoiseSettings:
    precision: str  # float32 or bfloat16
    ensemble: int
    reason: str  # what auto saw on this machine

    def describe(self) -> str:
        """One line for ``--verbose``."""
        return f"precision {self.precision}, self-ensemble {self.ensemble}: {self.reason}"


def resolve_denoise_settings(precision: str, ensemble: int | str) -> DenoiseSettings:
    """``--precision`` and ``--ensemble`` with ``auto`` decided for this machine."""
    native, why = native_bfloat16()
    if precision == "auto":
        precision = "bfloat16" if native else "float32"
        reason = f"auto precision, as {why}"
    else:
        reason = f"precision {precision} as asked ({why})"
    if ensemble == "auto":
        ensemble = AUTO_ENSEMBLE[precision]
        reason += f"; auto self-ensemble {ensemble} for {precision}"
    return DenoiseSettings(precision, int(ensemble), reason)
