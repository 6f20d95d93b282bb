"""The common per-request record, and readers for both clients' exports.

Every metric comes from these records (DESIGN §3 rule 2). One record is one
attempt: a retry is a second record, never a replacement of the first.
Times are UTC epoch nanoseconds from the client's clock (the runner's host).

aiperf's `profile_export.jsonl` lines are large (every inter-chunk latency);
the reader decodes only the fields it needs with msgspec, which is what makes
millions of records readable in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec


# Where a record's end_ns comes from (DESIGN §3 rule 2: a time nobody measured is marked).
END_CLIENT = "client"  # the client measured it
END_SERVER = "server"  # the client did not; the frontend's completion time, on the runner's clock, fills it
END_START = "start"  # nobody measured it: end_ns is the start, and the attempt is classified by its start


# gc=False: records hold only scalars and strings, so they can never be part of a
# reference cycle; keeping a million of them out of the cycle collector's tracking
# makes reading a large export about a sixth faster.
class Record(msgspec.Struct, frozen=True, gc=False):
    start_ns: int
    end_ns: int
    ok: bool
    client: str = ""
    attempt: int = 0
    status: int | None = None  # HTTP status when one was received
    error: str | None = None  # short error text for failures
    latency_ms: float | None = None
    ttft_ms: float | None = None
    itl_ms: float | None = None
    output_tokens: int | None = None
    phase: str = "load"
    request_id: str | None = None  # the X-Request-Id the client sent, the key of the join with the frontend's log
    end_source: str = END_CLIENT
    replica: str | None = None  # the decode replica that served it, from the request join


# --- aiperf ---------------------------------------------------------------


class _Value(msgspec.Struct, gc=False):
    value: float | int | None = None


class _AiperfMetrics(msgspec.Struct, gc=False):
    request_latency: _Value | None = None
    time_to_first_token: _Value | None = None
    inter_token_latency: _Value | None = None
    output_sequence_length: _Value | None = None


class _AiperfMeta(msgspec.Struct, gc=False):
    request_start_ns: int
    request_end_ns: int | None = None
    x_request_id: str | None = None
    benchmark_phase: str | None = None
    was_cancelled: bool = False


class _AiperfError(msgspec.Struct, gc=False):
    code: int | None = None
    type: str | None = None
    message: str | None = None


class _AiperfLine(msgspec.Struct, gc=False):
    metadata: _AiperfMeta
    metrics: _AiperfMetrics | None = None
    error: _AiperfError | None = None


_aiperf_decoder = msgspec.json.Decoder(_AiperfLine)


class MalformedExport(ValueError):
    """A client export that cannot be read; names the file and line."""


def _aiperf_record(line: _AiperfLine, client: str, attempt: int, phase: str) -> Record:
    meta = line.metadata
    metrics = line.metrics or _AiperfMetrics()
    end = meta.request_end_ns or meta.request_start_ns
    latency = metrics.request_latency.value if metrics.request_latency else None
    if line.error is not None:
        err = line.error
        text = f"{err.code} {err.type}" if err.code is not None else (err.type or "error")
        # aiperf 0.13 writes request_end_ns == request_start_ns for an error: it did not measure the end
        measured = latency is not None or (meta.request_end_ns or 0) > meta.request_start_ns
        return Record(
            start_ns=meta.request_start_ns,
            end_ns=end,
            ok=False,
            client=client,
            attempt=attempt,
            status=err.code,
            error=text,
            latency_ms=latency,
            phase=phase,
            request_id=meta.x_request_id,
            end_source=END_CLIENT if measured else END_START,
        )
    if latency is not None and meta.request_end_ns is None:
        end = meta.request_start_ns + int(latency * 1e6)
    return Record(
        start_ns=meta.request_start_ns,
        end_ns=end,
        ok=not meta.was_cancelled,
        client=client,
        attempt=attempt,
        status=200,
        error="cancelled" if meta.was_cancelled else None,
        latency_ms=latency,
        ttft_ms=metrics.time_to_first_token.value if metrics.time_to_first_token else None,
        itl_ms=metrics.inter_token_latency.value if metrics.inter_token_latency else None,
        output_tokens=int(metrics.output_sequence_length.value)
        if metrics.output_sequence_length and metrics.output_sequence_length.value is not None
        else None,
        phase=phase,
        request_id=meta.x_request_id,
    )


# aiperf lines are ~4 KB; with the default 8 KiB buffer, reading lines costs
# more than decoding them.
_READ_BUFFER_BYTES = 1 << 20
_INTER_CHUNK_LATENCIES = b'"inter_chunk_latency":{"value":['


def _without_inter_chunk_latencies(raw: bytes) -> bytes | bytearray:
    """The line minus its inter-chunk latencies (~100 numbers, half of a streamed line's bytes).

    No Record field uses them, and even skipped values must be scanned: cutting
    them out first makes decoding a streamed line about a third faster. The key
    cannot match inside a JSON string (its quotes would be escaped there), and
    the array holds only numbers, so its first "]" closes it.
    """
    # On a streamed success line the first "[" opens this very array; a one-byte
    # search is several times faster than searching for the key.
    start = raw.find(b"[") + 1
    if not start or not raw.endswith(_INTER_CHUNK_LATENCIES, 0, start):
        start = raw.find(_INTER_CHUNK_LATENCIES)
        if start < 0:
            return raw
        start += len(_INTER_CHUNK_LATENCIES)
    end = raw.find(b"]", start)
    if end < 0:
        return raw
    shortened = bytearray(raw)  # one copy; cheaper than joining two slices
    del shortened[start:end]
    return shortened


def iter_aiperf(path: Path, client: str = "", attempt: int = 0, phase: str = "load") -> Iterator[Record]:
    """Records of one aiperf `profile_export.jsonl` (warmup lines skipped)."""
    with path.open("rb", buffering=_READ_BUFFER_BYTES) as fh:
        yield from iter_aiperf_lines(fh, str(path), client, attempt, phase)


def iter_aiperf_lines(lines: Iterable[bytes], source: str = "<aiperf export>", client: str = "", attempt: int = 0,
                      phase: str = "load") -> Iterator[Record]:
    """Records of aiperf export lines (e.g. the newly written tail of a live export)."""
    decode = _aiperf_decoder.decode
    for lineno, raw in enumerate(lines, 1):
        if raw.isspace():  # unlike strip(), no copy of the line
            continue
        try:
            line = decode(_without_inter_chunk_latencies(raw))
        except msgspec.DecodeError:
            try:
                line = decode(raw)  # judge the line as it was written
            except msgspec.DecodeError as exc:
                if raw.endswith(b"\n"):
                    raise MalformedExport(f"{source}:{lineno}: not an aiperf record ({exc})") from exc
                break  # a line still being written by a live export
        if line.metadata.benchmark_phase not in (None, "profiling"):
            continue
        yield _aiperf_record(line, client, attempt, phase)


# --- legacy client ----------------------------------------------------------


class LegacyAttempt(msgspec.Struct):
    """One try inside a legacy JSONL line. status/url/pod/request_elapsed_time are the seed's fields."""

    status: int | str | None
    request_elapsed_time: float
    url: str = ""
    pod: str = ""
    start_ns: int = 0
    end_ns: int = 0
    ok: bool = False
    error: str | None = None
    ttft_ms: float | None = None
    itl_ms: float | None = None
    output_tokens: int | None = None
    request_id: str | None = None  # the X-Request-Id sent with this try


class LegacyLine(msgspec.Struct):
    time: str
    results: list[LegacyAttempt]
    total_time: float
    request_index: int = 0


_legacy_decoder = msgspec.json.Decoder(LegacyLine)
legacy_encoder = msgspec.json.Encoder()


def iter_legacy(path: Path, client: str = "", phase: str = "load") -> Iterator[Record]:
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                line = _legacy_decoder.decode(raw)
            except msgspec.DecodeError as exc:
                if raw.endswith(b"\n"):
                    raise MalformedExport(f"{path}:{lineno}: not a legacy client record ({exc})") from exc
                break
            for n, a in enumerate(line.results):
                yield Record(
                    start_ns=a.start_ns,
                    end_ns=a.end_ns,
                    ok=a.ok,
                    client=client,
                    attempt=n,
                    status=a.status if isinstance(a.status, int) else None,
                    error=a.error,
                    latency_ms=a.request_elapsed_time * 1000.0,
                    ttft_ms=a.ttft_ms,
                    itl_ms=a.itl_ms,
                    output_tokens=a.output_tokens,
                    phase=phase,
                    request_id=a.request_id,
                )


# --- discovery in a result tree -----------------------------------------------


def load_tree(directory: Path, phase: str = "load") -> list[Record]:
    """All records under one load directory, whichever client wrote them.

    aiperf: `client_*/attempt_*/profile_export.jsonl`; legacy: `client_*.log.txt`.
    """
    records: list[Record] = []
    for export in sorted(directory.glob("client_*/attempt_*/profile_export.jsonl")):
        attempt = int(export.parent.name.split("_")[-1])
        records.extend(iter_aiperf(export, client=export.parent.parent.name, attempt=attempt, phase=phase))
    for log in sorted(directory.glob("client_*.log.txt")):
        records.extend(iter_legacy(log, client=log.name.removesuffix(".log.txt"), phase=phase))
    return records

