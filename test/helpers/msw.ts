import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, expect } from 'vitest'

/**
 * An msw server for one test file, strict in the way cli/cli's httpmock.Verify is: any request
 * no handler answers fails the test (msw's 'error' strategy, plus a recorded list checked after
 * each test, because a rejected fetch could otherwise be swallowed as a retried network error),
 * and a handler a test registered but never used fails it too.
 */
export function useStrictMsw(): ReturnType<typeof setupServer> {
  const server = setupServer()
  const unhandled: string[] = []
  server.events.on('request:unhandled', ({ request }) => void unhandled.push(`${request.method} ${request.url}`))
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
  afterEach(() => {
    const unused = server
      .listHandlers()
      .filter((h) => 'isUsed' in h && !h.isUsed)
      .map((h) => ('info' in h ? String((h.info as { header?: string }).header) : 'handler'))
    const seen = unhandled.splice(0)
    server.resetHandlers()
    expect(seen, 'requests no msw handler answered').toEqual([])
    expect(unused, 'msw handlers registered but never used').toEqual([])
  })
  afterAll(() => server.close())
  return server
}
