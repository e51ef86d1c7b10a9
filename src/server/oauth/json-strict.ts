/**
 * JSON.parse keeps the last of duplicate members silently; RFC 7515 §5.2 and RFC 8725 §3.1 ask
 * a verifier to reject them, since two parsers could then read different claims. This scans the
 * text once (iteratively, so deep nesting cannot overflow the stack) and reports duplicates and
 * excessive depth. It assumes the text is otherwise valid JSON (JSON.parse runs as well).
 */
export function jsonProblem(text: string, maxDepth = 32): string | undefined {
  const stack: Array<Set<string> | null> = []
  let i = 0
  while (i < text.length) {
    const c = text[i]
    if (c === '{' || c === '[') {
      stack.push(c === '{' ? new Set() : null)
      if (stack.length > maxDepth) return `nesting deeper than ${maxDepth}`
      i++
    } else if (c === '}' || c === ']') {
      stack.pop()
      i++
    } else if (c === '"') {
      const start = i
      let j = i + 1
      // Whether the string has no escape and no control character: then, when closed, its
      // value is its text between the quotes, without a JSON.parse of its own (an assertion's
      // header and claims have eight or so member names, each checked on every exchange).
      let plain = true
      while (j < text.length) {
        const code = text.charCodeAt(j)
        if (code === 0x22) break
        if (code === 0x5c) {
          plain = false
          j += 2
        } else {
          if (code < 0x20) plain = false
          j++
        }
      }
      i = j + 1
      const top = stack[stack.length - 1]
      if (top instanceof Set) {
        let k = i
        while (k < text.length && ' \t\n\r'.includes(text[k] ?? '')) k++
        if (text[k] === ':') {
          let key: string
          if (plain && j < text.length) key = text.slice(start + 1, j)
          else {
            try {
              key = JSON.parse(text.slice(start, j + 1)) as string
            } catch {
              return 'malformed member name'
            }
          }
          if (top.has(key)) return `duplicate member "${key.slice(0, 40)}"`
          top.add(key)
        }
      }
    } else {
      i++
    }
  }
  return undefined
}
