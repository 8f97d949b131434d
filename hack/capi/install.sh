#!/usr/bin/env bash
# Installs CRDs whose conversion webhook, and webhook configurations whose endpoints, are served
# by a controller running on this machine (not in a Pod behind a Service): the CRDs' conversion
# and every webhook's clientConfig point at `--url` (e.g. https://127.0.0.1:9443), trusting the
# CA in `--ca`. Used for Cluster API core (CRDs and webhooks from hack/capi/build.sh) and for
# the provider (config/crd/capm3, config/capm3/webhook.yaml) on one local control plane, by the
# README's full stack and by the end-to-end test.
#
#   hack/capi/install.sh --url https://127.0.0.1:9443 --ca ca.crt --prefix capi \
#       --crds "$CAPI_DIR/crd" --webhooks "$CAPI_DIR/webhook/manifests.yaml"
#
# kubectl (on PATH, or $KUBECTL) talks to the cluster of $KUBECONFIG. Webhook configurations
# are renamed `<prefix>-<name>` so two controllers' configurations do not replace each other.
set -euo pipefail

KUBECTL="${KUBECTL:-kubectl}"
url="" ca="" prefix="" crds=() webhooks=()
while (($#)); do
  case "$1" in
  --url) url="${2%/}"; shift 2 ;;
  --ca) ca="$2"; shift 2 ;;
  --prefix) prefix="$2"; shift 2 ;;
  --crds) crds+=("$2"); shift 2 ;;
  --webhooks) webhooks+=("$2"); shift 2 ;;
  *) echo "install.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ -n "$url" && -n "$ca" && -n "$prefix" ]] || {
  echo "install.sh: --url, --ca and --prefix are required (see the header of $0)" >&2
  exit 2
}
[[ -s "$ca" ]] || { echo "install.sh: no CA at $ca" >&2; exit 1; }
ca_bundle="$(base64 -w0 <"$ca")"
log() { echo "install: $*" >&2; }

# --- CRDs, with their conversion through the webhook -------------------------------------------
for dir in "${crds[@]}"; do
  files=()
  for f in "$dir"/*.yaml; do
    [[ "$(basename "$f")" == kustomization.yaml ]] || files+=(-f "$f")
  done
  ((${#files[@]})) || { log "no CRDs in $dir"; exit 1; }
  names="$("$KUBECTL" apply --server-side --force-conflicts --field-manager metal3-install "${files[@]}" -o name)"
  conversion="{\"spec\":{\"conversion\":{\"strategy\":\"Webhook\",\"webhook\":{\"conversionReviewVersions\":[\"v1\"],\"clientConfig\":{\"url\":\"$url/convert\",\"caBundle\":\"$ca_bundle\"}}}}}"
  for name in $names; do
    "$KUBECTL" patch "$name" --type merge --field-manager metal3-install -p "$conversion" >/dev/null
  done
  # shellcheck disable=SC2086 # one argument per CRD
  "$KUBECTL" wait --for condition=Established --timeout 60s $names >/dev/null
  log "$(wc -w <<<"$names") CRDs from $dir, converted through $url/convert"
done

# --- webhook configurations, pointed at the URL --------------------------------------------------
# Keeps the Mutating/ValidatingWebhookConfiguration documents of a controller-gen style
# manifest, renames them, and replaces each `service:` block (name, namespace, path, port) with
# `url: <url><path>` and the `caBundle`.
rewrite() {
  awk -v base="$url" -v ca="$ca_bundle" -v prefix="$prefix-" '
    function spaces(n,   s) { s = ""; while (n-- > 0) s = s " "; return s }
    function close_service() {
      if (insvc) {
        doc = doc spaces(svcind) "url: " base path "\n" spaces(svcind) "caBundle: " ca "\n"
        insvc = 0
      }
    }
    function flush() {
      close_service()
      if (doc ~ /\nkind: (Mutating|Validating)WebhookConfiguration\n/) printf "---%s", doc
      doc = "\n"; named = 0
    }
    BEGIN { doc = "\n" }
    /^---/ { flush(); next }
    {
      if (insvc) {
        match($0, /^ */)
        if (RLENGTH > svcind && $0 !~ /^ *$/) { if ($1 == "path:") path = $2; next }
        close_service()
      }
      if ($1 == "service:" && NF == 1) { match($0, /^ */); svcind = RLENGTH; insvc = 1; path = ""; next }
      if (!named && $0 ~ /^  name: /) { $0 = "  name: " prefix $2; named = 1 }
      doc = doc $0 "\n"
    }
    END { flush() }
  ' "$1"
}
for file in "${webhooks[@]}"; do
  rewrite "$file" | "$KUBECTL" apply --server-side --force-conflicts --field-manager metal3-install -f - >/dev/null
  log "webhooks of $file served at $url"
done
