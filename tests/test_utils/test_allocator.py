"""glibc keeping freed memory in the process (retain_freed_memory)."""
import platform
import subprocess
import sys

import pytest

from tsal_mmpose.utils import allocator, retain_freed_memory

# Allocates and frees a 64 MiB tensor, then counts the page faults of
# allocating and filling a 48 MiB one. Run in a child process: the setting
# lasts for the rest of a process. (torch, unlike numpy, does not ask for
# transparent huge pages, which would hide most faults.)
PROBE = """
import resource, sys
import torch
from tsal_mmpose.utils import retain_freed_memory
if sys.argv[1] == 'retain':
    retain_freed_memory()
n = 64 * 2**20 // 8
a = torch.ones(n, dtype=torch.float64)
del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = torch.ones(n * 3 // 4, dtype=torch.float64)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _refill_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, '-c', PROBE, mode],
                         check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='glibc only')
def test_freed_memory_is_reused_without_page_faults():
    default = _refill_faults('default')
    retained = _refill_faults('retain')
    # glibc unmaps the freed 64 MiB block, so the second tensor faults in
    # its 12,288 pages of 4 KiB anew; retained, it reuses the first one's.
    assert default >= 12288, default
    assert retained < 100, retained


def test_other_c_libraries_are_refused_by_name(monkeypatch):
    monkeypatch.setattr(allocator.platform, 'libc_ver', lambda: ('', ''))
    with pytest.raises(RuntimeError, match='needs glibc'):
        retain_freed_memory()
