"""The result tree in S3-compatible storage: client, upload, manifest, retries.

Layout: `s3://BUCKET/PREFIX/<run-id>/<path inside the run directory>`, e.g.
`s3://b/p/run-1/vllm-agg-tp-1-dp-1-none/summary.json`. Every object carries its
sha256 in the user metadata (`x-amz-meta-sha256`): an object whose stored
sha256 matches the local file is not sent again. `manifest.json` (path, size,
sha256 of every file of the run) is uploaded last, and only when every other
file is in the store: its presence means the run's upload is complete.

Credentials come only from the standard boto3 chain (environment, shared
files, instance/pod roles). This module never reads, logs or writes them; error
texts are scrubbed of the resolved credential values as a second guard.

A store outage never raises out of the Uploader: each pass returns an
UploadReport naming what was not uploaded and why.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import boto3
import botocore.exceptions as bce
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from runner.core import exits
from runner.core.config import S3Config
from runner.core.errors import UserError

MANIFEST = "manifest.json"
SHA_META = "sha256"
MANIFEST_VERSION = "1"

MiB = 1024 * 1024

# Error codes that will not go away by retrying and concern every object of the pass.
_FATAL_CODES = {
    "InvalidAccessKeyId": "the store does not know this access key",
    "SignatureDoesNotMatch": "the store rejected the secret key (signature does not match)",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is invalid",
    "TokenRefreshRequired": "the session token has expired",
    "AccessDenied": "access denied by the store's policy",
    "AllAccessDisabled": "access to the bucket is disabled",
    "NoSuchBucket": "the bucket does not exist",
    "InvalidBucketName": "the bucket name is not valid",
    "PermanentRedirect": "the bucket is in another region (set --s3-region)",
    "AuthorizationHeaderMalformed": "the region does not match the bucket's (set --s3-region)",
}
_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "503",
    "500",
    "502",
    "504",
}
_CREDENTIAL_HINT = "credentials come from the standard AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance/pod role"


# --- addresses ------------------------------------------------------------------


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix"); bad input is a UserError."""
    if not url.startswith("s3://"):
        raise UserError(f"{url!r} is not an S3 URL: write it as s3://BUCKET[/PREFIX]")
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise UserError(f"{url!r} names no bucket: write it as s3://BUCKET[/PREFIX]")
    return bucket, prefix.strip("/")


def join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def is_safe_relpath(path: str) -> bool:
    """A manifest path that stays inside the run directory."""
    p = PurePosixPath(path)
    return bool(path) and not p.is_absolute() and ".." not in p.parts and "\\" not in path


# --- client ---------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Our own bounded loop around each transfer, on top of botocore's retries."""

    tries: int = 6
    first_backoff_s: float = 0.5
    max_backoff_s: float = 15.0
    botocore_attempts: int = 3
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.first_backoff_s * (2 ** attempt))


def make_client(s3: S3Config, retry: RetryPolicy = RetryPolicy()):
    """A boto3 S3 client configured from S3Config; credentials from the standard chain.

    An unset endpoint lets boto3 use AWS_ENDPOINT_URL(_S3) or AWS itself.
    """
    session = boto3.session.Session(region_name=s3.region) if s3.region else boto3.session.Session()
    config = Config(
        retries={"mode": "standard", "max_attempts": retry.botocore_attempts},
        connect_timeout=retry.connect_timeout_s,
        read_timeout=retry.read_timeout_s,
        s3={"addressing_style": s3.addressing_style},
        user_agent_extra="dynamo-ft-runner",
    )
    client = session.client("s3", endpoint_url=s3.endpoint, config=config)
    return client


def _secrets_of(client) -> list[str]:
    """The resolved credential values, only to scrub them out of error texts."""
    try:
        creds = client._request_signer._credentials  # resolved when the client was made
        if creds is None:
            return []
        frozen = creds.get_frozen_credentials()
    except Exception:  # noqa: BLE001 - scrubbing must never fail a pass
        return []
    return [v for v in (frozen.secret_key, frozen.token) if v]


def scrub(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


# --- error classification ---------------------------------------------------------


def _client_error(exc: BaseException) -> bce.ClientError | None:
    seen = exc
    for _ in range(4):  # S3UploadFailedError wraps the ClientError as its context
        if isinstance(seen, bce.ClientError):
            return seen
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            return None
        seen = nxt
    return None


def error_code(exc: BaseException) -> str:
    ce = _client_error(exc)
    if ce is not None:
        return str(ce.response.get("Error", {}).get("Code") or ce.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
    return type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (bce.HTTPClientError, bce.ConnectionError)):
        return True  # connection refused/reset/closed, timeouts
    ce = _client_error(exc)
    if ce is not None:
        status = ce.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error_code(ce) in _TRANSIENT_CODES or status >= 500
    if isinstance(exc, S3UploadFailedError):
        ctx = exc.__context__
        return ctx is not None and is_transient(ctx)
    return False


def is_fatal(exc: BaseException) -> bool:
    """Errors that concern every object (credentials, bucket): stop the pass."""
    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError, bce.NoRegionError)):
        return True
    return error_code(exc) in _FATAL_CODES


def describe(exc: BaseException, bucket: str, endpoint: str | None) -> str:
    """One line for a human: what went wrong and what to do. Never the credential values."""
    where = f"bucket {bucket!r}" + (f" at {endpoint}" if endpoint else "")
    if isinstance(exc, bce.NoCredentialsError):
        return f"no S3 credentials found for {where}: {_CREDENTIAL_HINT}"
    if isinstance(exc, bce.PartialCredentialsError):
        return f"incomplete S3 credentials for {where}: {_CREDENTIAL_HINT}"
    code = error_code(exc)
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired"):
        return f"credentials rejected by {where} ({code}: {_FATAL_CODES[code]}); {_CREDENTIAL_HINT}"
    if code in ("AccessDenied", "403"):
        return f"access denied to {where} (AccessDenied): grant s3:GetObject, s3:PutObject and s3:ListBucket on it"
    if code == "NoSuchBucket" or (code == "404" and _is_bucket_op(exc)):
        return f"{where} does not exist (NoSuchBucket): create it or fix --s3-bucket"
    if code in _FATAL_CODES:
        return f"{where}: {code}: {_FATAL_CODES[code]}"
    if isinstance(exc, (bce.HTTPClientError, bce.ConnectionError)):
        return f"store unreachable ({where}): {type(exc).__name__}"
    ce = _client_error(exc)
    if ce is not None:
        msg = ce.response.get("Error", {}).get("Message") or ""
        return f"{where}: {code}" + (f": {msg}" if msg else "")
    return f"{where}: {type(exc).__name__}: {exc}"


def _is_bucket_op(exc: BaseException) -> bool:
    ce = _client_error(exc)
    return ce is not None and ce.operation_name in ("HeadBucket", "ListObjectsV2")


def with_retries(fn: Callable[[], object], policy: RetryPolicy, on_retry: Callable[[int, BaseException], None] | None = None,
                 give_up: Callable[[], bool] = lambda: False, sleep: Callable[[float], object] = time.sleep):
    """Call fn until it returns, a non-transient error, `policy.tries` tries, or give_up() says stop."""
    for attempt in range(policy.tries):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below
            if not is_transient(exc) or attempt + 1 >= policy.tries or give_up():
                raise
            if on_retry:
                on_retry(attempt + 1, exc)
            sleep(policy.backoff(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


# --- hashing and the manifest --------------------------------------------------------


def sha256_file(path: Path, chunk: int = MiB) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str


def manifest_json(run_id: str, entries: list[ManifestEntry]) -> str:
    body = {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id,
        "files": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in sorted(entries, key=lambda e: e.path)],
    }
    return json.dumps(body, indent=1) + "\n"


def parse_manifest(text: str | bytes, where: str) -> tuple[str, list[ManifestEntry]]:
    try:
        body = json.loads(text)
        entries = [ManifestEntry(path=str(f["path"]), size=int(f["size"]), sha256=str(f["sha256"])) for f in body["files"]]
        return str(body.get("run_id", "")), entries
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{where} is not a valid manifest ({exc}); re-run the upload of that run") from exc


# --- upload ----------------------------------------------------------------------------


@dataclass
class UploadReport:
    """What one pass did. Keys are full object keys."""

    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # key -> reason
    error: str | None = None  # a reason that concerns the whole pass (credentials, bucket, outage)
    bytes_uploaded: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None

    def lines(self, limit: int = 20) -> list[str]:
        """Human lines: the summary, then what was not uploaded and why."""
        out = [f"upload: {len(self.uploaded)} uploaded, {len(self.skipped)} already in the store, {len(self.failed)} not uploaded"]
        if self.error:
            out.append(f"upload error: {self.error}")
        for key in self.failed[:limit]:
            out.append(f"  not uploaded: {key}" + (f" ({self.errors[key]})" if key in self.errors and self.errors[key] != self.error else ""))
        if len(self.failed) > limit:
            out.append(f"  ... and {len(self.failed) - limit} more")
        return out


EventHook = Callable[[str, str], None]  # (kind, key): uploaded | skipped | retry | failed


class Uploader:
    """Uploads one run's tree: per scenario as soon as it ends, then a final pass with the manifest.

    Never raises on a store problem (missing credentials, bucket, outage): the
    reports say what is not in the store. Safe to call again: what is already
    stored with the same sha256 is skipped.
    """

    def __init__(self, s3: S3Config, run_id: str, run_dir: Path, *, retry: RetryPolicy = RetryPolicy(),
                 multipart_threshold: int = 16 * MiB, multipart_chunksize: int = 16 * MiB, workers: int = 4,
                 on_event: EventHook | None = None, client=None) -> None:
        if not s3.bucket:
            raise ValueError("Uploader needs S3Config.bucket")
        self.s3 = s3
        self.bucket = s3.bucket
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self.retry = retry
        self.workers = max(1, workers)
        self.on_event = on_event
        self.transfer = TransferConfig(multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize,
                                       max_concurrency=4, use_threads=True)
        self._client = client
        self._stored: dict[str, str] = {}  # rel path -> sha256 known to be in the store
        self._hashes: dict[str, tuple[int, int, str]] = {}  # rel -> (size, mtime_ns, sha256)
        self._lock = threading.Lock()

    # - public -

    def key_for(self, rel: str) -> str:
        return join_key(self.s3.prefix, self.run_id, rel)

    def url(self) -> str:
        return "s3://" + join_key(self.bucket, self.s3.prefix, self.run_id)

    def upload_scenario(self, scenario_dir: Path) -> UploadReport:
        scenario_dir = Path(scenario_dir)
        if not scenario_dir.resolve().is_relative_to(self.run_dir.resolve()):
            raise ValueError(f"{scenario_dir} is not inside the run directory {self.run_dir}")
        return self._pass(sorted(p for p in scenario_dir.rglob("*") if p.is_file()))

    def final_pass(self) -> UploadReport:
        """Upload whatever is left (or changed), then manifest.json if everything else is stored."""
        files = sorted(p for p in self.run_dir.rglob("*") if p.is_file() and p.relative_to(self.run_dir).as_posix() != MANIFEST)
        report = self._pass(files)
        manifest_key = self.key_for(MANIFEST)
        try:
            entries = [self._entry(p) for p in files if p.exists()]
            (self.run_dir / MANIFEST).write_text(manifest_json(self.run_id, entries))
        except OSError as exc:  # the local tree itself is at fault; still no exception out of the uploader
            report.failed.append(manifest_key)
            report.errors[manifest_key] = f"cannot write the local manifest: {exc}"
            report.error = report.error or report.errors[manifest_key]
            return report
        if not report.ok:
            report.failed.append(manifest_key)
            report.errors[manifest_key] = "held back until every other file is in the store"
            return report
        started = time.monotonic()
        sub = self._pass([self.run_dir / MANIFEST])  # deterministic: skipped when nothing changed
        report.uploaded += sub.uploaded
        report.skipped += sub.skipped
        report.failed += sub.failed
        report.errors.update(sub.errors)
        report.error = report.error or sub.error
        report.bytes_uploaded += sub.bytes_uploaded
        report.seconds += time.monotonic() - started
        return report

    # - internals -

    def _emit(self, kind: str, key: str) -> None:
        if self.on_event:
            self.on_event(kind, key)

    def client(self):
        if self._client is None:
            self._client = make_client(self.s3, self.retry)
        return self._client

    def _entry(self, path: Path) -> ManifestEntry:
        rel = path.relative_to(self.run_dir).as_posix()
        st = path.stat()
        with self._lock:
            cached = self._hashes.get(rel)
        if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            return ManifestEntry(rel, st.st_size, cached[2])
        digest = sha256_file(path)
        with self._lock:
            self._hashes[rel] = (st.st_size, st.st_mtime_ns, digest)
        return ManifestEntry(rel, st.st_size, digest)

    def _pass(self, files: list[Path]) -> UploadReport:
        report = UploadReport()
        started = time.monotonic()
        try:
            client = self.client()
            secrets = _secrets_of(client)
        except Exception as exc:  # noqa: BLE001 - e.g. a malformed endpoint or region
            report.error = describe(exc, self.bucket, self.s3.endpoint)
            report.failed = [self.key_for(p.relative_to(self.run_dir).as_posix()) for p in files]
            return report
        stop = threading.Event()  # a fatal error or an exhausted outage: no more tries this pass
        fatal: list[str] = []
        existing = self._existing_keys(client)

        def one(path: Path) -> tuple[str, str, int, str | None]:
            rel = path.relative_to(self.run_dir).as_posix()
            key = self.key_for(rel)
            if stop.is_set():
                return ("failed", key, 0, fatal[0] if fatal else "not attempted: the store was unreachable")
            try:
                entry = self._entry(path)
            except OSError as exc:
                return ("failed", key, 0, f"cannot read the local file: {exc.strerror}")
            try:
                if self._already_stored(client, rel, key, entry.sha256, stop, existing):
                    return ("skipped", key, 0, None)
                self._put(client, path, key, entry.sha256, stop)
            except Exception as exc:  # noqa: BLE001 - the pass never raises on a store problem
                reason = scrub(describe(exc, self.bucket, self.s3.endpoint), secrets)
                if is_fatal(exc):
                    if not fatal:
                        fatal.append(reason)
                    stop.set()
                elif is_transient(exc):
                    stop.set()  # retries exhausted: the store is down; the next pass tries again
                return ("failed", key, 0, reason)
            with self._lock:
                self._stored[rel] = entry.sha256
            return ("uploaded", key, entry.size, None)

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="s3-upload") as pool:
            for kind, key, size, reason in pool.map(one, files):
                self._emit(kind, key)
                if kind == "uploaded":
                    report.uploaded.append(key)
                    report.bytes_uploaded += size
                elif kind == "skipped":
                    report.skipped.append(key)
                else:
                    report.failed.append(key)
                    report.errors[key] = reason or "unknown"
        if fatal:
            report.error = fatal[0]
        elif report.failed and stop.is_set():
            first = next(iter(report.errors.values()))
            report.error = f"retries exhausted, {first}"
        report.seconds = time.monotonic() - started
        return report

    def _existing_keys(self, client) -> set[str] | None:
        """The run's keys already in the store (one LIST per 1000 keys), or None to HEAD every file instead."""
        keys: set[str] = set()
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.key_for("") + "/")
            for page in pages:
                keys.update(obj["Key"] for obj in page.get("Contents", []))
        except Exception:  # noqa: BLE001 - no listing (policy, outage): fall back to one HEAD per file
            return None
        return keys

    def _already_stored(self, client, rel: str, key: str, sha: str, stop: threading.Event,
                        existing: set[str] | None = None) -> bool:
        with self._lock:
            if self._stored.get(rel) == sha:
                return True
        if existing is not None and key not in existing:
            return False  # not in the store: no HEAD needed

        def head():
            try:
                return client.head_object(Bucket=self.bucket, Key=key)
            except bce.ClientError as exc:
                # A HEAD error has no body: 403 may be a bad signature or a policy without s3:GetObject.
                # Either way try the PUT, whose error names the cause.
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "403"):
                    return None
                raise

        meta = with_retries(head, self.retry, on_retry=lambda n, e: self._emit("retry", key), give_up=stop.is_set)
        if meta is not None and meta.get("Metadata", {}).get(SHA_META) == sha:
            with self._lock:
                self._stored[rel] = sha
            return True
        return False

    def _put(self, client, path: Path, key: str, sha: str, stop: threading.Event) -> None:
        extra = {"Metadata": {SHA_META: sha}, "ContentType": content_type(path)}

        def put():
            if path.stat().st_size < self.transfer.multipart_threshold:
                with path.open("rb") as body:  # one request; upload_file would start a transfer manager per file
                    client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
            else:
                client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=self.transfer)

        with_retries(put, self.retry, on_retry=lambda n, e: self._emit("retry", key), give_up=stop.is_set)


def content_type(path: Path) -> str:
    name = path.name
    if name.endswith((".log", ".log.txt", ".txt", ".jsonl")):
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(name)
    if guessed in ("text/html", "application/json", "application/xml", "text/xml", "text/yaml", "application/yaml"):
        return guessed + "; charset=utf-8"
    return guessed or "application/octet-stream"


def final_exit_code(test_exit_code: int, upload: UploadReport | None) -> int:
    """The run's exit code: a test failure (1) or bad input (2) wins; else 3 when the upload is incomplete."""
    if test_exit_code != 0:
        return test_exit_code
    if upload is not None and not upload.ok:
        return exits.UPLOAD_INCOMPLETE
    return 0


# --- fail fast ----------------------------------------------------------------------------------

CHECK_RETRY = RetryPolicy(tries=2, first_backoff_s=0.5, botocore_attempts=2, connect_timeout_s=5.0, read_timeout_s=20.0)


def check_writable(s3: S3Config, run_id: str, client=None, retry: RetryPolicy = CHECK_RETRY) -> str | None:
    """Write and remove a small object under the run's prefix; None when that worked, else one line saying why.

    A store that accepts the write but refuses the delete is writable (the object stays under the run)."""
    key = join_key(s3.prefix, run_id, f".ft-runner-write-check-{time.time_ns()}")
    try:
        client = client or make_client(s3, retry)
        with_retries(lambda: client.put_object(Bucket=s3.bucket, Key=key, Body=b"ok\n"), retry)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the one line
        return scrub(describe(exc, s3.bucket, s3.endpoint), _secrets_of(client) if client else [])
    try:
        with_retries(lambda: client.delete_object(Bucket=s3.bucket, Key=key), retry)
    except Exception:  # noqa: BLE001 - see the docstring
        pass
    return None
