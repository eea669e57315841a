import type { HostReader } from '../host/reader.js';
import { readTextFile } from '../host/sysfs-read.js';
import type { HostDescription } from './description.js';

/**
 * The interfaces (of those recorded) with a global IPv6 address (proc/net/if_inet6, scope 00) and with an
 * IPv6 default route (proc/net/ipv6_route, ::/0): what makes an interface carry traffic besides its IPv4 routes.
 */
export function snapshotIpv6(reader: HostReader, ifaces: Set<string>): HostDescription['ipv6'] {
  const addresses = new Set<string>();
  const defaultRoutes = new Set<string>();
  for (const line of (readTextFile(reader.layout.procIfInet6) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 6 && f[3] === '00' && ifaces.has(f[5]!)) addresses.add(f[5]!);
  }
  for (const line of (readTextFile(reader.layout.procIpv6Route) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00' && ifaces.has(f[9]!)) defaultRoutes.add(f[9]!);
  }
  if (addresses.size === 0 && defaultRoutes.size === 0) return undefined;
  return {
    ...(addresses.size > 0 ? { addresses: [...addresses].sort() } : {}),
    ...(defaultRoutes.size > 0 ? { defaultRoutes: [...defaultRoutes].sort() } : {}),
  };
}
