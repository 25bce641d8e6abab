"""How a one-shot command that works on big arrays asks the C allocator for memory.

By default glibc hands a freed block larger than its mmap threshold (at most 32 MiB)
back to the kernel at once, and trims the heap as it shrinks: every large temporary
array (a column of a 1M-account book is 77 MB) is then mapped afresh, its pages faulted
in and zeroed one by one, and unmapped again. Threads that do this at the same time
wait on each other in the kernel (the process's memory map is one lock), so numpy
work on two threads ran little faster than on one. `keep_freed_memory` keeps freed
memory in the heap for the next allocation instead: `outcomes score` on the 100k book,
two runs each on a quiet machine, 59.0 / 58.2 s -> 56.9 / 56.6 s, peak 2.52 -> 2.38 /
2.46 GB.

Only for commands that exit when done (`outcomes score`): a long-running process (the
Slack app) would keep its largest job's memory for good.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1   # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 30   # blocks up to 1 GiB come from the heap
TRIM_THRESHOLD_BYTES = (1 << 31) - 1   # the heap keeps up to 2 GiB of free memory (an int)


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (see module doc); False where the C
    library is not glibc (nothing changes there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
