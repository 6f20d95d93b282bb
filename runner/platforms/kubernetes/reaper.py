"""The reaper: a native sidecar of the runner pod that deletes the pod's DGDs when the runner dies.

No code of the runner's can run after a SIGKILL or an OOM kill. The kubelet, though, stops a pod's
sidecars once its main container has ended, however it ended: the reaper waits for that SIGTERM
(or the one a pod delete sends), then deletes every DGD labelled with its pod's UID and waits,
within the pod's grace period, until they are gone. A pod deleted with grace 0 kills the reaper
too; then the DGDs go with the pod through their ownerReference (render.owner_reference_from_env).

    python -m runner.platforms.kubernetes.reaper        (the chart's sidecar; env from the Downward API)
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from runner.core.errors import UserError
from runner.platforms.base import PlatformError
from runner.platforms.kubernetes.api import KubeApi, load_client
from runner.platforms.kubernetes.plane_outage import restores_due
from runner.render.dgd import API_VERSIONS, RUNNER_POD_LABEL

DEFAULT_DEADLINE_S = 25.0


def say(message: str) -> None:
    print(f"[reaper {time.strftime('%H:%M:%S')}] {message}", flush=True)


def owned_dgds(api: KubeApi, pod_uid: str) -> tuple[str, list[dict]]:
    """(API version served, the DGDs that carry this pod's UID)."""
    for version in API_VERSIONS:
        try:
            items = api.list_dgds(version, f"{RUNNER_POD_LABEL}={pod_uid}")
        except UserError as exc:
            if "CRD is not served" in str(exc):
                continue
            raise
        return version, items
    return API_VERSIONS[0], []


def scale_back(api: KubeApi, dgds: list[dict]) -> None:
    """An etcd / NATS outage the runner did not live to end: scale the workload back (plane_outage's note)."""
    for workload, replicas in restores_due(dgds):
        try:
            api.patch_scale(workload, replicas)
            say(f"scaled {workload} back to {replicas} (an outage the runner did not end)")
        except (UserError, PlatformError) as exc:
            say(f"could not scale {workload} back to {replicas}: {exc}")


def reap(api: KubeApi, pod_uid: str, deadline_s: float) -> list[str]:
    """Scale back any workload an unfinished outage left at 0, delete the pod's DGDs and wait until they are gone;
    returns the names still there at the deadline."""
    version, dgds = owned_dgds(api, pod_uid)
    scale_back(api, dgds)
    names = [item["metadata"]["name"] for item in dgds]
    if not names:
        say("no DGD of this pod is left: nothing to delete")
        return []
    for name in names:
        say(f"deleting DynamoGraphDeployment {name}")
        api.delete_dgd(version, name)
    end = time.monotonic() + deadline_s
    while names and time.monotonic() < end:
        time.sleep(0.5)
        names = [name for name in names if api.get_dgd(version, name)]
    say(f"still there after {deadline_s:.0f} s: {', '.join(names)}" if names else "every DGD of this pod is gone")
    return names


def wait_for_stop() -> None:
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    while not stopped.wait(3600):
        pass


def main() -> int:
    pod_uid, namespace = os.environ.get("FT_RUNNER_POD_UID"), os.environ.get("FT_RUNNER_NAMESPACE")
    if not pod_uid or not namespace:
        print("error: the reaper needs FT_RUNNER_POD_UID and FT_RUNNER_NAMESPACE (the chart sets both)", file=sys.stderr)
        return 2
    deadline = float(os.environ.get("FT_RUNNER_REAPER_DEADLINE_S", DEFAULT_DEADLINE_S))
    api = KubeApi(load_client(), namespace)
    say(f"watching over pod {pod_uid} in {namespace}")
    wait_for_stop()
    try:
        return 1 if reap(api, pod_uid, deadline) else 0
    except (UserError, PlatformError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
