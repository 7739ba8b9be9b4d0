"""User portal pages: each module has one ``page()``."""
