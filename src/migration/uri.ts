/**
 * Migration URIs as QEMU spells them: `tcp:HOST:PORT` (IPv6 as `tcp:[::1]:PORT`),
 * `unix:PATH`, `file:PATH`, and `defer` for `-incoming defer`. Anything else is
 * a one-line error naming what was expected.
 */

import { VmigError } from '../core/index.js';

export type MigrationUri =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'file'; path: string; offset?: number };

function bad(uri: string, why: string): VmigError {
  return new VmigError('ERR_MIGRATE_BAD_URI', `Invalid migration URI '${uri}': ${why}`, { details: { uri } });
}

/** @throws VmigError ERR_MIGRATE_BAD_URI */
export function parseMigrationUri(uri: string): MigrationUri {
  const colon = uri.indexOf(':');
  const scheme = colon < 0 ? uri : uri.slice(0, colon);
  const rest = colon < 0 ? '' : uri.slice(colon + 1);
  switch (scheme) {
    case 'tcp': {
      const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(rest);
      if (!m) throw bad(uri, 'expected tcp:HOST:PORT');
      const port = Number(m[3]);
      if (port > 65535) throw bad(uri, `port ${port} is out of range`);
      const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!);
      return { kind: 'tcp', host, port };
    }
    case 'unix':
      if (rest === '') throw bad(uri, 'expected unix:PATH');
      return { kind: 'unix', path: rest };
    case 'file': {
      // QEMU 9.1+: file:PATH[,offset=N]
      const m = /^(.+?)(?:,offset=(0x[0-9a-fA-F]+|\d+))?$/.exec(rest);
      if (!m) throw bad(uri, 'expected file:PATH');
      if (m[2] !== undefined && Number(m[2]) !== 0) throw bad(uri, 'a file offset other than 0 is not supported');
      return { kind: 'file', path: m[1]! };
    }
    case 'exec':
    case 'fd':
    case 'rdma':
    case 'vsock':
      throw bad(uri, `the ${scheme}: transport is not supported by vmig (use tcp:, unix: or file:)`);
    default:
      throw bad(uri, 'expected tcp:HOST:PORT, unix:PATH or file:PATH');
  }
}

export function formatMigrationUri(u: MigrationUri): string {
  if (u.kind === 'tcp') return `tcp:${u.host.includes(':') ? `[${u.host}]` : u.host}:${u.port}`;
  return `${u.kind}:${u.path}`;
}
