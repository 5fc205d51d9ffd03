/**
 * Serving the web UI: the files Vite built into `dist/web`, read-only.
 * A request names a file under the root and nothing else: no `..`, no
 * dotfiles, no symlink out of the root, no directory listings.
 */
import { createReadStream, existsSync } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { dirname, extname, join, sep } from 'node:path'

/** Content types of what a Vite build holds; anything else is served as bytes. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm'
}

/**
 * The package's built UI: `<package root>/dist/web`, found by walking up to
 * package.json (this file runs from `client/api/` under tsx and from
 * `dist/client/api/` once built).
 */
export function defaultWebRoot (): string {
  let dir = import.meta.dirname
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) return join(import.meta.dirname, 'web') // nowhere better: answers "not built"
    dir = parent
  }
  return join(dir, 'dist', 'web')
}

function notFound (res: ServerResponse, text = 'Not found\n'): void {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' }).end(text)
}

/** The file a URL path names under `root`, or undefined when it names none it may. */
async function resolveFile (root: string, pathname: string): Promise<string | undefined> {
  let decoded: string
  try {
    decoded = decodeURIComponent(pathname)
  } catch {
    return undefined
  }
  if (decoded === '/' || decoded === '') decoded = '/index.html'
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined
  const segments = decoded.split('/').filter((segment) => segment !== '')
  if (segments.some((segment) => segment.startsWith('.'))) return undefined // '..', '.', dotfiles
  let realRoot: string
  let file: string
  try {
    realRoot = await realpath(root)
    file = await realpath(join(realRoot, ...segments))
  } catch {
    return undefined
  }
  if (!file.startsWith(realRoot + sep)) return undefined // a symlink out of the root
  const info = await stat(file).catch(() => undefined)
  return info?.isFile() === true ? file : undefined
}

/** Answers a GET or HEAD for the UI from `root`. */
export async function serveStatic (root: string, pathname: string, method: 'GET' | 'HEAD', res: ServerResponse): Promise<void> {
  const file = await resolveFile(root, pathname)
  if (file === undefined) {
    if (pathname === '/' || pathname === '/index.html') {
      notFound(res, 'The web UI is not built: run `npm run build` in the komrade package, then reload this page.\n')
    } else {
      notFound(res)
    }
    return
  }
  const info = await stat(file)
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'content-length': info.size,
    // Revalidate every time: loopback is fast, and a rebuilt UI must never mix with a cached one.
    'cache-control': 'no-cache'
  })
  if (method === 'HEAD') {
    res.end()
    return
  }
  await new Promise<void>((resolve) => {
    const stream = createReadStream(file)
    stream.on('error', () => { res.destroy(); resolve() })
    res.on('close', () => { stream.destroy(); resolve() })
    stream.pipe(res)
  })
}
