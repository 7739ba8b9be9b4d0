"""Job-title functions on O*NET and BLS data."""
