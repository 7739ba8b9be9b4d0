"""The five job-title functions, one module each; `common` holds what they share."""
