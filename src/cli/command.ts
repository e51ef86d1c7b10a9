import type { Command } from 'commander'
import type { Deps } from '../deps.js'
import { UsageError } from '../errors.js'
import { Context, type GlobalOptions } from './context.js'
import type { TokenHandover } from '../token/request.js'
import type { Outcome } from './exit-codes.js'
import type { SpinnerStream } from './output.js'

// The frame every command runs in: how an action gets its Context, its parsed options and its
// usage line. Commands import this module, and src/cli/program.ts imports the commands, so the
// import graph has no cycle.

export interface ProgramDeps extends Deps {
  /** The real stderr stream when it is a terminal, so ora can draw a spinner on it. */
  spinnerStream?: SpinnerStream
  /** What the fast path resolved before a cache miss sent the run here (src/bin.ts). */
  handover?: TokenHandover | undefined
}

/**
 * What a command's action would run: receives the Context and the options commander parsed.
 * Tests replace it (gh's `NewCmdX(f, runF)`) to check what a command line parses to without
 * running anything: `makeProgram(deps, { run: { token: capture } })`.
 */
export type Runner = (ctx: Context, opts: Record<string, unknown>, args: unknown[]) => Promise<void>

/** Per-program state, keyed by the root Command: nothing survives between programs. */
interface ProgramState {
  /** Set by `ctx.exit(outcome)`: how a command asked to end without failing (bktx exec). */
  outcome?: Outcome
  /** The Context of the action that ran, so src/main.ts reports its errors with its output settings. */
  context?: Context
  /** Replacement runners, by command path (`token`, `jwks serve`). */
  run: Readonly<Record<string, Runner>>
}

const states = new WeakMap<Command, ProgramState>()

/** Registers the state of a new root program. */
export function initProgram(program: Command, run: Readonly<Record<string, Runner>> = {}): void {
  states.set(program, { run })
}

/** The outcome a command requested with `ctx.exit(outcome)`, if any. */
export function requestedOutcome(program: Command): Outcome | undefined {
  return states.get(program)?.outcome
}

/** The Context of the action that ran (undefined when commander failed before any action). */
export function contextOf(program: Command): Context | undefined {
  return states.get(program)?.context
}

/** "Usage: bktx jwks serve [options]" for a command. */
export function usageLine(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name())
  return `Usage: ${names.join(' ')} ${cmd.usage()}`
}

/** `jwks serve` for the serve subcommand of jwks. */
export function commandPath(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c?.parent !== null && c !== null; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

function rootOf(cmd: Command): Command {
  let root = cmd
  while (root.parent !== null) root = root.parent
  return root
}

/**
 * Wires a command's action: builds its Context from the global options commander parsed (the
 * one parse of argv: verbosity, colour and --json come from here, and arguments after `--`
 * belong to the command), hands it the command's own options and arguments, and attaches the
 * usage line to usage errors it throws.
 */
export function action<O>(cmd: Command, deps: ProgramDeps, run: (ctx: Context, opts: O, args: unknown[]) => Promise<void>): Command {
  return cmd.action(async (...received: unknown[]) => {
    const command = received[received.length - 1] as Command
    const state = states.get(rootOf(command)) ?? { run: {} }
    const ctx = new Context(deps, command.optsWithGlobals<GlobalOptions>(), deps.spinnerStream, (outcome) => (state.outcome = outcome))
    state.context = ctx
    const runner = (state.run[commandPath(command)] as ((ctx: Context, opts: O, args: unknown[]) => Promise<void>) | undefined) ?? run
    try {
      await runner(ctx, command.opts() as O, command.processedArgs)
    } catch (error) {
      if (error instanceof UsageError) error.usage ??= usageLine(command)
      throw error
    }
  })
}
