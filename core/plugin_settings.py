"""Plugin settings: a plugin's [plugin_settings.NAME] section, checked against its model.

A plugin declares a pydantic model through the ``settings_model`` hook. At start the
loader validates the plugin's section of registry.toml against it, so a typo or a wrong
type stops that plugin with an error naming the plugin and the key, never at the first
call. Secrets stay out of the file: ``TOKENWORKS_<PLUGIN>_<FIELD>`` in the environment
sets (and overrides) a field. pydantic-settings would do this too, but for one prefix
and flat fields a dozen lines are clearer than a dependency.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import ConfigError

ENV_PREFIX = "TOKENWORKS_"
SECTION = "plugin_settings"


def env_name(plugin: str, field: str) -> str:
    """The environment variable that sets one field, e.g. TOKENWORKS_WEATHER_API_KEY."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]+", "_", f"{plugin}_{field}").upper()


def resolve_settings(
    plugin: str, model: Any, section: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None = None, source: str = "registry.toml",
) -> BaseModel:
    """Validate a plugin's settings: environment over the section over the defaults.

    ``source`` names where the section was read from (a registry file, or the checker's
    --settings). Raises ConfigError naming the plugin and every bad key, each with where
    its value came from: the section, or the environment variable that set it.
    """
    where = f"{source} [{SECTION}.{plugin}]"
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        raise ConfigError(f"plugin {plugin}: settings_model() must return a pydantic "
                          f"model class, not {model!r}")
    values = dict(section or {})
    known = ", ".join(model.model_fields) or "none"
    problems = [f"unknown key {key!r} (plugin {plugin} takes: {known})"
                for key in sorted(set(values) - set(model.model_fields))]
    environ = os.environ if environ is None else environ
    from_env: dict[str, str] = {}
    for field in model.model_fields:
        variable = env_name(plugin, field)
        if variable in environ:
            values[field] = environ[variable]
            from_env[field] = variable
    settings = None
    try:
        # Lax validation on purpose: environment values are strings ("30" -> 30).
        settings = model.model_validate({k: v for k, v in values.items()
                                         if k in model.model_fields})
    except ValidationError as error:
        problems.extend(_describe(plugin, problem, from_env)
                        for problem in error.errors(include_url=False))
    if problems:
        raise ConfigError(f"{where}: {'; '.join(problems)}")
    assert settings is not None
    return settings


def _describe(plugin: str, problem: Any, from_env: Mapping[str, str]) -> str:
    key = ".".join(str(part) for part in problem["loc"]) or "(section)"
    source = from_env.get(str(problem["loc"][0])) if problem["loc"] else None
    origin = f" (from ${source})" if source else ""
    hint = ""
    if problem["type"] == "missing":
        hint = f"; set it there or in ${env_name(plugin, key)}"
    return f"{key}{origin}: {problem['msg']}{hint}"
