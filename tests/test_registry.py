import pytest

from aigc_cli.config import MODEL_CONFIGS
from aigc_cli.errors import ConfigError
from aigc_cli.models import MODEL_FAMILIES
from aigc_cli.registry import Registry


def test_every_model_family_has_a_config_schema_and_a_builder():
    assert MODEL_FAMILIES.names() == sorted(MODEL_CONFIGS)
    for name in MODEL_FAMILIES.names():
        assert callable(MODEL_FAMILIES.get(name))


def test_unknown_name_lists_the_valid_ones():
    registry = Registry("metric", {"psnr": "math:sqrt", "ssim": "math:sqrt"})
    with pytest.raises(ConfigError, match=r"unknown metric 'pnsr'; did you mean 'psnr'\? "
                                          r"\(choose one of: psnr, ssim\)"):
        registry.get("pnsr")
    assert registry.get("psnr")(9.0) == 3.0
