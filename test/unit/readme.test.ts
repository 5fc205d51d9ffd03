/** The README's library example is real code: extract it and run it. */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const root = join(import.meta.dirname, '../..')

it('the protocol example of the README runs and prints what its comments say', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const match = /<!-- example: protocol[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme)
  expect(match, 'README lost its protocol example').not.toBeNull()
  // Run against the source, not a build: point the package import at protocol/index.ts.
  const code = match![1]!.replace(`'komrade/protocol'`, `'${join(root, 'protocol/index.ts')}'`)
  const dir = await mkdtemp(join(root, 'test/.readme-'))
  try {
    const file = join(dir, 'example.ts')
    await writeFile(file, code)
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file])
    expect(stdout.trim().split('\n')).toEqual(['true', 'hello Bob', 'now on a session'])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
