/**
 * Whether a process of this pid exists: `kill(pid, 0)` delivers nothing and fails with ESRCH
 * when there is no such process, EPERM when it exists but belongs to another user.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
