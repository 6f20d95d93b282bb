{{/*
The runner Job's spec, shared by the Job and the CronJob's jobTemplate.
sequential: one pod runs every scenario in turn; backoffLimit 0 (a failed run is never re-run).
indexed: one pod per scenario (completion index i runs scenario i of the ConfigMap's list);
backoffLimitPerIndex 0, so one failing scenario neither re-runs nor stops the others.
*/}}
{{- define "ft-runner.jobSpec" -}}
{{- $scenarios := include "ft-runner.scenarios" . | fromJsonArray -}}
{{- if include "ft-runner.indexed" . }}
{{- if not (semverCompare ">=1.29.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "execution: indexed needs Kubernetes 1.29 or newer (backoffLimitPerIndex); this cluster is %s" .Capabilities.KubeVersion.Version) }}
{{- end }}
completionMode: Indexed
completions: {{ len $scenarios }}
parallelism: {{ min .Values.parallelism (len $scenarios) }}
backoffLimitPerIndex: 0
{{- else }}
completions: 1
parallelism: 1
backoffLimit: 0
{{- end }}
activeDeadlineSeconds: {{ .Values.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ .Values.ttlSecondsAfterFinished }}
template:
  metadata:
    labels:
      {{- include "ft-runner.labels" . | nindent 6 }}
      {{- with .Values.podLabels }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    annotations:
      checksum/config: {{ include "ft-runner.config" . | sha256sum }}
      {{- with .Values.podAnnotations }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  spec:
    restartPolicy: Never
    serviceAccountName: {{ include "ft-runner.serviceAccountName" . }}
    automountServiceAccountToken: true
    enableServiceLinks: false
    terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
    {{- with .Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      runAsNonRoot: true
      {{- with .Values.podSecurityContext }}
      {{- if not (kindIs "invalid" .runAsUser) }}
      runAsUser: {{ .runAsUser }}
      {{- end }}
      {{- if not (kindIs "invalid" .runAsGroup) }}
      runAsGroup: {{ .runAsGroup }}
      {{- end }}
      {{- if not (kindIs "invalid" .fsGroup) }}
      fsGroup: {{ .fsGroup }}
      {{- end }}
      {{- end }}
      seccompProfile:
        type: RuntimeDefault
    initContainers:
      # A native sidecar: the kubelet stops it after the runner container ends, however it ended
      # (exit, SIGKILL, OOM), and it then deletes the DGDs labelled with this pod's UID.
      - name: reaper
        image: {{ include "ft-runner.image" . | quote }}
        imagePullPolicy: {{ .Values.image.pullPolicy }}
        restartPolicy: Always
        command: ["python", "-m", "runner.platforms.kubernetes.reaper"]
        env:
          - name: FT_RUNNER_NAMESPACE
            valueFrom:
              fieldRef:
                fieldPath: metadata.namespace
          - name: FT_RUNNER_POD_UID
            valueFrom:
              fieldRef:
                fieldPath: metadata.uid
          - name: FT_RUNNER_REAPER_DEADLINE_S
            value: {{ .Values.reaper.deadlineSeconds | quote }}
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: ["ALL"]
          seccompProfile:
            type: RuntimeDefault
        resources:
          {{- toYaml .Values.reaper.resources | nindent 10 }}
    containers:
      - name: runner
        image: {{ include "ft-runner.image" . | quote }}
        imagePullPolicy: {{ .Values.image.pullPolicy }}
        args:
          - run
          - --config
          - {{ include "ft-runner.configDir" . }}/config/config.yaml
          {{- if include "ft-runner.indexed" . }}
          - --scenario-index
          - $(FT_RUNNER_SCENARIO_INDEX)
          {{- end }}
        env:
          - name: FT_RUNNER_IN_CLUSTER
            value: "1"
          # the image of the ephemeral container of network faults (kubernetes.network_fault_image overrides it)
          - name: FT_RUNNER_IMAGE
            value: {{ include "ft-runner.image" . | quote }}
          - name: FT_RUNNER_NAMESPACE
            valueFrom:
              fieldRef:
                fieldPath: metadata.namespace
          - name: FT_RUNNER_POD_NAME
            valueFrom:
              fieldRef:
                fieldPath: metadata.name
          # the owner of every DGD the runner creates (ownerReferences): the pod itself
          - name: FT_RUNNER_POD_UID
            valueFrom:
              fieldRef:
                fieldPath: metadata.uid
          # the run id is made of the Job's name and UID
          - name: FT_RUNNER_JOB_NAME
            valueFrom:
              fieldRef:
                fieldPath: metadata.labels['batch.kubernetes.io/job-name']
          - name: FT_RUNNER_JOB_UID
            valueFrom:
              fieldRef:
                fieldPath: metadata.labels['batch.kubernetes.io/controller-uid']
          {{- if include "ft-runner.indexed" . }}
          - name: FT_RUNNER_SCENARIO_INDEX
            valueFrom:
              fieldRef:
                fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
          {{- end }}
          {{- with .Values.s3Credentials }}
          {{- if .existingSecret }}
          - name: AWS_ACCESS_KEY_ID
            valueFrom:
              secretKeyRef:
                name: {{ .existingSecret }}
                key: {{ .accessKeyIdKey }}
          - name: AWS_SECRET_ACCESS_KEY
            valueFrom:
              secretKeyRef:
                name: {{ .existingSecret }}
                key: {{ .secretAccessKeyKey }}
          - name: AWS_SESSION_TOKEN
            valueFrom:
              secretKeyRef:
                name: {{ .existingSecret }}
                key: {{ .sessionTokenKey }}
                optional: true
          {{- end }}
          {{- end }}
          {{- with .Values.extraEnv }}
          {{- toYaml . | nindent 10 }}
          {{- end }}
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: ["ALL"]
          seccompProfile:
            type: RuntimeDefault
        resources:
          {{- toYaml .Values.resources | nindent 10 }}
        volumeMounts:
          - name: config
            mountPath: {{ include "ft-runner.configDir" . }}/config
            readOnly: true
          - name: results
            mountPath: {{ .Values.resultsVolume.mountPath }}
          - name: tmp
            mountPath: /tmp
          {{- if include "ft-runner.templatesConfigMap" . }}
          - name: templates
            mountPath: {{ include "ft-runner.templatesDir" . }}
            readOnly: true
          {{- end }}
    volumes:
      - name: config
        configMap:
          name: {{ include "ft-runner.fullname" . }}-config
      - name: results
        emptyDir:
          {{- with .Values.resultsVolume.sizeLimit }}
          sizeLimit: {{ . }}
          {{- end }}
      - name: tmp
        emptyDir:
          {{- with .Values.tmpVolume.sizeLimit }}
          sizeLimit: {{ . }}
          {{- end }}
      {{- with include "ft-runner.templatesConfigMap" . }}
      - name: templates
        configMap:
          name: {{ . }}
          {{- if $.Values.customTemplates.files }}
          items:
            {{- range $path, $_ := $.Values.customTemplates.files }}
            - key: {{ include "ft-runner.templateKey" $path }}
              path: {{ $path }}
            {{- end }}
          {{- else if $.Values.customTemplates.items }}
          items:
            {{- toYaml $.Values.customTemplates.items | nindent 12 }}
          {{- end }}
      {{- end }}
    {{- with .Values.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.affinity }}
    affinity:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
