"""The only module that talks to the Kubernetes API (the official `kubernetes` client, raw JSON).

Every call the runner makes is a method here, so the chart's Role can be read off this file:

  nvidia.com dynamographdeployments: create, get, list, delete, patch  (create_dgd, ..., delete_dgd, patch_dgd)
  core pods: list, watch, get, delete                               (list_pods, watch, get_pod, delete_pod)
  core pods/exec: create (websocket GET/POST upgrade)               (exec)
  core pods/log: get                                                (read_log, follow_log)
  core pods/ephemeralcontainers: patch (opt-in: rbac.networkFaults) (add_ephemeral_container, check_ephemeral_containers)
  apps statefulsets/scale: get, patch (opt-in: rbac.planeOutages)  (get_scale, patch_scale, check_scale)
  apps deployments/scale: get, patch (opt-in: rbac.planeOutages)   (get_scale, patch_scale, check_scale)
  core events: list, watch                                          (watch)
  workstation only: pods/portforward create, pods/proxy get         (port_forward, proxy_get)

The client is synchronous; the platform calls these methods through `asyncio.to_thread`.
Errors become UserError (fixable by the user: no config, unreachable, forbidden, CRD missing)
or PlatformError (anything else), each with one line saying what failed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

from runner.core.errors import UserError
from runner.platforms.base import PlatformError
from runner.platforms.kubernetes.pod_stream import PodStream
from runner.render.dgd import GROUP, PLURAL

ROLE_HINT = "the chart's Role grants it; from a workstation ask for these rights in the namespace"
NETWORK_FAULTS_HINT = ("partition and connection-reset faults add an ephemeral container to the worker pod: install "
                       "the chart with rbac.networkFaults=true (from a workstation: ask for patch on "
                       "pods/ephemeralcontainers in the namespace)")


PLANE_OUTAGES_HINT = ("etcd_outage / nats_outage scale the workload named in kubernetes.outage_targets to 0 and back: "
                      "install the chart with rbac.planeOutages=true (from a workstation: ask for get and patch on "
                      "statefulsets/scale and deployments/scale in the namespace)")
SCALE_CALLS = {"statefulset": ("read_namespaced_stateful_set_scale", "patch_namespaced_stateful_set_scale"),
               "deployment": ("read_namespaced_deployment_scale", "patch_namespaced_deployment_scale")}


def load_client(context: str | None = None):
    """An ApiClient from in-cluster config (when running in a pod) or the kubeconfig."""
    import os

    from kubernetes import client, config

    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            config.load_incluster_config()
            api_client = client.ApiClient()
        else:
            # the client reads $KUBECONFIG once at import; read it now (it may list several files)
            api_client = config.new_client_from_config(config_file=os.environ.get("KUBECONFIG") or None,
                                                       context=context)
    except config.ConfigException as exc:
        raise UserError(f"no usable Kubernetes configuration ({exc}); set KUBECONFIG or run inside a pod") from None
    # watches, log followers, exec and scrapes run concurrently in threads
    api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = 64
    return api_client


class KubeApi:
    def __init__(self, api_client, namespace: str):
        from kubernetes import client

        self.api_client = api_client
        self.namespace = namespace
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.host = api_client.configuration.host

    def _streaming_core(self):
        """A CoreV1Api on its own ApiClient for one exec.

        kubernetes.stream swaps the ApiClient's `request` method for a websocket one
        while the call is set up; on the shared client a concurrent plain call (a pod
        delete, a watch) from another thread would go out as a websocket request."""
        from kubernetes import client

        return client.CoreV1Api(client.ApiClient(self.api_client.configuration))

    # -------------------------------------------------------------- error mapping

    def _call(self, what: str, fn: Callable, *args, missing_ok: bool = False, **kwargs):
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise self._translate(what, exc) from None
        except HTTPError as exc:
            raise UserError(
                f"cannot reach the Kubernetes API server at {self.host} ({type(exc).__name__}); "
                "check KUBECONFIG / --context, or run the runner in the cluster"
            ) from None

    def _translate(self, what: str, exc) -> Exception:
        reason = _status_message(exc)
        if exc.status in (401, 403):
            return UserError(f"forbidden: {what} in namespace {self.namespace} ({reason}); {ROLE_HINT}")
        if exc.status == 404 and "dynamographdeployments" in what and "the server could not find" in reason.lower():
            return UserError(
                f"the DynamoGraphDeployment CRD is not served ({what}: {reason}); install the Dynamo platform "
                "chart, or pick the API version it serves with kubernetes.api_version"
            )
        if exc.status == 422 or exc.status == 400:
            return UserError(f"the API server rejected {what}: {reason}")
        return PlatformError(f"{what} failed: HTTP {exc.status} {reason}")

    # -------------------------------------------------------------- DGDs

    def create_dgd(self, version: str, body: dict) -> dict:
        return self._call(
            f"create dynamographdeployments.{GROUP}/{version}",
            self.custom.create_namespaced_custom_object, GROUP, version, self.namespace, PLURAL, body,
        )

    def get_dgd(self, version: str, name: str) -> dict | None:
        return self._call(
            f"get dynamographdeployments.{GROUP}/{version} {name}",
            self.custom.get_namespaced_custom_object, GROUP, version, self.namespace, PLURAL, name, missing_ok=True,
        )

    def list_dgds(self, version: str, selector: str) -> list[dict]:
        data = self._call(
            f"list dynamographdeployments.{GROUP}/{version}",
            self.custom.list_namespaced_custom_object, GROUP, version, self.namespace, PLURAL,
            label_selector=selector,
        )
        return data.get("items") or []

    def delete_dgd(self, version: str, name: str) -> None:
        self._call(
            f"delete dynamographdeployments.{GROUP}/{version} {name}",
            self.custom.delete_namespaced_custom_object, GROUP, version, self.namespace, PLURAL, name,
            missing_ok=True, propagation_policy="Background",
        )

    def patch_dgd(self, version: str, name: str, body: dict | list, content_type: str) -> dict:
        """A JSON merge patch (a dict) or a JSON patch (a list of operations), as `content_type` says.

        The client's patch_namespaced_custom_object always sends merge-patch+json, so the call is made here."""
        resp = self._call(
            f"patch dynamographdeployments.{GROUP}/{version} {name}", self.api_client.call_api,
            f"/apis/{GROUP}/{version}/namespaces/{self.namespace}/{PLURAL}/{name}", "PATCH",
            header_params={"Content-Type": content_type, "Accept": "application/json"}, body=body,
            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
        )
        return json.loads(resp.data)

    # -------------------------------------------------------------- pods

    def list_pods(self, selector: str) -> tuple[list[dict], str]:
        resp = self._call("list pods", self.core.list_namespaced_pod, self.namespace,
                          label_selector=selector, _preload_content=False)
        data = json.loads(resp.data)
        return data.get("items") or [], data["metadata"].get("resourceVersion", "")

    def get_pod(self, name: str) -> dict | None:
        resp = self._call(f"get pods {name}", self.core.read_namespaced_pod, name, self.namespace,
                          _preload_content=False, missing_ok=True)
        return None if resp is None else json.loads(resp.data)

    def delete_pod(self, name: str, grace_period_s: int) -> dict | None:
        resp = self._call(f"delete pods {name}", self.core.delete_namespaced_pod, name, self.namespace,
                          grace_period_seconds=grace_period_s, _preload_content=False, missing_ok=True)
        return None if resp is None else json.loads(resp.data)

    def add_ephemeral_container(self, pod: str, container: dict) -> dict:
        """Add one ephemeral container to the pod (a strategic merge on the subresource, keyed by name)."""
        resp = self._patch_ephemeral(pod, container)
        return json.loads(resp.data)

    def check_ephemeral_containers(self) -> None:
        """Preflight: a dry-run patch of a pod that does not exist is authorized first, then not found (404,
        fine); without the right it is forbidden, and the error names the values switch."""
        self._patch_ephemeral("ft-runner-preflight-probe", {"name": "ft-runner-preflight", "image": "none"},
                              dry_run="All", missing_ok=True)

    def _patch_ephemeral(self, pod: str, container: dict, **kwargs):
        what = f"patch pods/ephemeralcontainers {pod}"
        try:
            return self._call(what, self.core.patch_namespaced_pod_ephemeralcontainers, pod, self.namespace,
                              {"spec": {"ephemeralContainers": [container]}}, _preload_content=False, **kwargs)
        except UserError as exc:
            raise forbidden_ephemeral(str(exc), what, self.namespace) or exc from None

    # -------------------------------------------------------------- scale subresource (etcd/NATS outages)

    def get_scale(self, workload: str) -> dict | None:
        """The Scale of `statefulset/NAME` or `deployment/NAME` (spec.replicas, status.replicas, status.selector)."""
        kind, _, name = workload.partition("/")
        resp = self._scale_call(f"get {kind}s/scale {name}", SCALE_CALLS[kind][0], name, missing_ok=True)
        return None if resp is None else json.loads(resp.data)

    def patch_scale(self, workload: str, replicas: int, dry_run: bool = False) -> dict:
        kind, _, name = workload.partition("/")
        extra = {"dry_run": "All"} if dry_run else {}
        resp = self._scale_call(f"patch {kind}s/scale {name}", SCALE_CALLS[kind][1], name,
                                {"spec": {"replicas": replicas}}, **extra)
        return json.loads(resp.data)

    def check_scale(self, workload: str, setting: str) -> dict:
        """Preflight: the workload exists and its scale can be read and (dry run, same count) patched."""
        scale = self.get_scale(workload)
        if scale is None:
            raise UserError(f"{setting} names {workload}, which does not exist in namespace {self.namespace}; "
                            f"name your own etcd / NATS workload there (statefulset/NAME or deployment/NAME)")
        self.patch_scale(workload, int((scale.get("spec") or {}).get("replicas") or 0), dry_run=True)
        return scale

    def _scale_call(self, what: str, method: str, name: str, *args, **kwargs):
        try:
            return self._call(what, getattr(self.apps, method), name, self.namespace, *args, _preload_content=False,
                              **kwargs)
        except UserError as exc:
            if str(exc).startswith("forbidden:"):
                raise UserError(f"forbidden: {what} in namespace {self.namespace}; {PLANE_OUTAGES_HINT}") from None
            raise

    # -------------------------------------------------------------- watches

    def watch(self, resource: str, selector: str | None, resource_version: str, stop: threading.Event,
              on_event: Callable[[str, dict], None], timeout_s: int = 60) -> str:
        """Stream watch events of `pods` or `events` until `stop` is set; returns the last resourceVersion.

        The server ends each watch after `timeout_s`; it is resumed from the last resourceVersion
        (a 410 Gone restarts from a fresh list, reported as a synthetic RELISTED event).
        """
        fn = {"pods": self.core.list_namespaced_pod, "events": self.core.list_namespaced_event}[resource]
        rv = resource_version
        while not stop.is_set():
            kwargs = {"watch": True, "allow_watch_bookmarks": True, "timeout_seconds": timeout_s,
                      "_preload_content": False, "_request_timeout": (10, timeout_s + 15)}
            if selector:
                kwargs["label_selector"] = selector
            if rv:
                kwargs["resource_version"] = rv
            resp = self._call(f"watch {resource}", fn, self.namespace, **kwargs)
            stopper = threading.Thread(target=_close_when, args=(stop, resp), daemon=True)
            stopper.start()
            try:
                for event in _json_lines(resp):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            rv = ""
                            on_event("RELISTED", obj)
                            break
                        raise PlatformError(f"watch {resource} failed: {obj.get('message', obj)}")
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if kind != "BOOKMARK":
                        on_event(kind, obj)
            except Exception:
                if stop.is_set():
                    break
                raise
            finally:
                resp.release_conn()
        return rv

    # -------------------------------------------------------------- exec, logs, proxy

    def exec(self, pod: str, container: str, command: list[str], timeout_s: float = 30) -> tuple[str, str, int | None]:
        """Run `command` in the container; returns (stdout, stderr, exit code or None if unknown)."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream

        try:
            ws = stream(self._streaming_core().connect_get_namespaced_pod_exec, pod, self.namespace, container=container,
                        command=command, stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False)
        except ApiException as exc:
            raise self._translate(f"create pods/exec {pod}/{container}", exc) from None
        except Exception as exc:  # websocket handshake errors carry no HTTP status object
            raise PlatformError(f"exec in {pod}/{container} failed: {exc}") from None
        try:
            ws.run_forever(timeout=timeout_s)
            out, err = ws.read_stdout(timeout=0) or "", ws.read_stderr(timeout=0) or ""
            code = _exec_returncode(ws)
        finally:
            ws.close()
        return out, err, code

    def read_log(self, pod: str, container: str, previous: bool = False) -> str | None:
        resp = self._call(f"get pods/log {pod}/{container}", self.core.read_namespaced_pod_log, pod, self.namespace,
                          container=container, previous=previous, timestamps=True, _preload_content=False,
                          missing_ok=True)
        return None if resp is None else resp.data.decode("utf-8", "replace")

    def follow_log(self, pod: str, container: str, stop: threading.Event, since_time: str | None = None) -> Iterator[str]:
        """Lines of the running container's log (with timestamps) until it ends or `stop` is set."""
        kwargs = {"container": container, "follow": True, "timestamps": True, "_preload_content": False}
        resp = self._call(f"get pods/log {pod}/{container}", self.core.read_namespaced_pod_log, pod,
                          self.namespace, **kwargs)
        threading.Thread(target=_close_when, args=(stop, resp), daemon=True).start()
        try:
            buf = b""
            for chunk in resp.stream(4096, decode_content=True):
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace")
            if buf:
                yield buf.decode("utf-8", "replace")
        except Exception:
            if not stop.is_set():
                raise
        finally:
            resp.release_conn()

    def proxy_get(self, pod: str, port: int, path: str) -> str:
        resp = self._call(f"get pods/proxy {pod}:{port}", self.core.connect_get_namespaced_pod_proxy_with_path,
                          f"{pod}:{port}", self.namespace, path.lstrip("/"), _preload_content=False,
                          _request_timeout=5)
        return resp.data.decode("utf-8", "replace")

    def port_forward(self, pod: str, port: int) -> PodStream:
        """A connection to `pod:port` through the API server (pods/portforward, a websocket)."""
        from kubernetes.stream.ws_client import create_websocket, get_websocket_url

        config = self.api_client.configuration
        url = get_websocket_url(f"{self.host}/api/v1/namespaces/{self.namespace}/pods/{pod}/portforward",
                                [("ports", str(port))])
        token = config.get_api_key_with_prefix("authorization")
        try:
            return PodStream(create_websocket(config, url, {"authorization": token} if token else None))
        except Exception as exc:  # noqa: BLE001 - handshake errors (refused, 403, 404) carry no HTTP status object
            raise PlatformError(f"port-forward to {pod}:{port} failed: {exc}") from None


def forbidden_ephemeral(message: str, what: str, namespace: str) -> UserError | None:
    """One line for a refused ephemeral container: the Role lacks the right (the values switch), or the
    namespace's Pod Security admission refuses a root container with NET_ADMIN; None for other errors."""
    if not message.startswith("forbidden:"):
        return None
    if "PodSecurity" in message:
        return UserError(f"{message.split('; ' + ROLE_HINT)[0]}; partition and connection-reset faults need an "
                         "ephemeral container running as root with NET_ADMIN, which the namespace's Pod Security "
                         "level refuses (it needs privileged)")
    return UserError(f"forbidden: {what} in namespace {namespace}; {NETWORK_FAULTS_HINT}")


def _exec_returncode(ws) -> int | None:
    """The exec's exit code, or None when unknown: still running, or a Failure status without an
    exit code (e.g. the container went away), which the client library does not parse."""
    if ws.is_open():
        return None
    try:
        return ws.returncode
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _status_message(exc) -> str:
    try:
        body = json.loads(exc.body or "{}")
        return body.get("message") or exc.reason or ""
    except (ValueError, TypeError):
        return str(exc.reason or exc.body or "")


def _json_lines(resp) -> Iterator[dict]:
    buf = b""
    for chunk in resp.stream(65536, decode_content=True):
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if buf.strip():
        yield json.loads(buf)


def _close_when(stop: threading.Event, resp) -> None:
    """Unblock a streaming read when the watcher is told to stop (the read then raises or ends)."""
    while not stop.wait(0.2):
        if getattr(resp, "closed", False) or resp.isclosed():
            return
    try:
        shutdown = getattr(resp, "shutdown", None)
        if shutdown:
            shutdown()
        resp.close()
    except Exception:  # noqa: BLE001 - closing a dead stream must not raise
        pass
