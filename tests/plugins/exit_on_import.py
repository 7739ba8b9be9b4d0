"""Exit on import: calls sys.exit() while being imported. The host must record it as a
failed plugin and go on, not exit."""

import sys

sys.exit("exit_on_import does not want to be loaded")
