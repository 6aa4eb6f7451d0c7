"""rmtool.launch: the ``gen-run-vmm.sh`` helper as a library (docs/launch.md).

:func:`plan_launch` turns a :class:`LaunchConfig` (TOML, :func:`load_config`) and
:class:`LaunchOptions` (the reference script's switches) into a :class:`LaunchPlan`: the
VMM arguments, the Realm build and measurements (through :func:`rmtool.measure.measure_vmm`),
the DTB to load; :func:`script_text` renders the run script.
"""

from __future__ import annotations

from rmtool.launch._argv import LaunchOptions, check_options
from rmtool.launch._config import LaunchConfig, load_config, with_overrides
from rmtool.launch._plan import LaunchPlan, host_caps, plan_launch, script_text
from rmtool.launch._script import write_script
from rmtool.launch.hosts import HOST_PROFILES, caps_from_profiles, toml_text

__all__ = ["HOST_PROFILES", "LaunchConfig", "LaunchOptions", "LaunchPlan", "caps_from_profiles",
           "check_options", "host_caps", "load_config", "plan_launch", "script_text",
           "toml_text", "with_overrides", "write_script"]
