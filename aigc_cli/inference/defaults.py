"""What ``--precision auto`` and ``--ensemble auto`` (the defaults of ``aigc denoise``
and ``aigc eval``) pick on this machine, and why.

The rule: the best quality that stays at 20x or more BM3D's per-image speed, as
measured side by side (docs/denoising.md, "Defaults per machine"). With AMX-BF16
the built-ins ran 39-42x BM3D's speed with a 4-way self-ensemble (+0.09 dB over one
pass), so 4; an 8-way one would sit at the 20x line. The gray built-in grown to
15 x 96 (2026-12-03) runs its 4 passes at 24.9x. AVX512-BF16 (AMD Zen 4) is
slower: one bfloat16 pass of the gray built-in ran at 45x BM3D, two at 18-23x and
four at 10x, so 1; once grown to 15 x 96 its one pass ran at 18.2x, at ~90% of those
cores' bfloat16 peak, so there ``auto`` also picks the gray built-in slimmed to 80
channels (``gray-slim``). In float32 on an AVX2-only CPU one pass already runs at
12-16x, so 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aigc_cli.models.assets import has_builtin_denoiser
from aigc_cli.models.precision import bfloat16_unit

#: ``--ensemble auto`` in bfloat16, per native bfloat16 unit (None: emulated).
AUTO_BFLOAT16_ENSEMBLE = {"gpu": 4, "amx_bf16": 4, "avx512_bf16": 1, None: 1}
#: Built-ins that ``--ensemble auto`` swaps for a cheaper one, per native bfloat16 unit.
AUTO_BFLOAT16_BUILTINS = {"avx512_bf16": {"gray": "gray-slim"}}


@dataclass(frozen=True)
class DenoiseSettings:
    precision: str  # float32 or bfloat16
    ensemble: int
    reason: str  # what auto saw on this machine
    builtins: dict = field(default_factory=dict)  # a built-in's name -> the one to run

    def builtin(self, name: str | None) -> str | None:
        """The built-in (or run) to load for ``--model name``."""
        return self.builtins.get(name, name)

    def describe(self) -> str:
        """One line for ``--verbose``."""
        return f"precision {self.precision}, self-ensemble {self.ensemble}: {self.reason}"


def resolve_denoise_settings(precision: str, ensemble: int | str) -> DenoiseSettings:
    """``--precision`` and ``--ensemble`` with ``auto`` decided for this machine."""
    unit, why = bfloat16_unit()
    if precision == "auto":
        precision = "bfloat16" if unit is not None else "float32"
        reason = f"auto precision, as {why}"
    else:
        reason = f"precision {precision} as asked ({why})"
    builtins = {}
    if ensemble == "auto":
        ensemble = AUTO_BFLOAT16_ENSEMBLE[unit] if precision == "bfloat16" else 1
        reason += f"; auto self-ensemble {ensemble} for {precision}"
        swaps = AUTO_BFLOAT16_BUILTINS.get(unit, {}) if precision == "bfloat16" else {}
        builtins = {name: cheaper for name, cheaper in swaps.items()
                    if has_builtin_denoiser(cheaper)}
        for name, cheaper in builtins.items():
            reason += f"; the built-in {name} runs as {cheaper} (its full pass is under 20x " \
                      "BM3D's speed here)"
    return DenoiseSettings(precision, int(ensemble), reason, builtins)
