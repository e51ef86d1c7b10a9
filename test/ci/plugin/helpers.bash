# Helpers of plugin.bats: a job directory with a stub buildkite-agent, the bktx CLI on PATH
# (recording its arguments), the job's environment, and the agent's hook wrapper, copied from
# buildkite/agent internal/job/hook/wrapper.go (posixShellWrapper).
# The job's environment is kept as the agent keeps it between hooks (internal/job/hook/wrapper.go,
# Changes): each hook runs in exactly that environment, and the difference between the wrapper's
# two env dumps (without BUILDKITE_HOOK_EXIT_STATUS, BUILDKITE_HOOK_WORKING_DIR and _) is applied
# to it afterwards; an empty after-dump means the hook exited early, and nothing is applied.
# It lives in $JOB/env in the stub's env dump format (`env -0`: NAME=VALUE entries, each ended
# by a NUL), read and written with bash builtins in this shell: these helpers start no process
# but the hook's bash (through env -i) and the agent stub, where a Python start for each step
# cost more than the hooks' own commands.
# The vitest file test/ci/plugin.test.ts starts the reference server and sets BKTX_TEST_*.

PLUGIN_DIR="$(cd "$BATS_TEST_DIRNAME/../../../bktx-buildkite-plugin" && pwd)"
IGNORED_CHANGES=" BUILDKITE_HOOK_EXIT_STATUS BUILDKITE_HOOK_WORKING_DIR _ "

# env_read FILE ARRAY: the entries of an env dump into the associative array ARRAY (declared by the caller).
env_read() {
  local -n env_read_into="$2"
  local entry
  env_read_into=()
  while IFS= read -r -d '' entry; do env_read_into["${entry%%=*}"]="${entry#*=}"; done <"$1"
}
# env_write ARRAY FILE: the associative array ARRAY as an env dump.
env_write() {
  local -n env_write_from="$1"
  local name
  for name in "${!env_write_from[@]}"; do printf '%s=%s\0' "$name" "${env_write_from[$name]}"; done >"$2"
}
# sort_into ARRAY WORD...: the words, sorted (byte order), into the indexed array ARRAY (an
# insertion sort: a few names, and no `sort` process or subshell).
sort_into() {
  local -n sort_into_out="$1"
  local word i
  sort_into_out=()
  for word in "${@:2}"; do
    for ((i = ${#sort_into_out[@]}; i > 0; i--)); do
      [[ "${sort_into_out[i - 1]}" > "$word" ]] || break
      sort_into_out[i]="${sort_into_out[i - 1]}"
    done
    sort_into_out[i]="$word"
  done
}

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
  printf '%s\0' "PATH=$JOB/bin:/usr/bin:/bin" "HOME=$JOB/home" BUILDKITE=true CI=true \
    BUILDKITE_ORGANIZATION_SLUG=acme BUILDKITE_JOB_ID=0190a1b2-0000-4000-8000-000000000001 \
    "BUILDKITE_PLUGIN_BKTX_CLIENT_ID=$BKTX_TEST_CLIENT_ID" "BUILDKITE_PLUGIN_BKTX_SUBJECT=$BKTX_TEST_SUBJECT" \
    "BUILDKITE_PLUGIN_BKTX_TOKEN_URL=$BKTX_TEST_TOKEN_URL" "BUILDKITE_PLUGIN_BKTX_API_URL=$BKTX_TEST_API_URL" >"$JOB/env"
}

# plugin_config NAME VALUE: a plugin setting as the agent passes it (BUILDKITE_PLUGIN_BKTX_NAME).
plugin_config() { job_set "BUILDKITE_PLUGIN_BKTX_$1" "$2"; }
# job_set NAME VALUE (or NAME alone: unset): a variable of the job.
job_set() {
  local -A job
  env_read "$JOB/env" job
  if [ "$#" -gt 1 ]; then job["$1"]="$2"; else unset 'job[$1]'; fi
  env_write job "$JOB/env"
}
# job_env NAME: the job's variable, or nothing and exit 1 when it has none.
job_env() {
  local -A job
  env_read "$JOB/env" job
  [ -n "${job[$1]+set}" ] || return 1
  printf '%s\n' "${job[$1]}"
}
# hook_diff HOOK added|changed|removed [NAME]: what the agent applied after the hook: the names
# (sorted, on one line), or NAME's value (exit 1 when the hook did not add or change it).
hook_diff() {
  local file="$JOB/diff-$1.$2"
  [ -e "$file" ] || return 1
  if [ "$2" = removed ]; then
    local -a names
    mapfile -d '' -t names <"$file"
    echo "${names[*]}"
    return
  fi
  local -A diff
  env_read "$file" diff
  if [ "$#" -lt 3 ]; then
    local -a names
    sort_into names "${!diff[@]}"
    echo "${names[*]}"
    return
  fi
  [ -n "${diff[$3]+set}" ] || return 1
  printf '%s\n' "${diff[$3]}"
}

# apply_changes HOOK: the agent's side after a hook (see above): the difference of the
# wrapper's env dumps applied to the job's environment, and kept in diff-HOOK.{added,changed,removed}.
apply_changes() {
  local name="$1" k
  : >"$JOB/diff-$name.added"
  : >"$JOB/diff-$name.changed"
  : >"$JOB/diff-$name.removed"
  [ -s "$JOB/after-$name" ] || return 3
  local -A before after job added changed
  local -a removed=() names
  env_read "$JOB/before-$name" before
  env_read "$JOB/after-$name" after
  env_read "$JOB/env" job
  for k in "${!after[@]}"; do
    [[ "$IGNORED_CHANGES" != *" $k "* ]] || continue
    if [ -z "${before[$k]+set}" ]; then
      added["$k"]="${after[$k]}"
    elif [ "${before[$k]}" != "${after[$k]}" ]; then
      changed["$k"]="${after[$k]}"
    else
      continue
    fi
    job["$k"]="${after[$k]}"
  done
  sort_into names "${!before[@]}"
  for k in "${names[@]}"; do
    [[ "$IGNORED_CHANGES" != *" $k "* ]] || continue
    [ -z "${after[$k]+set}" ] || continue
    removed+=("$k")
    unset 'job[$k]'
  done
  env_write job "$JOB/env"
  env_write added "$JOB/diff-$name.added"
  env_write changed "$JOB/diff-$name.changed"
  if [ "${#removed[@]}" -gt 0 ]; then printf '%s\0' "${removed[@]}"; fi >"$JOB/diff-$name.removed"
}

# run_hook NAME [BASH_FLAG]: the hook through the agent's wrapper, in the job's environment;
# output is stdout and stderr as the job log shows them; then the agent applies the difference.
run_hook() {
  local name="$1" hook="$PLUGIN_DIR/hooks/$1" wrapper="$JOB/wrapper-$1" shebang=''
  : >"$JOB/before-$name"
  : >"$JOB/after-$name"
  {
    IFS= read -r shebang <"$hook" || true
    [[ "$shebang" != '#!'* ]] || printf '%s\n' "$shebang"
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
  # bash with the job's environment and nothing else.
  local -a job
  mapfile -d '' -t job <"$JOB/env"
  run env -i "${job[@]}" /bin/bash "${@:2}" "$wrapper"
  apply_changes "$name" || true
}

# api_status TOKEN: what GET /v2/access-token answers for it (200 valid, 401 revoked).
api_status() { curl -s -o /dev/null -w '%{http_code}' --oauth2-bearer "$1" "$BKTX_TEST_API_URL/v2/access-token"; }

# How many audit records of the reference server have that type (plugin.test.ts counts them).
minted_count() { curl -s "$BKTX_TEST_AUDIT_URL/token.minted"; }
revoked_count() { curl -s "$BKTX_TEST_AUDIT_URL/token.revoked"; }
