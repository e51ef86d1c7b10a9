// The runner's side of a JavaScript action, without @actions/core: inputs from INPUT_<NAME>
// variables, workflow commands on stdout, and the file commands (GITHUB_OUTPUT, GITHUB_ENV,
// GITHUB_STATE). Written out here (some 60 lines) so the bundle carries no toolkit and its
// tunnel/undici dependencies. Formats from actions/toolkit packages/core/src/{command,
// file-command}.ts and actions/runner src/Runner.Worker/FileCommandManager.cs.
import { randomUUID } from 'node:crypto'
import { appendFileSync } from 'node:fs'

export type Env = Record<string, string | undefined>

/**
 * An input as the runner passes it: INPUT_ + the name upper-cased, spaces as underscores and
 * hyphens kept (`INPUT_CLIENT-ID`), trimmed as `core.getInput` trims. Empty when not given.
 */
export function input(env: Env, name: string): string {
  return (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim()
}

/** The raw value, untrimmed: for the private key, whose every line is masked as it is. */
export function rawInput(env: Env, name: string): string {
  return env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? ''
}

// Workflow command data: the runner unescapes %25, %0D and %0A (toolkit command.ts escapeData).
function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

export interface Runner {
  write(line: string): void
  env: Env
}

export function command(runner: Runner, name: string, message: string): void {
  runner.write(`::${name}::${escapeData(message)}\n`)
}

/**
 * Registers a secret with the runner's masker. The runner masks a multi-line value only line by
 * line when each line is registered (a past hashicorp/vault-action advisory: multi-line secrets
 * left unmasked), so each line is registered, then the whole value. Lines of JSON punctuation
 * alone (`{`, `},`) are no secret and masking them would blank every brace of the log.
 */
export function mask(runner: Runner, value: string): void {
  const lines = value.split(/\r?\n/).map((line) => line.trim())
  for (const line of lines) if (line !== '' && !/^[{}[\],]+$/.test(line)) command(runner, 'add-mask', line)
  if (lines.filter((line) => line !== '').length > 1) command(runner, 'add-mask', value.trim())
}

/**
 * One file command entry: `NAME<<ghadelimiter_UUID`, the value, the delimiter. The runner reads
 * a heredoc up to the first line equal to the delimiter, so neither the name nor the value may
 * contain it (a fresh UUID each call makes that a check, not a hope).
 */
export function fileCommand(runner: Runner, file: 'GITHUB_OUTPUT' | 'GITHUB_ENV' | 'GITHUB_STATE', name: string, value: string): void {
  const path = runner.env[file]
  if (path === undefined || path === '') throw new RunnerError(`${file} is not set: this action needs a GitHub Actions runner of version 2.297.0 or later`)
  const delimiter = `ghadelimiter_${randomUUID()}`
  if (name.includes(delimiter) || value.includes(delimiter)) throw new RunnerError(`${name}: the value contains the file command delimiter`)
  appendFileSync(path, `${name}<<${delimiter}\n${value}\n${delimiter}\n`, { encoding: 'utf8' })
}

/** A failure of the runner's environment rather than of bktx. */
export class RunnerError extends Error {}
