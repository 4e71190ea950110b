{{/* The manager's name: fixed, because clients look for svc/traffic-manager in the manager namespace. */}}
{{- define "telepresence.name" -}}traffic-manager{{- end -}}

{{- define "telepresence.labels" -}}
app.kubernetes.io/name: traffic-manager
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "telepresence.selectorLabels" -}}
app.kubernetes.io/name: traffic-manager
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* An image reference from {registry, name, tag}; the tag defaults to the chart's appVersion. */}}
{{- define "telepresence.image" -}}
{{- $img := index . 0 -}}{{- $root := index . 1 -}}
{{- $tag := default $root.Chart.AppVersion $img.tag -}}
{{- if $img.registry }}{{ $img.registry }}/{{ end }}{{ $img.name }}:{{ $tag }}
{{- end -}}

{{/* The cluster-scoped webhook configuration: one per manager namespace. */}}
{{- define "telepresence.injectorWebhook" -}}agent-injector-{{ .Release.Namespace }}{{- end -}}
