"""Run a command and print its wall time, CPU time and peak memory as JSON.

The kernel's figure for a child's peak memory includes the memory of the process that
forked it (the copy it starts as). The bench holds whole archives in memory, so it runs
each measured command through this small process instead, to count only the command:
the peak resident size of its largest process (it or a worker it waited for).

    python -m benchmarks.peak broadsheet build ...
"""

import json
import os
import subprocess
import sys
import time

if __name__ == "__main__":
    started = time.perf_counter()
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    print(
        json.dumps(
            {
                "exit": os.waitstatus_to_exitcode(status),
                "wall_s": time.perf_counter() - started,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_mb": usage.ru_maxrss / 1024,
            }
        )
    )
