"""Shared test set-up: garbage is collected on every rank between tests.

A test that drops a problem without closing it (or keeps one alive in a reference cycle, e.g. through a monkeypatched
method or an exception's traceback) leaves distributed PETSc objects for the garbage collector. Collected here, on
every rank at the same point, their collective destroy cannot happen on one rank alone inside the next test's
rank-0-only code (the deadlock of issue 10, see fem_dendrite.parallel).
"""
import gc

import pytest


@pytest.fixture(autouse=True)
def _collect_garbage_on_every_rank():
    yield
    gc.collect()
