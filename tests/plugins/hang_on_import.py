"""Hang on import: sleeps for an hour while being imported. The host must give up on it
after [plugins] import_timeout and start without it."""

import time

time.sleep(3600)
