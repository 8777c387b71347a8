{{/* The release's name for answerlog's objects. */}}
{{- define "answerlog.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "answerlog.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "answerlog.labels" -}}
{{ include "answerlog.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret holding principals.toml. */}}
{{- define "answerlog.principalsSecret" -}}
{{- if .Values.principals.existingSecret -}}
{{- .Values.principals.existingSecret -}}
{{- else if .Values.principals.entries -}}
{{- printf "%s-principals" (include "answerlog.fullname" .) -}}
{{- else -}}
{{- fail "principals: set principals.existingSecret or principals.entries (answerlog token new NAME --role ROLE); the chart never runs development mode" -}}
{{- end -}}
{{- end -}}

{{/* How many pods: one on the embedded log. */}}
{{- define "answerlog.replicas" -}}
{{- if .Values.log -}}
{{- .Values.replicas -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{- define "answerlog.checks" -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.enabled: set tls.secretName, a Secret of type kubernetes.io/tls" -}}
{{- end -}}
{{- if not (has .Values.tls.clientAuth (list "none" "required" "optional")) -}}
{{- fail (printf "tls.clientAuth: %q is not none, required or optional" .Values.tls.clientAuth) -}}
{{- end -}}
{{- if and .Values.log (not (hasPrefix "nats://" .Values.log)) -}}
{{- fail (printf "log: %q is neither empty (the embedded log) nor a nats:// URL" .Values.log) -}}
{{- end -}}
{{- end -}}
