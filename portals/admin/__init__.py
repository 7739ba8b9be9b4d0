"""Admin portal pages: each module has one ``page()``, which re-checks the role."""
