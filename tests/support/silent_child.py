"""A process that neither says it is ready nor exits soon: what the writer process's start timeout is for."""

import time

time.sleep(60)
