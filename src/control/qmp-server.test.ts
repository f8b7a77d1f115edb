/** End to end over real unix sockets in a temporary directory: QmpServer ⇄ QmpClient. */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { QmpClient } from './qmp-client.js';
import { QmpCommandRegistry } from './qmp-command-registry.js';
import { QmpError } from './qmp-error.js';
import { QmpServer } from './qmp-server.js';
import { VMIG_QMP_VERSION } from './qmp-session.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmig-qmp-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
const socketPath = () => join(dir, `qmp-${++counter}.sock`);

function registryWithDemoCommands(): { registry: QmpCommandRegistry; release: () => void; started: Promise<void> } {
  let release!: () => void;
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const registry = new QmpCommandRegistry()
    .register({ name: 'query-status', handler: () => ({ running: true, status: 'running' }) })
    .register<{ value: unknown }>({ name: 'x-echo', args: { value: 'any' }, handler: ({ value }) => value })
    .register({
      name: 'x-hang',
      handler: async () => {
        markStarted();
        await new Promise<void>((r) => (release = r));
      },
    });
  return { registry, release: () => release(), started };
}

/** Read raw CRLF lines from a plain socket (no client library), for wire-level checks. */
function rawConnect(path: string): Promise<{ lines: () => Promise<string[]>; write: (s: string | Uint8Array) => void; close: () => void }> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path });
    let buf = '';
    const waiting: Array<() => void> = [];
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (const w of waiting.splice(0)) w();
    });
    sock.once('error', reject);
    sock.once('connect', () =>
      resolve({
        lines: async () => {
          while (!buf.includes('\r\n')) await new Promise<void>((r) => waiting.push(r));
          const cut = buf.lastIndexOf('\r\n') + 2;
          const out = buf.slice(0, cut).split('\r\n').filter((l) => l.length > 0);
          buf = buf.slice(cut);
          return out;
        },
        write: (s) => sock.write(s),
        close: () => sock.destroy(),
      }),
    );
  });
}

describe('QMP over a unix socket', { timeout: 20000 }, () => {
  test('client connects, negotiates and runs commands; ids match concurrent replies', async () => {
    const path = socketPath();
    const server = new QmpServer({ registry: registryWithDemoCommands().registry });
    await server.listenUnix(path);
    const waited = server.waitForClient();
    const client = await QmpClient.connect(path);
    await waited;
    assert.deepEqual(client.greeting, { version: VMIG_QMP_VERSION, capabilities: ['oob'] });
    assert.deepEqual(await client.execute('query-version'), VMIG_QMP_VERSION);
    const results = await Promise.all([1, 2, 3].map((n) => client.execute('x-echo', { value: { n } })));
    assert.deepEqual(results, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await assert.rejects(client.execute('x-echo', { value: 1, more: 2 }), (err: unknown) => err instanceof QmpError && err.errorClass === 'GenericError' && err.message === "Parameter 'more' is unexpected" && err.code === 'ERR_QMP_COMMAND_FAILED');
    await assert.rejects(client.execute('nope'), (err: unknown) => err instanceof QmpError && err.errorClass === 'CommandNotFound');
    await client.close();
    await server.close();
    assert.equal(existsSync(path), false, 'the socket file is removed on close');
  });

  test('wire format: greeting, CRLF, negotiation error, a request split into single bytes', async () => {
    const path = socketPath();
    const server = new QmpServer({ registry: registryWithDemoCommands().registry });
    await server.listenUnix(path);
    const raw = await rawConnect(path);
    assert.deepEqual(await raw.lines(), ['{"QMP": {"version": {"qemu": {"major": 11, "minor": 1, "micro": 0}, "package": "vmig 0.1.0"}, "capabilities": ["oob"]}}']);
    raw.write('{"execute": "query-status", "id": 7}');
    assert.deepEqual(await raw.lines(), ['{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with \'qmp_capabilities\'"}, "id": 7}']);
    const req = '{"execute":"qmp_capabilities"}{"execute":"query-status","id":"s"}';
    for (const ch of req) {
      raw.write(ch);
      await new Promise((r) => setImmediate(r));
    }
    const lines: string[] = [];
    while (lines.length < 2) lines.push(...(await raw.lines()));
    assert.deepEqual(lines, ['{"return": {}}', '{"return": {"running": true, "status": "running"}, "id": "s"}']);
    raw.close();
    await server.close();
  });

  test('events reach every negotiated client, not one still negotiating', async () => {
    const path = socketPath();
    const server = new QmpServer({ registry: registryWithDemoCommands().registry });
    await server.listenUnix(path);
    const a = await QmpClient.connect(path);
    const b = await QmpClient.connect(path);
    const c = await QmpClient.connect(path, { negotiate: false });
    const seenByC: unknown[] = [];
    c.onAnyMessage((m) => seenByC.push(m));
    const markA = a.eventMark();
    server.emitEvent('STOP');
    server.emitEvent('MIGRATION', { status: 'active' });
    const [stopA, migB] = await Promise.all([a.waitForEvent('STOP', { since: markA }), b.waitForEvent('MIGRATION', { since: 0 })]);
    assert.equal(stopA.data, undefined);
    assert.deepEqual(migB.data, { status: 'active' });
    assert.ok(Number.isInteger(migB.timestamp.seconds) && migB.timestamp.microseconds >= 0 && migB.timestamp.microseconds < 1e6);
    assert.deepEqual(a.eventsSince(markA).map((e) => e.event), ['STOP', 'MIGRATION']);
    await c.execute('qmp_capabilities');
    assert.deepEqual(seenByC, [{ return: {}, id: 1 }], 'c saw no event before negotiating');
    assert.equal(server.sessionCount, 3);
    await Promise.all([a.close(), b.close(), c.close()]);
    await server.close();
  });

  test('held events wait for the release, go out in order with the timestamps of when they were raised; a nested hold changes nothing', async () => {
    const path = socketPath();
    const server = new QmpServer({ registry: registryWithDemoCommands().registry });
    await server.listenUnix(path);
    const a = await QmpClient.connect(path);
    const mark = a.eventMark();
    const release = server.holdEvents();
    const nested = server.holdEvents();
    server.emitEvent('MIGRATION', { status: 'device' });
    const raisedAt = Date.now();
    await new Promise((r) => setTimeout(r, 30));
    server.emitEvent('STOP');
    nested();
    await a.execute('query-status');
    assert.deepEqual(a.eventsSince(mark), [], 'nothing is sent while held, whatever a nested hold released');
    release();
    release();
    const stop = await a.waitForEvent('STOP', { since: mark });
    assert.deepEqual(a.eventsSince(mark).map((e) => e.event), ['MIGRATION', 'STOP']);
    const first = a.eventsSince(mark)[0]!.timestamp;
    const ms = (t: { seconds: number; microseconds: number }) => t.seconds * 1000 + t.microseconds / 1000;
    assert.ok(Math.abs(ms(first) - raisedAt) < 25, 'the timestamp is when the event was raised, not when it was sent');
    assert.ok(ms(stop.timestamp) - ms(first) >= 20, 'each keeps its own timestamp');
    server.emitEvent('RESUME');
    await a.waitForEvent('RESUME', { since: mark });
    // Held when the server closes (quit inside a switchover): sent before the sessions end.
    server.holdEvents();
    server.emitEvent('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
    await server.close();
    await a.waitForEvent('SHUTDOWN', { since: mark, timeoutMs: 2000 });
    await a.close();
  });

  test('a client disconnecting mid-command leaves the server serving others', async () => {
    const path = socketPath();
    const demo = registryWithDemoCommands();
    const server = new QmpServer({ registry: demo.registry });
    await server.listenUnix(path);
    const quitter = await QmpClient.connect(path);
    const hanging = quitter.execute('x-hang');
    await demo.started;
    const closing = quitter.close();
    await assert.rejects(hanging, { code: 'ERR_QMP_DISCONNECTED' });
    await closing;
    demo.release();
    const other = await QmpClient.connect(path);
    assert.deepEqual(await other.execute('query-status'), { running: true, status: 'running' });
    await other.close();
    await server.close();
  });

  test('client timeouts: a command with no reply and an event that never comes', async () => {
    const path = socketPath();
    const demo = registryWithDemoCommands();
    const server = new QmpServer({ registry: demo.registry });
    await server.listenUnix(path);
    const client = await QmpClient.connect(path, { timeoutMs: 2000 });
    await assert.rejects(client.execute('x-hang', undefined, { timeoutMs: 30 }), { code: 'ERR_QMP_TIMEOUT' });
    await assert.rejects(client.waitForEvent('RESUME', { timeoutMs: 20 }), { code: 'ERR_QMP_TIMEOUT' });
    demo.release();
    assert.deepEqual(await client.execute('query-status'), { running: true, status: 'running' }, 'the late reply to the timed-out command is ignored');
    await client.close();
    await server.close();
  });

  test('the server going away fails pending commands and event waits', async () => {
    const path = socketPath();
    const demo = registryWithDemoCommands();
    const server = new QmpServer({ registry: demo.registry });
    await server.listenUnix(path);
    const client = await QmpClient.connect(path);
    const pending = client.execute('x-hang');
    const waiting = client.waitForEvent('SHUTDOWN');
    await demo.started;
    await server.close();
    await assert.rejects(pending, { code: 'ERR_QMP_DISCONNECTED' });
    await assert.rejects(waiting, { code: 'ERR_QMP_DISCONNECTED' });
    assert.equal(client.closed, true);
    await assert.rejects(client.execute('query-status'), { code: 'ERR_QMP_DISCONNECTED' });
    demo.release();
  });
});

describe('unix socket path handling', { timeout: 20000 }, () => {
  test('a stale socket file is replaced, a live one and a regular file are refused', async () => {
    const stale = socketPath();
    // A crashed VMM: a process listens on the path and is killed without cleaning up.
    const crashed = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => crashed.stdout!.once('data', () => r()));
    crashed.kill('SIGKILL');
    await new Promise<void>((r) => crashed.once('exit', () => r()));
    assert.equal(existsSync(stale), true, 'the killed listener left its socket file');
    const server = new QmpServer();
    await server.listenUnix(stale);
    const client = await QmpClient.connect(stale);
    await client.close();

    const second = new QmpServer();
    await assert.rejects(second.listenUnix(stale), { code: 'ERR_HOST_SOCKET_IN_USE' });
    await server.close();

    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'precious');
    await assert.rejects(new QmpServer().listenUnix(file), { code: 'ERR_HOST_SOCKET_PATH_TAKEN' });
    assert.equal(existsSync(file), true, 'a regular file is never deleted');

    await assert.rejects(new QmpServer().listenUnix(join(dir, 'x'.repeat(120))), { code: 'ERR_HOST_SOCKET_PATH_TOO_LONG' });
    await assert.rejects(QmpClient.connect(join(dir, 'nobody.sock')), { code: 'ERR_HOST_SOCKET_CONNECT_FAILED' });
  });

  test('connecting to something that is not QMP fails with ERR_QMP_BAD_GREETING', async () => {
    const path = socketPath();
    const fake = createServer((s) => s.write('{"hello": "world"}\r\n'));
    await new Promise<void>((r) => fake.listen(path, r));
    await assert.rejects(QmpClient.connect(path), { code: 'ERR_QMP_BAD_GREETING' });
    await new Promise<void>((r) => fake.close(() => r()));
  });
});
