"""The real DGD CRDs from ../shared/dynamo-crds, as strict JSON-schema validators.

The API server prunes (or, with strict field validation, rejects) fields a structural schema does not
declare; jsonschema would silently accept them. So every object schema that lists properties and
neither preserves unknown fields nor declares additionalProperties is made closed here: a template
writing a field of the wrong API version (upstream's v1beta1 `spec.envs`) fails the test.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CRD_DIR = SHARED / "dynamo-crds"
CURRENT = CRD_DIR / "nvidia.com_dynamographdeployments.yaml"
V1ALPHA1_ONLY = CRD_DIR / "v1alpha1-only-2026-04" / "nvidia.com_dynamographdeployments.yaml"
EXAMPLES = SHARED / "dynamo-examples"


def require_shared() -> None:
    if not CURRENT.is_file():
        pytest.skip(f"the DGD CRDs are not at {CRD_DIR.resolve()} (the ../shared reference folder is absent)")


def _close(node):
    if isinstance(node, dict):
        out = {k: _close(v) for k, v in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_close(v) for v in node]
    return node


@lru_cache(maxsize=None)
def validator(crd_path: Path, version: str):
    import jsonschema

    crd = yaml.safe_load(crd_path.read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            schema = _close(copy.deepcopy(v["schema"]["openAPIV3Schema"]))
            return jsonschema.Draft7Validator(schema)
    raise LookupError(f"{crd_path.name} has no version {version}")


def errors(dgd: dict, crd_path: Path = CURRENT) -> list[str]:
    version = dgd["apiVersion"].split("/", 1)[1]
    found = validator(crd_path, version).iter_errors(dgd)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]
