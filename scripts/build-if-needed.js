#!/usr/bin/env node
// Compiles the native addon from source unless an up-to-date build is already here.
// Used by `npm install` (prepare), `npm test` (pretest), `npm run bench` and `npm start`.
'use strict'

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const force = process.argv.includes('--force')

function newestSourceTime() {
  const files = ['Cargo.toml', 'Cargo.lock', 'build.rs']
  for (const name of fs.readdirSync(path.join(root, 'src'))) files.push(path.join('src', name))
  let newest = 0
  for (const f of files) {
    try {
      newest = Math.max(newest, fs.statSync(path.join(root, f)).mtimeMs)
    } catch {}
  }
  return newest
}

function builtAddonTime() {
  const addons = fs.readdirSync(root).filter((f) => /^direct-sockets\..*\.node$/.test(f))
  if (addons.length === 0 || !fs.existsSync(path.join(root, 'binding.js'))) return -1
  return Math.max(...addons.map((f) => fs.statSync(path.join(root, f)).mtimeMs))
}

// An installed package (no sources) uses the prebuilt addon of its platform package.
if (!fs.existsSync(path.join(root, 'src')) || !fs.existsSync(path.join(root, 'Cargo.toml'))) process.exit(0)
if (!force && builtAddonTime() >= newestSourceTime()) process.exit(0)

const cli = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json', { paths: [root] })), 'dist', 'cli.js')
console.error('direct-sockets: compiling the native addon (cargo build --release)...')
execFileSync(
  process.execPath,
  [cli, 'build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts'],
  { cwd: root, stdio: 'inherit' },
)
