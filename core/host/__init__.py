"""The host: the one door through which the portals, the REST API and the CLI reach the
plugins, the meter and the store.

``Host`` (host.py) is the door itself; plugins.py has what callers may know of the plugins
before a host exists (the CLI's plugin commands); api_keys.py and portal_sessions.py hold
the logic of the credentials the host issues.
"""

from .host import Host
from .plugins import Discovery, PluginView, discover_plugins, plugin_commands, strict_from_env

__all__ = ["Discovery", "Host", "PluginView", "discover_plugins", "plugin_commands",
           "strict_from_env"]
