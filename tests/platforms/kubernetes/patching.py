"""How an API server applies the two patch types the runner sends (RFC 7386 merge patch, RFC 6902 JSON
patch: the operations the runner uses, test/add/replace), for the fake API server and the unit tests.
The real API server's behaviour is checked in tests/cluster/test_dgd_patch.py."""

from __future__ import annotations

import copy


class PatchFailed(ValueError):
    """What the API server answers 422 for (a failed test, a missing parent)."""


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _parts(path: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchFailed(f"bad pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, parts: list[str]):
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError):
            raise PatchFailed(f"no {part!r} on the way") from None
    return node


def json_patch(doc, ops: list[dict]):
    out = copy.deepcopy(doc)
    for op in ops:
        parts = _parts(op["path"])
        parent, last = _parent(out, parts), parts[-1]
        if op["op"] == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last, KeyError)
            if current != op["value"]:
                raise PatchFailed(f"test of {op['path']} failed: {current!r} != {op['value']!r}")
        elif op["op"] in ("add", "replace"):
            if isinstance(parent, list) and op["op"] == "add":
                parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
            elif isinstance(parent, list):
                parent[int(last)] = copy.deepcopy(op["value"])
            else:
                if op["op"] == "replace" and last not in parent:
                    raise PatchFailed(f"replace of missing {op['path']}")
                parent[last] = copy.deepcopy(op["value"])
        else:
            raise PatchFailed(f"operation {op['op']} not supported here")
    return out


def apply(doc: dict, body, content_type: str) -> dict:
    if content_type == "application/merge-patch+json":
        return merge_patch(copy.deepcopy(doc), body)
    if content_type == "application/json-patch+json":
        return json_patch(doc, body)
    raise PatchFailed(f"unsupported patch type {content_type}")
