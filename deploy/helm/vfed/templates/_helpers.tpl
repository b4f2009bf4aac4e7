{{/* Names and labels. */}}
{{- define "vfed.fullname" -}}
{{- printf "%s-vfed" .Release.Name | trunc 57 | trimSuffix "-" -}}
{{- end -}}

{{- define "vfed.etcdName" -}}
{{- printf "%s-etcd" (include "vfed.fullname" .) -}}
{{- end -}}

{{- define "vfed.tlsSecret" -}}
{{- if eq .Values.tls.source "certManager" -}}
{{- printf "%s-tls" (include "vfed.fullname" .) -}}
{{- else -}}
{{- .Values.tls.secretName -}}
{{- end -}}
{{- end -}}

{{- define "vfed.labels" -}}
app.kubernetes.io/name: vfed
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
vfed.io/node-id: {{ .Values.node.id | quote }}
{{- end -}}

{{- define "vfed.selector" -}}
app.kubernetes.io/name: vfed
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node
{{- end -}}

{{- define "vfed.etcdSelector" -}}
app.kubernetes.io/name: vfed
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: etcd
{{- end -}}

{{/* The etcd client endpoints the node uses. */}}
{{- define "vfed.etcdEndpoints" -}}
{{- if eq .Values.store.etcd.mode "external" -}}
{{- toJson .Values.store.etcd.endpoints -}}
{{- else -}}
{{- $name := include "vfed.etcdName" . -}}
{{- $eps := list -}}
{{- range $i := until (int .Values.etcd.replicas) -}}
{{- $eps = append $eps (printf "http://%s-%d.%s-peers.%s.svc:2379" $name $i $name $.Release.Namespace) -}}
{{- end -}}
{{- toJson $eps -}}
{{- end -}}
{{- end -}}

{{/* etcd quorum: floor(n/2)+1. */}}
{{- define "vfed.etcdQuorum" -}}
{{- add (div (int .Values.etcd.replicas) 2) 1 -}}
{{- end -}}
