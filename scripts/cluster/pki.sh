# Certificates and kubeconfigs of the one-machine cluster (sourced by cluster-up.sh).
# One CA signs everything; the identities are the ones Kubernetes' Node and RBAC authorizers expect.

pki_cert() {  # pki_cert NAME SUBJECT [SAN]: a key and a CA-signed certificate in $PKI
  local name=$1 subject=$2 san=${3:-}
  [ -f "$PKI/$name.crt" ] && return
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ext"
  [ -n "$san" ] && printf 'subjectAltName=%s\n' "$san" >>"$ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

pki_all() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -subj "/CN=ft-runner-cluster-ca" \
      -days 3650 -sha256 -out "$PKI/ca.crt" 2>/dev/null
  fi
  local api_san="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  api_san+=",DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$API_SERVICE_IP"
  pki_cert apiserver "/CN=kube-apiserver" "$api_san"
  pki_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  pki_cert admin "/O=system:masters/CN=ft-runner-admin"
  pki_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "DNS:$NODE_NAME,IP:$NODE_IP,IP:127.0.0.1"
  pki_cert controller-manager "/CN=system:kube-controller-manager"
  pki_cert scheduler "/CN=system:kube-scheduler"
  pki_cert proxy "/CN=system:kube-proxy"
  [ -f "$PKI/sa.key" ] || openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  [ -f "$PKI/sa.pub" ] || openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

kubeconfig() {  # kubeconfig NAME SERVER: $STATE/NAME.kubeconfig with the NAME client certificate
  local name=$1 server=$2
  local out="$STATE/$name.kubeconfig"
  write_if_changed "$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ft-runner
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$name.crt")
    client-key-data: $(base64 -w0 "$PKI/$name.key")
contexts:
- name: ft-runner
  context: {cluster: ft-runner, user: $name}
current-context: ft-runner
EOF
  chmod 600 "$out"
}
