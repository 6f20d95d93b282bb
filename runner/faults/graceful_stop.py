"""A graceful stop: SIGTERM to the main process of one replica, which may finish (drain) its in-flight
requests before it exits; the container (or local supervisor) restarts it. What happened to the requests
in flight at the signal is summary.json's `in_flight` (completed = drained)."""

from __future__ import annotations

from runner.faults.process_signal import ProcessSignal

FAULTS = (
    ProcessSignal(name="frontend_sigterm", role="frontend", kind="process", order=13, signal_name="TERM",
                  migration_variants=False),
    ProcessSignal(name="decode_worker_sigterm", role="decode", kind="process", order=23, signal_name="TERM"),
    ProcessSignal(name="prefill_worker_sigterm", role="prefill", kind="process", order=53, signal_name="TERM"),
)
