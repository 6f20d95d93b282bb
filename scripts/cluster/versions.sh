# Pinned versions of every piece of the one-machine cluster. The build cache is keyed by them:
# change one and only that piece is rebuilt. Every Go module is also pinned by the go.sum kept
# beside its binaries in the cache.
KUBERNETES_VERSION=v1.36.3
ETCD_VERSION=v3.6.13
CONTAINERD_VERSION=v2.3.7
COREDNS_VERSION=v1.14.7
# MinIO tags its releases RELEASE.<date>, which the Go module proxy does not serve as versions:
# this is the pseudo-version of its last commit (2026-02-12).
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
PAUSE_VERSION=3.10.2
CLUSTER_CACHE=${FT_CLUSTER_CACHE:-/var/cache/ft-runner-cluster}
CLUSTER_STATE=${FT_CLUSTER_STATE:-/var/lib/ft-runner-cluster}
