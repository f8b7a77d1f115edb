import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { QmpCommandRegistry } from './qmp-command-registry.js';
import { QmpError } from './qmp-error.js';
import { QmpSession, QMP_REQUEST_QUEUE_MAX, VMIG_QMP_VERSION } from './qmp-session.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** A session wired to an in-memory transport that records output lines. */
function harness(registry = new QmpCommandRegistry(), offerOob = true) {
  const raw: string[] = [];
  const flow: string[] = [];
  const session = new QmpSession({ id: 1, registry, offerOob, transport: { write: (t) => raw.push(t), pause: () => flow.push('pause'), resume: () => flow.push('resume') } });
  session.start();
  const out = () => raw.splice(0).map((line) => {
    assert.ok(line.endsWith('\r\n'), 'every message ends with CRLF');
    assert.ok(!line.slice(0, -2).includes('\n'), 'one message per line');
    return JSON.parse(line) as Record<string, unknown>;
  });
  const send = async (text: string) => {
    session.receive(enc(text));
    await session.whenIdle();
    return out();
  };
  return { session, out, send, raw, flow };
}

async function negotiated(registry = new QmpCommandRegistry()) {
  const h = harness(registry);
  h.out();
  assert.deepEqual(await h.send('{"execute":"qmp_capabilities"}'), [{ return: {} }]);
  return h;
}

describe('greeting and negotiation mode', () => {
  test('the greeting names the version and offers oob, in QEMU spacing', () => {
    const h = harness();
    assert.equal(h.raw[0], '{"QMP": {"version": {"qemu": {"major": 11, "minor": 1, "micro": 0}, "package": "vmig 0.1.0"}, "capabilities": ["oob"]}}\r\n');
    assert.deepEqual(h.out(), [{ QMP: { version: VMIG_QMP_VERSION, capabilities: ['oob'] } }]);
    assert.equal(h.session.mode, 'negotiation');
  });

  test('any command but qmp_capabilities is CommandNotFound with QEMU\'s hint, id echoed', async () => {
    const registry = new QmpCommandRegistry().register({ name: 'query-status', handler: () => ({ running: true }) });
    const h = harness(registry);
    h.out();
    for (const cmd of ['query-status', 'query-version', 'no-such']) {
      assert.deepEqual(await h.send(`{"execute": "${cmd}", "id": "a1"}`), [
        { error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" }, id: 'a1' },
      ]);
    }
    assert.equal(h.session.mode, 'negotiation');
  });

  test('qmp_capabilities validates enable, then switches to command mode; a second call is refused', async () => {
    const h = harness();
    h.out();
    assert.deepEqual(await h.send('{"execute":"qmp_capabilities","arguments":{"enable":["nope"]}}'), [{ error: { class: 'GenericError', desc: "Parameter 'null' does not accept value 'nope'" } }]);
    assert.deepEqual(await h.send('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":1}'), [{ return: {}, id: 1 }]);
    assert.equal(h.session.mode, 'command');
    assert.equal(h.session.oobEnabled, true);
    assert.deepEqual(await h.send('{"execute":"qmp_capabilities","id":2}'), [{ error: { class: 'CommandNotFound', desc: 'Capabilities negotiation is already complete, command ignored' }, id: 2 }]);
  });

  test('enabling oob when it is not offered fails like QEMU', async () => {
    const h = harness(new QmpCommandRegistry(), false);
    assert.deepEqual(h.out()[0], { QMP: { version: VMIG_QMP_VERSION, capabilities: [] } });
    assert.deepEqual(await h.send('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}'), [{ error: { class: 'GenericError', desc: 'Capability oob not available' } }]);
    assert.equal(h.session.mode, 'negotiation');
  });

  test('events are not delivered before negotiation, and are after', async () => {
    const h = harness();
    h.out();
    h.session.sendEvent({ event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } });
    assert.deepEqual(h.out(), []);
    await h.send('{"execute":"qmp_capabilities"}');
    h.session.sendEvent({ event: 'MIGRATION', data: { status: 'setup' }, timestamp: { seconds: 1, microseconds: 2 } });
    assert.equal(h.raw[0], '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "MIGRATION", "data": {"status": "setup"}}\r\n');
  });
});

describe('command mode', () => {
  test('built-ins: query-version and query-commands', async () => {
    const registry = new QmpCommandRegistry().register({ name: 'stop', handler: () => undefined });
    const h = await negotiated(registry);
    assert.deepEqual(await h.send('{"execute":"query-version","id":{"nested":[1]}}'), [{ return: VMIG_QMP_VERSION, id: { nested: [1] } }]);
    assert.deepEqual(await h.send('{"execute":"query-commands"}'), [{ return: [{ name: 'qmp_capabilities' }, { name: 'query-commands' }, { name: 'query-version' }, { name: 'stop' }] }]);
    assert.deepEqual(await h.send('{"execute":"stop"}'), [{ return: {} }], 'undefined becomes {}');
  });

  test('unknown command, bad request shapes and malformed JSON get QEMU\'s errors', async () => {
    const h = await negotiated();
    assert.deepEqual(await h.send('{"execute":"no-such-command","id":"abc"}'), [{ error: { class: 'CommandNotFound', desc: 'The command no-such-command has not been found' }, id: 'abc' }]);
    assert.deepEqual(await h.send('[1,2]'), [{ error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } }]);
    assert.deepEqual(await h.send('{"id":3}'), [{ error: { class: 'GenericError', desc: "QMP input lacks member 'execute'" }, id: 3 }]);
    assert.deepEqual(await h.send('{"execute":1}'), [{ error: { class: 'GenericError', desc: "QMP input member 'execute' must be a string" } }]);
    assert.deepEqual(await h.send('{"execute":"query-version","arguments":[]}'), [{ error: { class: 'GenericError', desc: "QMP input member 'arguments' must be an object" } }]);
    assert.deepEqual(await h.send('{"execute":"query-version","extra":1}'), [{ error: { class: 'GenericError', desc: "QMP input member 'extra' is unexpected" } }]);
    assert.deepEqual(await h.send('{"exec-oob":"query-version"}'), [{ error: { class: 'GenericError', desc: "QMP input member 'exec-oob' is unexpected" } }], 'exec-oob needs the oob capability');
    const bad = await h.send('{"execute": }');
    assert.equal(bad.length, 1);
    assert.equal((bad[0]!.error as { class: string }).class, 'GenericError');
    assert.match((bad[0]!.error as { desc: string }).desc, /^JSON parse error, /);
    assert.deepEqual(await h.send('{"execute":"query-version","id":9}'), [{ return: VMIG_QMP_VERSION, id: 9 }], 'the stream goes on after an error');
  });

  test('arguments are validated before the handler runs', async () => {
    let calls = 0;
    const registry = new QmpCommandRegistry().register<{ uri: string }>({
      name: 'migrate',
      args: { uri: 'str', '*detach': 'bool' },
      handler: () => {
        calls++;
      },
    });
    const h = await negotiated(registry);
    assert.deepEqual(await h.send('{"execute":"migrate","id":1}'), [{ error: { class: 'GenericError', desc: "Parameter 'uri' is missing" }, id: 1 }]);
    assert.deepEqual(await h.send('{"execute":"migrate","arguments":{"uri":"tcp:x:1","x":1},"id":2}'), [{ error: { class: 'GenericError', desc: "Parameter 'x' is unexpected" }, id: 2 }]);
    assert.deepEqual(await h.send('{"execute":"query-version","arguments":{"x":1}}'), [{ error: { class: 'GenericError', desc: "Parameter 'x' is unexpected" } }], 'commands without arguments reject any');
    assert.equal(calls, 0);
    assert.deepEqual(await h.send('{"execute":"migrate","arguments":{"uri":"tcp:x:1"},"id":3}'), [{ return: {}, id: 3 }]);
    assert.equal(calls, 1);
  });

  test('handler errors map to their class; other exceptions are GenericError', async () => {
    const registry = new QmpCommandRegistry()
      .register({ name: 'qom-get', handler: () => { throw new QmpError('DeviceNotFound', "Device 'x' not found"); } })
      .register({ name: 'cont', handler: async () => { throw new Error('guest is broken'); } })
      .register({ name: 'migrate_cancel', handler: () => { throw new QmpError('DeviceNotActive', 'No migration'); } });
    const h = await negotiated(registry);
    assert.deepEqual(await h.send('{"execute":"qom-get"}{"execute":"cont"}{"execute":"migrate_cancel"}'), [
      { error: { class: 'DeviceNotFound', desc: "Device 'x' not found" } },
      { error: { class: 'GenericError', desc: 'guest is broken' } },
      { error: { class: 'DeviceNotActive', desc: 'No migration' } },
    ]);
  });

  test('async handlers answer in request order', async () => {
    const registry = new QmpCommandRegistry().register<{ ms: number; tag: string }>({
      name: 'sleep',
      args: { ms: 'uint32', tag: 'str' },
      handler: async ({ ms, tag }) => {
        await new Promise((r) => setTimeout(r, ms));
        return { tag };
      },
    });
    const h = await negotiated(registry);
    const replies = await h.send('{"execute":"sleep","arguments":{"ms":30,"tag":"slow"},"id":1}{"execute":"sleep","arguments":{"ms":0,"tag":"fast"},"id":2}');
    assert.deepEqual(replies, [{ return: { tag: 'slow' }, id: 1 }, { return: { tag: 'fast' }, id: 2 }]);
  });

  test('exec-oob runs ahead of a queued command when oob is enabled', async () => {
    let release!: () => void;
    const registry = new QmpCommandRegistry()
      .register({ name: 'block', handler: () => new Promise<void>((r) => (release = r)) })
      .register({ name: 'migrate-pause', allowOob: true, handler: () => undefined })
      .register({ name: 'query-status', handler: () => ({}) });
    const h = harness(registry);
    h.out();
    await h.send('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}');
    h.session.receive(enc('{"execute":"block","id":"b"}{"exec-oob":"migrate-pause","id":"o"}{"exec-oob":"query-status","id":"q"}'));
    await new Promise((r) => setTimeout(r, 5));
    const early = h.out().sort((a, b) => String(a.id).localeCompare(String(b.id)));
    assert.deepEqual(early, [{ return: {}, id: 'o' }, { error: { class: 'GenericError', desc: 'The command query-status does not support OOB' }, id: 'q' }], 'both out-of-band replies come before the blocked command');
    release();
    await h.session.whenIdle();
    assert.deepEqual(h.out(), [{ return: {}, id: 'b' }]);
  });

  test('a client that disconnects mid-command gets nothing written, and the handler sees the abort', async () => {
    let seen: AbortSignal | undefined;
    let release!: () => void;
    const registry = new QmpCommandRegistry().register({
      name: 'slow',
      handler: async (_args, ctx) => {
        seen = ctx.signal;
        await new Promise<void>((r) => (release = r));
        return { done: true };
      },
    });
    const h = await negotiated(registry);
    h.session.receive(enc('{"execute":"slow","id":1}{"execute":"slow","id":2}'));
    await new Promise((r) => setTimeout(r, 1));
    h.session.close();
    assert.equal(seen?.aborted, true);
    release();
    await h.session.whenIdle();
    await new Promise((r) => setTimeout(r, 1));
    assert.deepEqual(h.out(), []);
    h.session.receive(enc('{"execute":"query-version"}'));
    h.session.sendEvent({ event: 'STOP', timestamp: { seconds: 0, microseconds: 0 } });
    assert.deepEqual(h.out(), [], 'a closed session stays silent');
  });

  test('a long queue pauses the transport and resumes it as the queue drains', async () => {
    let release!: () => void;
    const registry = new QmpCommandRegistry().register({ name: 'block', handler: () => new Promise<void>((r) => (release = r)) });
    const h = await negotiated(registry);
    h.session.receive(enc('{"execute":"block"}' + '{"execute":"query-version"}'.repeat(QMP_REQUEST_QUEUE_MAX + 2)));
    assert.deepEqual(h.flow, ['pause']);
    release();
    await h.session.whenIdle();
    assert.deepEqual(h.flow, ['pause', 'resume']);
    assert.equal(h.out().length, QMP_REQUEST_QUEUE_MAX + 3);
  });

  test('an oversized request is answered with a parse error and the next one works', async () => {
    const h = await negotiated();
    const replies = await h.send(`{"execute":"query-version","arguments":{"pad":"${'x'.repeat(1024 * 1024)}"}}{"execute":"query-version","id":2}`);
    assert.deepEqual(replies, [{ error: { class: 'GenericError', desc: 'JSON parse error, message larger than 1048576 bytes' } }, { return: VMIG_QMP_VERSION, id: 2 }]);
  });

  test('non-ASCII output is escaped so the stream stays ASCII', async () => {
    const registry = new QmpCommandRegistry().register({ name: 'echo', args: { s: 'str' }, handler: (a) => a });
    const h = await negotiated(registry);
    h.session.receive(enc('{"execute":"echo","arguments":{"s":"café 😀"}}'));
    await h.session.whenIdle();
    assert.equal(h.raw[0], '{"return": {"s": "caf\\u00e9 \\ud83d\\ude00"}}\r\n');
    assert.deepEqual(h.out(), [{ return: { s: 'café 😀' } }]);
  });
});

test('registry refuses duplicates and the built-in names', () => {
  const r = new QmpCommandRegistry().register({ name: 'stop', handler: () => undefined });
  assert.throws(() => r.register({ name: 'stop', handler: () => undefined }), { code: 'ERR_QMP_DUPLICATE_COMMAND' });
  assert.throws(() => r.register({ name: 'query-version', handler: () => undefined }), { code: 'ERR_QMP_DUPLICATE_COMMAND' });
  assert.equal(r.unregister('stop'), true);
  assert.equal(r.has('stop'), false);
});
