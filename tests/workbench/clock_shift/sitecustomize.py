"""Put this directory on a process's PYTHONPATH with CHAOS_CLOCK_SHIFT_SECONDS=-3600 and every
Python process it starts has its wall clock (time.time, datetime.now) an hour behind, through
time-machine; monotonic clocks and timed waits stay real (libfaketime breaks those). Used by
bench/chaos.py's worker-clock fault and tests/integration/test_worker_health.py."""

import os

if shift := os.environ.get("CHAOS_CLOCK_SHIFT_SECONDS"):
    import time

    import time_machine

    _travel = time_machine.travel(time.time() + float(shift), tick=True)
    _travel.start()
