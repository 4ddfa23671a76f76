// Loopback tests (the host namespace: they only ever talk to 127.0.0.0/8 and ::1).
export default {
  files: ['__test__/*.spec.mjs'],
  timeout: '60s',
  workerThreads: false,
}
