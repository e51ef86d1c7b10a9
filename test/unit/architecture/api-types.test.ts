// The library's public types are written out in src/api/ (src/api/types.ts says why), so
// nothing ties them to the code behind them but these assertions. They are checked by tsc
// (`npm test` typechecks test/ first): a field added to one side and not the other fails the
// typecheck, not a user's build.
import { expectTypeOf, test } from 'vitest'
import type { CacheMode as PublicCacheMode, Clock as PublicClock } from '../../../src/api/types.js'
import type { ServerAuditRecord } from '../../../src/api/server-types.js'
import type { CacheMode } from '../../../src/config/settings.js'
import type { AuditRecord } from '../../../src/server/state/audit.js'
import type { Clock } from '../../../src/time/clock.js'

test('the public types are the types the code uses', () => {
  expectTypeOf<ServerAuditRecord>().toEqualTypeOf<AuditRecord>()
  expectTypeOf<PublicCacheMode>().toEqualTypeOf<CacheMode>()
  expectTypeOf<PublicClock>().toEqualTypeOf<Clock>()
})
