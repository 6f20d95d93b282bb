#!/usr/bin/env python3
"""Writes a one-layer OCI image archive from files on disk, for images we build without a registry.

    oci_image.py OUT.tar NAME:TAG --file SRC:DEST[:MODE] ... [--entrypoint JSON] [--user UID]

The archive is what `ctr -n k8s.io images import` takes; the image is named by the
`io.containerd.image.name` annotation, so it lands in containerd under exactly NAME:TAG.
"""
import argparse
import gzip
import hashlib
import io
import json
import tarfile


def layer_tar(files: list[tuple[str, str, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in sorted(_parent_dirs(dest for _, dest, _ in files)):
            tar.addfile(_entry(directory, tarfile.DIRTYPE, 0o755))
        for src, dest, mode in files:
            data = open(src, "rb").read()
            entry = _entry(dest, tarfile.REGTYPE, mode)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return buf.getvalue()


def _parent_dirs(paths) -> set[str]:
    dirs = set()
    for path in paths:
        parts = path.strip("/").split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


def _entry(path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path.strip("/"))
    info.type, info.mode, info.mtime = kind, mode, 0
    return info


def blob(data: bytes, media_type: str) -> tuple[dict, bytes]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return {"mediaType": media_type, "digest": digest, "size": len(data)}, data


def image_archive(name: str, files, entrypoint: list[str], user: str) -> bytes:
    layer = layer_tar(files)
    packed = gzip.compress(layer, mtime=0)
    layer_desc, _ = blob(packed, "application/vnd.oci.image.layer.v1.tar+gzip")
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": entrypoint, "User": user, "Env": ["PATH=/usr/local/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }
    config_desc, config_bytes = blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc, manifest_bytes = blob(json.dumps(manifest).encode(), manifest["mediaType"])
    manifest_desc["annotations"] = {"io.containerd.image.name": name,
                                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [manifest_desc]}
    return _archive([config_bytes, manifest_bytes, packed], index)


def _archive(blobs: list[bytes], index: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add(tar, "index.json", json.dumps(index).encode())
        for data in blobs:
            _add(tar, "blobs/sha256/" + hashlib.sha256(data).hexdigest(), data)
    return buf.getvalue()


def _add(tar: tarfile.TarFile, path: str, data: bytes) -> None:
    info = _entry(path, tarfile.REGTYPE, 0o644)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def parse_file(spec: str) -> tuple[str, str, int]:
    src, dest, *mode = spec.split(":")
    return src, dest, int(mode[0], 8) if mode else 0o755


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("name")
    parser.add_argument("--file", action="append", type=parse_file, default=[], required=True)
    parser.add_argument("--entrypoint", type=json.loads, required=True)
    parser.add_argument("--user", default="65532")
    args = parser.parse_args()
    with open(args.out, "wb") as out:
        out.write(image_archive(args.name, args.file, args.entrypoint, args.user))


if __name__ == "__main__":
    main()
