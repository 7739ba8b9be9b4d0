"""Helpers for package_plugin, imported relatively from its __init__."""

from __future__ import annotations

from pydantic import BaseModel


class ShoutInput(BaseModel):
    text: str


def shout(text: str) -> str:
    return text.upper() + "!"
