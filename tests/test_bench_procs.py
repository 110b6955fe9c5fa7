"""The benchmarks' CPU meter (bench._procs): what it reports is what the README's figures rest on."""

from __future__ import annotations

import subprocess
import sys
import uuid

from bench import _procs

BURN = "import sys, time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\n"


def test_a_process_that_exits_during_the_measurement_is_counted() -> None:
    # As a PostgreSQL backend of a connection closed mid-run: not alive when the meter stops.
    marker = f"cpu-meter-{uuid.uuid4().hex}"
    meter = _procs.CpuMeter(
        {"burners": lambda: _procs.pids_with_cmdline(marker)}, per_process=frozenset({"burners"})
    )
    meter.start()
    subprocess.run([sys.executable, "-c", BURN, marker], check=True)  # noqa: S603 - our own code
    used = meter.stop()

    assert used["burners"] >= 0.3  # seen while it ran, up to its last look: most of the 0.6 s
    assert used["machine"] >= used["burners"]
