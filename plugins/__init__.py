"""Built-in plugins. Each is written against the public contract like any third-party one."""
