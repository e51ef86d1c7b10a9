// Issue 22, finding 4: an `exec:` signer runs in a process group of its own (src/keys/exec.ts),
// so that it and everything it started can be killed together; that also puts it out of reach
// of a signal sent to bktx's own group (a CI runner cancelling a job signals the job's group)
// and of bktx's death. While a signer runs, this guard makes every signal that would end bktx
// end the signer's group first, and so does bktx's exit. Like src/term/process.ts it touches
// `process`: signal dispositions belong to the process, not to one command.
import { kill } from 'node:process'

// The catchable signals whose default action ends a Node process (SIGUSR1 excepted: bin/bktx.js
// takes it; Node ignores SIGPIPE and SIGXFSZ, and a listener removed again would end that).
const ENDING: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR2', 'SIGALRM', 'SIGVTALRM', 'SIGXCPU']

function killGroup(pgid: number): void {
  try {
    // The negative pid is the process group: the shell and whatever it started, even the
    // children it left behind once it exited (they keep its group).
    kill(-pgid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

/**
 * Kills process group `pgid` when bktx gets one of the signals that end it, or exits, until the
 * returned release() is called (with `end` true: the group is killed then too). A signal nobody
 * else listens for is re-raised with its default action once the group is killed, so bktx still
 * dies of it as before; when a command listens (SIGINT and SIGTERM cancel a token request), the
 * command goes on deciding.
 */
export function guardChildGroup(pgid: number): (end: boolean) => void {
  const listeners = new Map<NodeJS.Signals, () => void>()
  const onExit = () => killGroup(pgid)
  const release = (end: boolean) => {
    for (const [signal, listener] of listeners) process.off(signal, listener)
    listeners.clear()
    process.off('exit', onExit)
    if (end) killGroup(pgid)
  }
  for (const signal of ENDING) {
    const listener = () => {
      killGroup(pgid)
      const alone = process.listenerCount(signal) === 1
      release(false)
      if (alone) kill(process.pid, signal)
    }
    listeners.set(signal, listener)
    process.on(signal, listener)
  }
  process.on('exit', onExit)
  return release
}
