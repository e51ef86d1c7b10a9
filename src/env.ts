/** A copy of the process environment, taken once by the entry point and passed down. */
export type Env = Readonly<Record<string, string | undefined>>
