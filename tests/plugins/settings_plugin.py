"""Settings plugin: declares a settings model and builds its function around the settings.

``[plugin_settings.settings_plugin]`` in registry.toml (or ``TOKENWORKS_SETTINGS_PLUGIN_*``
in the environment) sets ``greeting``, ``repeat`` and the secret ``api_key``; ``salute``
shows what it was given, the key masked, so tests can see which source won.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from tokenworks import blocks, hookimpl


class Settings(BaseModel):
    greeting: str = Field(default="Hello", min_length=1)
    repeat: int = Field(default=1, ge=1, le=5)
    api_key: SecretStr  # required: no default, so a missing key fails the plugin


class SaluteInput(BaseModel):
    name: str = Field(min_length=1, description="Who to salute.")


@hookimpl
def settings_model():
    return Settings


@hookimpl
def register_functions(register, settings: Settings):
    def salute(request: SaluteInput) -> list[blocks.Block]:
        """Salute someone with the configured greeting."""
        key = settings.api_key.get_secret_value()
        return [
            blocks.Markdown(text=" ".join([f"{settings.greeting}, {request.name}."]
                                          * settings.repeat)),
            blocks.Json(data={"key_length": len(key), "key_prefix": key[:2]}),
        ]

    register(salute, title="Salute", cost=1, returns=["markdown", "json"],
             examples=[{"name": "Ada"}])
