"""The baseline: no fault at all."""

from runner.faults.base import Fault

FAULTS = (Fault(name="none", role="", kind="none", order=0, migration_variants=False),)
