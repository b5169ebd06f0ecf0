#!/bin/sh
# The namespace fieldops runs in, made once the Temporal server answers (the server image makes none itself).
# Safe to run again. Its search attributes are registered by `fieldops prepare`, from shared/contracts.
set -eu
namespace="${TEMPORAL_NAMESPACE:-default}"
retention="${TEMPORAL_NAMESPACE_RETENTION:-168h}"

until temporal operator cluster health >/dev/null 2>&1; do echo "temporal-namespace: waiting for Temporal"; sleep 2; done
if temporal operator namespace describe -n "$namespace" >/dev/null 2>&1; then
  echo "temporal-namespace: $namespace is already there"
else
  temporal operator namespace create -n "$namespace" --retention "$retention"
  echo "temporal-namespace: $namespace created (retention $retention)"
fi
