"""tokenworks: a registry of analytical functions with a meter.

Plugin authors need only what is exported here::

    from tokenworks import hookimpl, blocks
"""

__version__ = "0.1.0"

from . import blocks
from .hookspecs import hookimpl
from .spec import FunctionSpec

__all__ = ["FunctionSpec", "__version__", "blocks", "hookimpl"]
