import assert from 'node:assert/strict';
import { test } from 'node:test';

import { VmigError } from '../core/index.js';
import { formatMigrationUri, parseMigrationUri } from './uri.js';

test('migration URIs as QEMU spells them', () => {
  assert.deepEqual(parseMigrationUri('tcp:127.0.0.1:4444'), { kind: 'tcp', host: '127.0.0.1', port: 4444 });
  assert.deepEqual(parseMigrationUri('tcp:[::1]:5'), { kind: 'tcp', host: '::1', port: 5 });
  assert.deepEqual(parseMigrationUri('tcp::4444'), { kind: 'tcp', host: '0.0.0.0', port: 4444 });
  assert.deepEqual(parseMigrationUri('unix:/run/m.sock'), { kind: 'unix', path: '/run/m.sock' });
  assert.deepEqual(parseMigrationUri('file:/tmp/vm.mig'), { kind: 'file', path: '/tmp/vm.mig' });
  assert.deepEqual(parseMigrationUri('file:/tmp/vm.mig,offset=0'), { kind: 'file', path: '/tmp/vm.mig' });
  for (const u of ['tcp:10.0.0.1:7', 'tcp:[::1]:7', 'unix:/x', 'file:/y']) assert.equal(formatMigrationUri(parseMigrationUri(u)), u);
});

test('anything else is one clear error', () => {
  const bad = (uri: string, why: RegExp) => assert.throws(() => parseMigrationUri(uri), (e: unknown) => e instanceof VmigError && e.code === 'ERR_MIGRATE_BAD_URI' && why.test(e.message));
  bad('tcp:host', /expected tcp:HOST:PORT/);
  bad('tcp:host:70000', /port 70000 is out of range/);
  bad('unix:', /expected unix:PATH/);
  bad('exec:cat > /tmp/x', /exec: transport is not supported/);
  bad('file:/x,offset=4096', /offset other than 0/);
  bad('ftp://x', /expected tcp:HOST:PORT, unix:PATH or file:PATH/);
});
