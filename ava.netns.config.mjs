// Tests that must run inside a private network namespace (policy, multicast, black holes).
// `npm test` runs them through scripts/in-netns.sh.
export default {
  files: ['__test__/netns/**/*.spec.mjs'],
  timeout: '60s',
  workerThreads: false,
}
