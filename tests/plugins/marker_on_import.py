"""Marker on import: writes ``marker_on_import.imported`` next to itself when imported.

Lets a test prove that a blocked plugin's code never ran: the marker must not exist.
"""

from __future__ import annotations

from pathlib import Path

from tokenworks import hookimpl

Path(__file__).with_name("marker_on_import.imported").write_text("imported\n")


@hookimpl
def attribution():
    return "Marker data by *nobody*."
