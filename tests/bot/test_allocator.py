"""bot.allocator: a one-shot command keeps freed memory in the heap for reuse."""

from __future__ import annotations

import subprocess
import sys

import pytest

# In a child process (the setting is process-wide): allocate 100 MB, then read glibc's
# own account of the memory it holds in mmap'd chunks (malloc_info's XML).
CHILD = r"""
import ctypes, ctypes.util, os, re, sys, tempfile
import numpy as np
from bot.allocator import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
block = np.ones(100_000_000 // 8)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
path = os.path.join(tempfile.mkdtemp(), "info.xml")
fp = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, fp)
libc.fclose(fp)
xml = open(path).read()
print(re.search(r'<total type="mmap" count="(\d+)" size="(\d+)"/>', xml).group(2))
"""


def _mmapped_bytes(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], check=True, capture_output=True,
                         text=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_large_block_comes_from_the_heap_once_freed_memory_is_kept():
    assert _mmapped_bytes("plain") >= 100_000_000    # mapped on its own, unmapped when freed
    assert _mmapped_bytes("kept") < 100_000_000      # from the heap, reused when freed

