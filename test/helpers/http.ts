import { request } from 'node:http'

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: any
}

/** A plain node:http request, so tests can pick the local address (127.0.0.2) and send anything. */
export function http(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string } = {},
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown
          try {
            json = JSON.parse(text)
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

export const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' }

/** POSTs a form; values are encoded as URLSearchParams does. */
export function postForm(
  url: string,
  fields: Record<string, string | undefined>,
  options: { headers?: Record<string, string>; localAddress?: string } = {},
): Promise<HttpResponse> {
  const body = new URLSearchParams(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined)).toString()
  return http(url, {
    method: 'POST',
    headers: { ...FORM, ...options.headers },
    body,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  })
}
