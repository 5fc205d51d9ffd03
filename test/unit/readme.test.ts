/** The README's library example is real code: extract it and run it. */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const root = join(import.meta.dirname, '../..')

async function runExample (name: string, replacements: Array<[string, string]>): Promise<string[]> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const match = new RegExp(`<!-- example: ${name}[^>]*-->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(readme)
  expect(match, `README lost its ${name} example`).not.toBeNull()
  // Run against the source, not a build: point the package imports at the entry files.
  let code = match![1]!
  for (const [from, to] of replacements) code = code.replace(from, to)
  const dir = await mkdtemp(join(root, 'test/.readme-'))
  try {
    const file = join(dir, 'example.ts')
    await writeFile(file, code)
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { timeout: 90_000 })
    return stdout.trim().split('\n')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

it('the protocol example of the README runs and prints what its comments say', async () => {
  const lines = await runExample('protocol', [[`'komrade/protocol'`, `'${join(root, 'protocol/index.ts')}'`]])
  expect(lines).toEqual(['true', 'hello Bob', 'now on a session'])
})

it('the node example of the README runs two nodes, delivers, and sees the receipt', async () => {
  const lines = await runExample('node', [[`'komrade'`, `'${join(root, 'node/index.ts')}'`]])
  expect(lines).toEqual(['hello Bob', 'delivered'])
}, 120_000)

it('the names example of the README registers, looks up and reports no split view', async () => {
  const lines = await runExample('names', [
    [`'komrade'`, `'${join(root, 'node/index.ts')}'`],
    [`'komrade/bootstrap'`, `'${join(root, 'bootstrap/index.ts')}'`]
  ])
  expect(lines).toEqual(['alice true', 'true', '0'])
}, 120_000)
