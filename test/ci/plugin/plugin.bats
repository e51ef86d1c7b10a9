#!/usr/bin/env bats
# The Buildkite plugin's hooks (bktx-buildkite-plugin/hooks), run as the agent runs them: through
# a copy of its hook wrapper, in the job's environment, with a stub buildkite-agent; against the
# real bktx CLI and the reference server (started by test/ci/plugin.test.ts, which runs this file).

load '/usr/lib/bats/bats-support/load.bash'
load '/usr/lib/bats/bats-assert/load.bash'
load 'helpers.bash'

setup() {
  # bats runs a DEBUG trap before each command of a test and of the functions it calls (set -T),
  # to record the last line run: some 0.65 ms of CPU a command here, most of the test processes'
  # CPU (the assertions' and helpers' loops). Functions called after this (the test and the
  # helpers) run without it; a failure is still reported with its line, through the ERR trap.
  set +T
  setup_job
  cp "$BKTX_TEST_KEY" "$JOB/secrets/RELEASE_SIGNING_KEY"
  KEY_BODY="$(sed -n 2p "$BKTX_TEST_KEY")"
}

@test "key-secret: mints, redacts before printing, exports; the key in no argv, no job variable, no output" {
  plugin_config KEY_SECRET RELEASE_SIGNING_KEY
  plugin_config SCOPE_0 read_builds
  plugin_config SCOPE_1 read_pipelines
  plugin_config TTL 15m
  run_hook environment
  assert_success
  # The wrapper reached its second env dump: the agent keeps the exports.
  [ -s "$JOB/after-environment" ]
  token="$(hook_diff environment added BUILDKITE_API_TOKEN)"
  [[ "$token" == bktx_* ]]
  assert_equal "$(api_status "$token")" 200
  # The redactor got exactly the token, and was called before the hook printed anything.
  assert_equal "$(cat "$JOB/redacted")" "$token"
  assert_equal "${lines[0]}" "[stub agent: redactor add]"
  assert_line --partial "bktx: minted a Buildkite API token for $BKTX_TEST_SUBJECT in acme, exported as BUILDKITE_API_TOKEN"
  refute_output --partial "$token"
  refute_output --partial "$KEY_BODY"
  # The exports are the token and its hash for pre-exit; nothing else (no key variable).
  assert_equal "$(hook_diff environment added)" "BKTX_PLUGIN_TOKEN_SHA256 BUILDKITE_API_TOKEN"
  assert_equal "$(hook_diff environment added BKTX_PLUGIN_TOKEN_SHA256)" "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"
  ! grep -q "$KEY_BODY" "$JOB/after-environment" || false
  ! grep -q "$KEY_BODY" "$JOB/bktx-argv" || false
  grep -q -- '--scope read_builds --scope read_pipelines --ttl 15m' "$JOB/bktx-argv"
  grep -qx 'secret get' "$JOB/agent-calls"
}

@test "pre-exit revokes the token the environment hook minted, and exits 0" {
  plugin_config KEY_SECRET RELEASE_SIGNING_KEY
  run_hook environment
  assert_success
  token="$(job_env BUILDKITE_API_TOKEN)"
  run_hook pre-exit
  assert_success
  assert_output --partial "bktx: the job's Buildkite API token is revoked"
  refute_output --partial "$token"
  assert_equal "$(api_status "$token")" 401
}

@test "pre-exit does not revoke a token that replaced the minted one, and exits 0" {
  plugin_config KEY_SECRET RELEASE_SIGNING_KEY
  run_hook environment
  minted="$(job_env BUILDKITE_API_TOKEN)"
  # Another token in the variable (a later hook, another plugin): mint one more to stand for it.
  run_hook environment
  other="$(job_env BUILDKITE_API_TOKEN)"
  job_set BKTX_PLUGIN_TOKEN_SHA256 "$(printf '%s' "$minted" | sha256sum | cut -d' ' -f1)"
  before="$(revoked_count)"
  run_hook pre-exit
  assert_success
  assert_output --partial "no longer holds the token minted for this job; nothing was revoked"
  assert_equal "$(api_status "$other")" 200
  assert_equal "$(revoked_count)" "$before"
}

@test "pre-exit with the API unreachable warns and exits 0" {
  plugin_config KEY_SECRET RELEASE_SIGNING_KEY
  run_hook environment
  plugin_config API_URL "http://127.0.0.1:9"
  run_hook pre-exit
  assert_success
  assert_output --partial "could not revoke the job's Buildkite API token"
}

@test "key-env: the variable is unset for the job once the token is minted" {
  job_set RELEASE_KEY_PEM "$(cat "$BKTX_TEST_KEY")"
  plugin_config KEY_ENV RELEASE_KEY_PEM
  run_hook environment
  assert_success
  [[ "$(hook_diff environment added BUILDKITE_API_TOKEN)" == bktx_* ]]
  assert_equal "$(hook_diff environment removed)" RELEASE_KEY_PEM
  run job_env RELEASE_KEY_PEM
  assert_failure
  ! grep -q "$KEY_BODY" "$JOB/bktx-argv" || false
}

@test "key-file, token-env and org: the token under another name, for the given organisation" {
  plugin_config KEY_FILE "$BKTX_TEST_KEY"
  plugin_config TOKEN_ENV RELEASE_API_TOKEN
  plugin_config ORG acme
  job_set BUILDKITE_ORGANIZATION_SLUG other-org
  run_hook environment
  assert_success
  [[ "$(hook_diff environment added RELEASE_API_TOKEN)" == bktx_* ]]
  run hook_diff environment added BUILDKITE_API_TOKEN
  assert_failure
  run_hook pre-exit
  assert_success
  assert_output --partial "revoked"
}

@test "key: an exec: signer with its public key" {
  plugin_config KEY "exec:openssl dgst -sha256 -sign $BKTX_TEST_KEY"
  plugin_config PUBLIC_KEY "$BKTX_TEST_PUBLIC_KEY"
  run_hook environment
  assert_success
  assert_equal "$(api_status "$(job_env BUILDKITE_API_TOKEN)")" 200
}

@test "revoke: false exports no hash, and pre-exit leaves the token alone" {
  plugin_config KEY_SECRET RELEASE_SIGNING_KEY
  plugin_config REVOKE false
  run_hook environment
  assert_success
  run hook_diff environment added BKTX_PLUGIN_TOKEN_SHA256
  assert_failure
  token="$(job_env BUILDKITE_API_TOKEN)"
  run_hook pre-exit
  assert_success
  assert_output ""
  assert_equal "$(api_status "$token")" 200
}

@test "xtrace on in the job's shell prints neither the key nor the token" {
  plugin_config KEY_SECRET RELEASE_SIGNING_KEY
  run_hook environment -x
  assert_success
  token="$(job_env BUILDKITE_API_TOKEN)"
  [[ "$token" == bktx_* ]]
  refute_output --partial "$token"
  refute_output --partial "$KEY_BODY"
}

@test "redactor add failing: the token is revoked at once, not exported, and the hook fails" {
  plugin_config KEY_SECRET RELEASE_SIGNING_KEY
  touch "$JOB/redactor-fails"
  revoked="$(revoked_count)"
  run_hook environment
  assert_failure
  assert_output --partial "redactor add failed"
  assert_equal "$(revoked_count)" "$((revoked + 1))"
  run job_env BUILDKITE_API_TOKEN
  assert_failure
}

@test "bad settings fail the hook with one message, before bktx runs" {
  for case in none two bad-secret-name bad-token-env token-like-token-env bad-revoke no-client-id; do
    setup_job
    cp "$BKTX_TEST_KEY" "$JOB/secrets/RELEASE_SIGNING_KEY"
    case "$case" in
      none) expected="give exactly one of key-secret, key-env, key-file or key" ;;
      two) plugin_config KEY_SECRET RELEASE_SIGNING_KEY; plugin_config KEY_FILE "$BKTX_TEST_KEY"; expected="give exactly one of" ;;
      bad-secret-name) plugin_config KEY_SECRET buildkite_key; expected="key-secret is not a Buildkite secret name" ;;
      bad-token-env) plugin_config KEY_SECRET RELEASE_SIGNING_KEY; plugin_config TOKEN_ENV "not a name"; expected="token-env must be a variable name" ;;
      token-like-token-env) plugin_config KEY_SECRET RELEASE_SIGNING_KEY; plugin_config TOKEN_ENV BKTX_TOKEN; expected="token-env must not start like a token" ;;
      bad-revoke) plugin_config KEY_SECRET RELEASE_SIGNING_KEY; plugin_config REVOKE maybe; expected="revoke must be true or false" ;;
      no-client-id) plugin_config KEY_SECRET RELEASE_SIGNING_KEY; job_set BUILDKITE_PLUGIN_BKTX_CLIENT_ID; expected="client-id is not set" ;;
    esac
    run_hook environment
    assert_failure
    assert_output --partial "bktx plugin: $expected"
    [ ! -s "$JOB/bktx-argv" ]
  done
}

@test "a refused exchange fails the hook with bktx's message and exports nothing" {
  plugin_config KEY_SECRET RELEASE_SIGNING_KEY
  plugin_config SUBJECT nobody@acme.test
  run_hook environment
  assert_failure
  assert_output --partial "bktx token failed"
  assert_output --partial "error:"
  run job_env BUILDKITE_API_TOKEN
  assert_failure
}
