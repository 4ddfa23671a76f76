// Where the namespace suites run: only inside the private network namespace that
// scripts/in-netns.sh makes (loopback alone), so nothing they send can leave the host.
import { execFileSync } from 'node:child_process'

/** True when `lo` is the only network interface (the private namespace). */
export function insidePrivateNamespace() {
  try {
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).trim().split('\n')
    const names = links.map((l) => l.split(':')[1].trim())
    return names.length === 1 && names[0] === 'lo'
  } catch {
    return false
  }
}
