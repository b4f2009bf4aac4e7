{{/*
Rules across keys that values.schema.json cannot say; each failure names the key.
*/}}
{{- define "vfed.validate" -}}
{{- $v := .Values -}}
{{- if and (eq $v.store.backend "embedded") (gt (int $v.replicas) 1) -}}
{{- fail (printf "replicas: %d with store.backend=embedded: an embedded store is one process's file; use store.backend=etcd" (int $v.replicas)) -}}
{{- end -}}
{{- if gt (int $v.replicas) 1 -}}
{{- fail (printf "replicas: %d: replicas of one node need the singleton leader election of issue 11, which this vfed version does not have (singleton work would race)" (int $v.replicas)) -}}
{{- end -}}
{{- if and (eq $v.tls.source "secret") (not $v.tls.secretName) -}}
{{- fail "tls.secretName: required when tls.source=secret (a Secret with tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- if and (eq $v.tls.source "certManager") (not $v.tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.issuerRef.name: required when tls.source=certManager" -}}
{{- end -}}
{{- if and (eq $v.store.backend "etcd") (eq $v.store.etcd.mode "external") (not $v.store.etcd.endpoints) -}}
{{- fail "store.etcd.endpoints: required when store.etcd.mode=external" -}}
{{- end -}}
{{- if and $v.node.parent.id (not $v.node.parent.endpoint) -}}
{{- fail "node.parent.endpoint: required when node.parent.id is set" -}}
{{- end -}}
{{- if and $v.node.parent.endpoint (not $v.node.parent.id) -}}
{{- fail "node.parent.id: required when node.parent.endpoint is set" -}}
{{- end -}}
{{- end -}}
