# Pinned versions of every piece of the one-machine cluster. The build cache is keyed by them:
# change one and only that piece is rebuilt. Every Go module is also pinned by the go.sum kept
# beside its binaries in the cache.
KUBERNETES_VERSION=v1.36.3
ETCD_VERSION=v3.6.13
CONTAINERD_VERSION=v2.3.7
COREDNS_VERSION=v1.14.7
# The in-cluster S3 server: Versity's S3 gateway over a POSIX directory (Apache-2.0). MinIO is served
# only as a pseudo-version of its archived repository, and it is AGPL-3.0: not used.
VERSITYGW_VERSION=v1.8.0
PAUSE_VERSION=3.10.2
CLUSTER_CACHE=${FT_CLUSTER_CACHE:-/var/cache/ft-runner-cluster}
CLUSTER_STATE=${FT_CLUSTER_STATE:-/var/lib/ft-runner-cluster}
# Go is often installed outside the default PATH of a non-login shell (CI): look there too.
export PATH="$PATH:/usr/local/go/bin"
