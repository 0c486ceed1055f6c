"""The allocator setting that keeps freed step buffers in the heap."""

from __future__ import annotations

import platform
import resource

import pytest
import torch

from sessionrec.runtime.memory import retain_freed_buffers


@pytest.mark.skipif(platform.system() != "Linux" or not platform.libc_ver()[0], reason="glibc only")
def test_freed_large_buffers_are_reused_without_page_faults() -> None:
    assert retain_freed_buffers() is True
    assert retain_freed_buffers() is True  # once per process, idempotent

    def faults_for_one_buffer() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.ones(2_000_000).sum()  # 8 MB: above glibc's default mmap threshold
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    faults_for_one_buffer()  # the first one grows the heap
    # a fresh 8 MB mapping would fault in about 2,000 pages; a reused heap block almost none
    assert min(faults_for_one_buffer() for _ in range(5)) < 100


def test_oversubscription_is_told_from_load_threads_and_cores() -> None:
    from sessionrec.runtime.contention import contention_message

    assert contention_message(2, 0.1, 2) is None  # an idle machine
    assert contention_message(1, 1.4, 2) is None  # within the margin
    message = contention_message(2, 2.0, 2)  # another 2-thread run on 2 cores
    assert message is not None and "load average 2.0 on 2 cores" in message and "--threads 1" in message
    assert contention_message(2, None, 2) is None  # no load average on this platform
