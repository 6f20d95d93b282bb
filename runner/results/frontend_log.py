"""The Dynamo frontend's own view of each request, read from its log.

The frontend (1.6.1) logs every HTTP request under its own `request_id`, and,
when the client sent an `X-Request-Id`, under that `x_request_id` too:
`request received`, `Selected worker`, `migration retry scheduled` (one per
retry), `request completed` (status, error_type, elapsed_ms, decode and
prefill worker ids) and `http response sent` (the HTTP status). A request the
frontend refuses before its handler runs (503 "model not ready", 404 while no
worker is registered) has only the `http response sent` line: such requests
are never counted by `dynamo_frontend_requests_total` either.

Lines are JSON objects (DYN_LOGGING_JSONL=1; the local platform sets it),
optionally prefixed by the kubelet's RFC 3339 timestamp (`kubectl logs
--timestamps`), or the tracing text format (`<time> LEVEL target: message
key=value ...`) when JSONL is off. Times are the frontend's clock: the join
estimates each log's offset from the runner's clock.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from pathlib import Path

import msgspec

RECEIVED = "request received"
COMPLETED = "request completed"
RESPONSE_SENT = "http response sent"
MIGRATION = "migration retry scheduled"
MIGRATION_EXHAUSTED = "migration retries exhausted"  # also logged for every would-be migration at limit 0
SELECTED = "Selected worker"
LOG_SUFFIXES = (".log",)
NOT_REQUEST_LOGS = (".metrics.log",)
_MARKER = b"request_id"


class ServerRequest(msgspec.Struct, gc=False):
    """One request as one frontend log saw it; times are that log's clock (epoch ns)."""

    request_id: str
    log: str  # the log file it came from (the pod name, plus .previous for a restarted container)
    x_request_id: str | None = None
    received_ns: int | None = None
    completed_ns: int | None = None  # `request completed`, else `http response sent` (a refusal's only line)
    http_status: int | None = None
    outcome: str | None = None  # success | error
    error_type: str | None = None
    elapsed_ms: float | None = None
    decode_worker: str | None = None
    prefill_worker: str | None = None
    migrations: int = 0
    migrations_refused: int = 0  # `migration retries exhausted`: the limit (0 when migration is off) was reached

    @property
    def counted(self) -> bool:
        """Whether the frontend's request counter saw it (it counts from `request received`)."""
        return self.received_ns is not None


def parse_time_ns(text: str) -> int:
    """RFC 3339 UTC time with up to 9 fractional digits ('2026-12-01T09:46:00.269273Z') -> epoch ns."""
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC RFC 3339 time: {text!r}")
    whole, _, fraction = text[:-1].partition(".")
    date, _, clock = whole.partition("T")
    year, month, day = (int(p) for p in date.split("-"))
    hour, minute, second = (int(p) for p in clock.split(":"))
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return seconds * 1_000_000_000 + int((fraction or "0")[:9].ljust(9, "0"))


_TEXT_LINE = re.compile(
    r"^(?P<time>\S+Z)\s+(?P<level>[A-Z]+)\s+(?:(?P<target>[\w:]+):\s+)?(?P<message>.*?)(?=\s+[\w.]+=|$)(?P<rest>.*)$"
)
_TEXT_FIELD = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S+)')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_json_decoder = msgspec.json.Decoder(dict)


def _text_fields(line: str) -> dict | None:
    """The tracing crate's text format: time, level, target, message, then key=value pairs."""
    match = _TEXT_LINE.match(_ANSI.sub("", line))
    if not match:
        return None
    fields = {"time": match["time"], "target": match["target"] or "", "message": match["message"].strip()}
    for key, value in _TEXT_FIELD.findall(match["rest"]):
        fields[key] = value[1:-1] if value.startswith('"') else value
    return fields


def line_fields(raw: bytes) -> dict | None:
    """The fields of one log line, or None for a line that is not a structured log event."""
    kubelet_time = None
    if not raw.startswith(b"{"):
        head, _, rest = raw.partition(b" ")
        if rest.lstrip().startswith(b"{"):
            kubelet_time, raw = head.decode(), rest.lstrip()
    if raw.startswith(b"{"):
        try:
            fields = _json_decoder.decode(raw)
        except msgspec.DecodeError:
            return None
    else:
        fields = _text_fields(raw.decode(errors="replace").strip())
    if fields is not None and kubelet_time and "time" not in fields:
        fields["time"] = kubelet_time
    return fields


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _status(value) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _apply(request: ServerRequest, fields: dict, at_ns: int) -> None:
    message = fields.get("message")
    request.x_request_id = request.x_request_id or fields.get("x_request_id")
    if message == RECEIVED:
        request.received_ns = at_ns
    elif message == COMPLETED:
        request.completed_ns = at_ns
        request.outcome = fields.get("status")
        request.error_type = fields.get("error_type") or None
        request.elapsed_ms = _number(fields.get("elapsed_ms"))
        request.decode_worker = _text(fields.get("decode_worker_id"))
        request.prefill_worker = _text(fields.get("prefill_worker_id"))
    elif message == RESPONSE_SENT:
        request.http_status = _status(fields.get("status"))
        if request.completed_ns is None:
            request.completed_ns = at_ns
    elif message == MIGRATION:
        request.migrations += 1
    elif message == MIGRATION_EXHAUSTED:
        request.migrations_refused += 1
    elif message == SELECTED and request.decode_worker is None:
        request.decode_worker = _text(fields.get("worker_id"))


def _text(value) -> str | None:
    return None if value in (None, "") else str(value)


class LogView(msgspec.Struct):
    """What one process log says about requests: the frontend's request lines, or the worker instance
    ids a worker's own `request received` lines carry (which name the replica behind a worker id)."""

    requests: list[ServerRequest]
    worker_instances: set[str]


def _is_worker_line(fields: dict) -> bool:
    return "instance_id" in fields or "ingress" in str(fields.get("target", ""))


def _timed_request_fields(raw: bytes) -> tuple[dict, int] | None:
    fields = line_fields(raw.strip())
    if not fields or not fields.get("request_id") or "time" not in fields:
        return None
    try:
        return fields, parse_time_ns(str(fields["time"]))
    except ValueError:
        return None


def parse_log_lines(lines: Iterable[bytes], log: str) -> LogView:
    """Requests of one process log in the order they first appear (none for a worker's log)."""
    requests: dict[str, ServerRequest] = {}
    instances: set[str] = set()
    for raw in lines:
        if _MARKER not in raw:
            continue
        timed = _timed_request_fields(raw)
        if timed is None:
            continue
        fields, at_ns = timed
        if _is_worker_line(fields):
            if fields.get("instance_id"):
                instances.add(str(fields["instance_id"]))
            continue
        request_id = str(fields["request_id"])
        request = requests.setdefault(request_id, ServerRequest(request_id=request_id, log=log))
        _apply(request, fields, at_ns)
    seen = [r for r in requests.values() if r.received_ns is not None or r.completed_ns is not None]
    return LogView(requests=seen, worker_instances=instances)


def request_logs(tree: Path) -> list[Path]:
    """Every process log of a scenario tree (`<service>/<pod>.log`, `.previous.log`), whichever platform wrote it."""
    found = []
    for path in sorted(Path(tree).glob("*/*.log")):
        if path.name.endswith(NOT_REQUEST_LOGS) or path.parent.name.startswith("client_"):
            continue
        found.append(path)
    return found


def replica_of_log(log: str) -> str:
    """The replica (pod) a log belongs to: `<pod>.previous` is the same pod's restarted container."""
    return log.removesuffix(".previous")


class TreeView(msgspec.Struct):
    requests: list[ServerRequest]
    replica_of_worker: dict[str, str]  # worker instance id (decimal) -> replica name


def read_tree_logs(tree: Path) -> TreeView:
    """The requests every frontend log under the tree saw, and which replica each worker id is."""
    requests: list[ServerRequest] = []
    replicas: dict[str, str] = {}
    for path in request_logs(tree):
        with path.open("rb") as fh:
            view = parse_log_lines(fh, path.name.removesuffix(".log"))
        requests.extend(view.requests)
        replicas.update({instance: replica_of_log(path.name.removesuffix(".log")) for instance in view.worker_instances})
    return TreeView(requests=requests, replica_of_worker=replicas)
