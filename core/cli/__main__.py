"""`python -m tokenworks.cli`: the same as the `tokenworks` command."""

from . import main

main()
