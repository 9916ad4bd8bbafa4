"""Float32 operator kernels. Every module in this package registers its operators."""

import importlib
import pkgutil

from workbench.engine.ops.registry import (
    OpContext,
    check_supported,
    prepare,
    register,
    supported_ops,
)

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name != "registry":
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["OpContext", "check_supported", "prepare", "register", "supported_ops"]
