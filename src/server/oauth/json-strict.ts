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
      let j = i + 1
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      const token = text.slice(i, j + 1)
      i = j + 1
      const top = stack[stack.length - 1]
      if (top instanceof Set) {
        let k = i
        while (k < text.length && ' \t\n\r'.includes(text[k] ?? '')) k++
        if (text[k] === ':') {
          let key: string
          try {
            key = JSON.parse(token) as string
          } catch {
            return 'malformed member name'
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
