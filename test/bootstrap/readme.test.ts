/** The example in bootstrap/README.md is real code: extract it and run it. */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const root = join(import.meta.dirname, '../..')

it('the registry example of bootstrap/README.md runs and prints what its comments say', async () => {
  const readme = await readFile(join(root, 'bootstrap/README.md'), 'utf8')
  const match = /<!-- example: registry[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme)
  expect(match, 'bootstrap/README.md lost its registry example').not.toBeNull()
  const code = match![1]!
    .replace(`'komrade/bootstrap'`, `'${join(root, 'bootstrap/index.ts')}'`)
    .replace(`'komrade/protocol'`, `'${join(root, 'protocol/index.ts')}'`)
  const dir = await mkdtemp(join(root, 'test/.readme-'))
  try {
    const file = join(dir, 'example.ts')
    await writeFile(file, code)
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { timeout: 60_000 })
    expect(stdout.trim().split('\n')).toEqual(['true', '1', '0'])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}, 90_000)
