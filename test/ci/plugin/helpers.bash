# Helpers of plugin.bats: a job directory with a stub buildkite-agent, the bktx CLI on PATH
# (recording its arguments), the job's environment as JSON (job.py), and the agent's hook
# wrapper, copied from buildkite/agent internal/job/hook/wrapper.go (posixShellWrapper).
# A Python start costs more than most of a test's other commands together, so the cheap steps
# start none: the stub's env dump is `env -0` (job.py reads it), and job_set queues its change
# in env.json.sets, which job.py applies on its next read of env.json.
# The vitest file test/ci/plugin.test.ts starts the reference server and sets BKTX_TEST_*.

PLUGIN_DIR="$(cd "$BATS_TEST_DIRNAME/../../../bktx-buildkite-plugin" && pwd)"
JOB_PY="$BATS_TEST_DIRNAME/job.py"
PY=/usr/bin/python3

setup_job() {
  JOB="$(mktemp -d "$BATS_TEST_TMPDIR/job.XXXXXX")"
  mkdir -p "$JOB/bin" "$JOB/home" "$JOB/secrets"
  : >"$JOB/agent-calls"
  : >"$JOB/redacted"
  : >"$JOB/bktx-argv"
  # The agent's side: env dump (NUL-separated NAME=VALUE, the agent's JSON's content), secrets from files, a redactor that records values and
  # says on the job's output when it was called (so a test sees what was printed before it).
  cat >"$JOB/bin/buildkite-agent" <<STUB
#!/bin/bash
echo "\$1 \$2" >>"$JOB/agent-calls"
case "\$1 \$2" in
  "env dump") exec /usr/bin/env -0 ;;
  "secret get")
    [ -f "$JOB/secrets/\$3" ] || { echo "fatal: secret \$3 not found" >&2; exit 1; }
    cat "$JOB/secrets/\$3" ;;
  "redactor add")
    [ ! -e "$JOB/redactor-fails" ] || { echo "fatal: failed to add to the redactor: job API not available" >&2; exit 1; }
    { cat; echo; } >>"$JOB/redacted"
    echo "[stub agent: redactor add]" ;;
  *) echo "stub buildkite-agent: unexpected command \$*" >&2; exit 2 ;;
esac
STUB
  cat >"$JOB/bin/bktx" <<SHIM
#!/bin/sh
printf '%s\n' "\$*" >>"$JOB/bktx-argv"
exec "$BKTX_TEST_NODE" "$BKTX_TEST_BIN" "\$@"
SHIM
  chmod +x "$JOB/bin/buildkite-agent" "$JOB/bin/bktx"
  cat >"$JOB/env.json" <<JSON
{"PATH": "$JOB/bin:/usr/bin:/bin", "HOME": "$JOB/home", "BUILDKITE": "true", "CI": "true",
 "BUILDKITE_ORGANIZATION_SLUG": "acme", "BUILDKITE_JOB_ID": "0190a1b2-0000-4000-8000-000000000001",
 "BUILDKITE_PLUGIN_BKTX_CLIENT_ID": "$BKTX_TEST_CLIENT_ID", "BUILDKITE_PLUGIN_BKTX_SUBJECT": "$BKTX_TEST_SUBJECT",
 "BUILDKITE_PLUGIN_BKTX_TOKEN_URL": "$BKTX_TEST_TOKEN_URL", "BUILDKITE_PLUGIN_BKTX_API_URL": "$BKTX_TEST_API_URL"}
JSON
}

# plugin_config NAME VALUE: a plugin setting as the agent passes it (BUILDKITE_PLUGIN_BKTX_NAME).
plugin_config() { job_set "BUILDKITE_PLUGIN_BKTX_$1" "$2"; }
# job_set NAME VALUE (or NAME alone: unset), queued for job.py (see above).
job_set() { if [ "$#" -gt 1 ]; then printf '%s\0' set "$1" "$2"; else printf '%s\0' unset "$1"; fi >>"$JOB/env.json.sets"; }
job_env() { "$PY" "$JOB_PY" get "$JOB/env.json" "$1"; }
hook_diff() { "$PY" "$JOB_PY" get "$JOB/diff-$1.json" "${@:2}"; }

# run_hook NAME [BASH_FLAG]: the hook through the agent's wrapper, in the job's environment;
# output is stdout and stderr as the job log shows them; then the agent applies the difference.
run_hook() {
  local name="$1" hook="$PLUGIN_DIR/hooks/$1" wrapper="$JOB/wrapper-$1"
  : >"$JOB/before-$name"
  : >"$JOB/after-$name"
  {
    head -n 1 "$hook" | grep '^#!' || true
    cat <<WRAPPER
"$JOB/bin/buildkite-agent" env dump > "$JOB/before-$name"
. "$hook"
export BUILDKITE_HOOK_EXIT_STATUS=\$?
export BUILDKITE_HOOK_WORKING_DIR="\${PWD}"
"$JOB/bin/buildkite-agent" env dump > "$JOB/after-$name"
exit \$BUILDKITE_HOOK_EXIT_STATUS
WRAPPER
  } >"$wrapper"
  chmod 700 "$wrapper"
  run "$PY" "$JOB_PY" run "$JOB/env.json" "${@:2}" "$wrapper"
  "$PY" "$JOB_PY" apply "$JOB/env.json" "$JOB/before-$name" "$JOB/after-$name" "$JOB/diff-$name.json" || true
}

# api_status TOKEN: what GET /v2/access-token answers for it (200 valid, 401 revoked).
api_status() { curl -s -o /dev/null -w '%{http_code}' --oauth2-bearer "$1" "$BKTX_TEST_API_URL/v2/access-token"; }

minted_count() { curl -s "$BKTX_TEST_AUDIT_URL" | $PY -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["type"] == "token.minted"))'; }
revoked_count() { curl -s "$BKTX_TEST_AUDIT_URL" | $PY -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["type"] == "token.revoked"))'; }
