"""The typed run config: YAML in, one frozen ``RunConfig`` out, validated.

``schema`` turns plain data into frozen dataclasses (types, ranges, unknown
keys); ``sections`` and ``families`` declare the sections; ``run`` assembles
them, reads YAML and applies ``--set`` overrides. Standard library and PyYAML
only: never TensorFlow.
"""

from aigc_cli.config.families import (MODEL_CONFIGS, ClassifierConfig, DCGANConfig,
                                      DenoiserConfig, DenoisingVAEConfig, DiffusionConfig,
                                      VAEConfig, upsampling_plan)
from aigc_cli.config.run import (RunConfig, apply_overrides, build_config, config_hash,
                                 dump_config, load_config, save_config,
                                 warn_if_a_schedule_ends_early)
from aigc_cli.config.sections import (DatasetConfig, NoiseConfig, OptimizerConfig,
                                      OutputConfig, TrainingConfig)

__all__ = [
    "MODEL_CONFIGS", "ClassifierConfig", "DCGANConfig", "DatasetConfig", "DenoiserConfig",
    "DenoisingVAEConfig", "DiffusionConfig", "NoiseConfig", "OptimizerConfig", "OutputConfig",
    "RunConfig", "TrainingConfig", "VAEConfig", "apply_overrides", "build_config", "config_hash",
    "dump_config", "load_config", "save_config", "upsampling_plan",
    "warn_if_a_schedule_ends_early",
]
