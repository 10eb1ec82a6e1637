"""A slow machine, made repeatable: the debuggee connects to debugpy's adapter 4 s late.

``debugpy.listen`` starts the adapter (whose client port then answers DAP ``initialize``) and only
afterwards connects the debuggee to it (``debugpy.server.api._settrace``). On a loaded machine
that gap can take seconds; here it always does. Any DAP session that ends inside the gap makes
the adapter exit for good, so this service shows whether devenv's readiness wait touches the
port too early.
"""

import importlib.abc
import importlib.util
import sys
import time

DELAY = 4.0
TARGET = "debugpy.server.api"


class _Delay(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):  # type: ignore[no-untyped-def]
            run(module)
            settrace = module._settrace

            def late(*args, **kwargs):  # type: ignore[no-untyped-def]
                time.sleep(DELAY)
                return settrace(*args, **kwargs)

            module._settrace = late

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _Delay())
