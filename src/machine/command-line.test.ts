import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { VmigError } from '../core/index.js';
import { parseVmCommandLine } from './command-line.js';
import type { VmConfig } from './vm-config.js';

const TAP = ['-netdev', 'tap,id=n0,ifname=tap0,queues=4,script=no,downscript=no'];
const NIC = ['-device', 'virtio-net-pci,netdev=n0,id=net0'];

function fails(argv: string[], code: string, message: string): void {
  assert.throws(
    () => parseVmCommandLine(argv),
    (err: unknown) => {
      assert.ok(err instanceof VmigError, String(err));
      assert.equal(err.message, message);
      assert.equal(err.code, code);
      return true;
    },
    argv.join(' '),
  );
}

const device = (c: VmConfig, i = 0) => c.devices[i]!;

describe('defaults and the VM-wide options', () => {
  test('an empty command line gives the defaults', () => {
    const c = parseVmCommandLine([]);
    assert.equal(c.machineType, 'pc-q35-11.1');
    assert.equal(c.memoryBytes, 128 * 2 ** 20);
    assert.equal(c.cpus, 1);
    assert.deepEqual(c.serial, { kind: 'stdio' });
    assert.deepEqual(c.guest, { udpEchoPort: 7777 });
    assert.equal(c.startPaused, false);
    assert.deepEqual([c.devices, c.netdevs, c.chardevs, c.globals, c.qmp, c.warnings], [[], [], [], [], [], []]);
    assert.equal(c.incoming, undefined);
  });

  test('-machine / -M, with accel and the alias', () => {
    assert.equal(parseVmCommandLine(['-machine', 'pc-q35-10.1']).machineType, 'pc-q35-10.1');
    assert.equal(parseVmCommandLine(['-M', 'q35,accel=tcg']).machineType, 'pc-q35-11.1');
    assert.equal(parseVmCommandLine(['--machine', 'type=pc-q35-10.0,usb=off,dump-guest-core=off']).machineType, 'pc-q35-10.0');
    fails(['-machine', 'pc-i440fx-10.2'], 'ERR_MACHINE_UNKNOWN_TYPE', "-machine: unsupported machine type 'pc-i440fx-10.2' (vmig supports: pc-q35-11.1 (alias q35), pc-q35-11.0, pc-q35-10.2, pc-q35-10.1, pc-q35-10.0)");
    fails(['-machine', 'q35,accel=kvm'], 'ERR_MACHINE_BAD_OPTION', "-machine: accelerator 'kvm' is not available: vmig runs its own guest in worker threads (use tcg or omit it)");
    fails(['-machine', 'q35,hpet=off'], 'ERR_MACHINE_BAD_OPTION', "-machine: unknown parameter 'hpet'");
  });

  test('-m with suffixes, MiB by default, rounded like QEMU', () => {
    assert.equal(parseVmCommandLine(['-m', '256M']).memoryBytes, 256 * 2 ** 20);
    assert.equal(parseVmCommandLine(['-m', '512']).memoryBytes, 512 * 2 ** 20);
    assert.equal(parseVmCommandLine(['-m', '1G']).memoryBytes, 2 ** 30);
    assert.equal(parseVmCommandLine(['-m', 'size=1.5G']).memoryBytes, 1.5 * 2 ** 30);
    assert.equal(parseVmCommandLine(['-m', '9000K']).memoryBytes, 9000 * 1024 + 0, '9000K is a multiple of 8 KiB');
    assert.equal(parseVmCommandLine(['-m', '9001K']).memoryBytes, 9008 * 1024);
    fails(['-m', '12X'], 'ERR_MACHINE_BAD_OPTION', "-m: invalid size '12X' (a number with an optional K, M, G or T suffix; MiB by default)");
    fails(['-m', '4M'], 'ERR_MACHINE_BAD_OPTION', "-m: 4M is below vmig's minimum of 8M");
    fails(['-m', '65G'], 'ERR_MACHINE_BAD_OPTION', "-m: 65G is above vmig's maximum of 64G");
  });

  test('-smp', () => {
    assert.equal(parseVmCommandLine(['-smp', '2']).cpus, 2);
    assert.equal(parseVmCommandLine(['-smp', 'cpus=4,sockets=1,cores=2,threads=2']).cpus, 4);
    assert.equal(parseVmCommandLine(['-smp', '4,maxcpus=4,sockets=2']).cpus, 4);
    fails(['-smp', '0'], 'ERR_MACHINE_BAD_OPTION', "-smp: cpus must be 1..64, got '0'");
    fails(['-smp', '2,maxcpus=4'], 'ERR_MACHINE_BAD_OPTION', '-smp: maxcpus=4 differs from cpus=2; vmig has no CPU hotplug');
    fails(['-smp', '4,sockets=1,cores=2,threads=1'], 'ERR_MACHINE_BAD_OPTION', '-smp: the topology (1 × 2 × 1 = 2) does not fit cpus=4');
  });

  test('-name, -S, and the options accepted for QEMU compatibility', () => {
    const c = parseVmCommandLine(['-name', 'guest=src,,vm,debug-threads=on', '-S', '-nodefaults', '-no-user-config', '-display', 'none', '-nographic', '-vga', 'none', '-accel', 'tcg']);
    assert.equal(c.name, 'src,vm');
    assert.equal(c.startPaused, true);
    assert.equal(c.nodefaults, true);
    assert.equal(parseVmCommandLine(['-name', 'plain']).name, 'plain');
    fails(['-display', 'gtk'], 'ERR_MACHINE_BAD_OPTION', "-display: 'gtk' is not supported (vmig has no display; use -display none)");
    fails(['-accel', 'hvf'], 'ERR_MACHINE_BAD_OPTION', "-accel: accelerator 'hvf' is not available: vmig runs its own guest in worker threads (use tcg or omit it)");
    fails(['-name', 'a,colour=red'], 'ERR_MACHINE_BAD_OPTION', "-name: unknown parameter 'colour'");
  });

  test('unknown options, stray arguments, missing values, repeats', () => {
    fails(['-hda', 'disk.img'], 'ERR_MACHINE_UNKNOWN_OPTION', "unknown option '-hda'");
    fails(['-devic', 'x'], 'ERR_MACHINE_UNKNOWN_OPTION', "unknown option '-devic' (did you mean '-device'?)");
    fails(['disk.img'], 'ERR_MACHINE_UNKNOWN_OPTION', "unexpected argument 'disk.img' (vmig takes no disk images or positional arguments)");
    fails(['-m'], 'ERR_MACHINE_BAD_OPTION', '-m: needs a value');
    fails(['-m', '1G', '-m', '2G'], 'ERR_MACHINE_BAD_OPTION', '-m: given more than once');
  });

  test('-qmp', () => {
    assert.deepEqual(parseVmCommandLine(['-qmp', 'unix:/tmp/q.sock,server=on,wait=off']).qmp, [{ transport: 'unix', path: '/tmp/q.sock', wait: false }]);
    assert.deepEqual(parseVmCommandLine(['-qmp', 'unix:/tmp/a,,b,server,nowait', '-qmp', 'unix:/tmp/c,server=on']).qmp, [
      { transport: 'unix', path: '/tmp/a,b', wait: false },
      { transport: 'unix', path: '/tmp/c', wait: true },
    ]);
    fails(['-qmp', 'tcp:localhost:4444,server=on'], 'ERR_MACHINE_BAD_OPTION', "-qmp: 'tcp:localhost:4444,server=on' is not supported (vmig serves QMP on unix:PATH,server=on,wait=off)");
    fails(['-qmp', 'unix:/tmp/q'], 'ERR_MACHINE_BAD_OPTION', '-qmp: server=on is required (vmig does not connect out to a QMP client)');
    fails(['-qmp', 'unix:/q,server=on', '-qmp', 'unix:/q,server=on'], 'ERR_MACHINE_BAD_OPTION', '-qmp: unix:/q is given twice');
  });

  test('-incoming', () => {
    assert.deepEqual(parseVmCommandLine(['-incoming', 'defer']).incoming, { kind: 'defer' });
    assert.deepEqual(parseVmCommandLine(['-incoming', 'tcp:0.0.0.0:4444']).incoming, { kind: 'tcp', uri: 'tcp:0.0.0.0:4444', host: '0.0.0.0', port: 4444 });
    assert.deepEqual(parseVmCommandLine(['-incoming', 'tcp::0']).incoming, { kind: 'tcp', uri: 'tcp::0', host: '', port: 0 });
    assert.deepEqual(parseVmCommandLine(['-incoming', 'tcp:[::1]:4444']).incoming, { kind: 'tcp', uri: 'tcp:[::1]:4444', host: '::1', port: 4444 });
    assert.deepEqual(parseVmCommandLine(['-incoming', 'unix:/tmp/mig.sock']).incoming, { kind: 'unix', uri: 'unix:/tmp/mig.sock', path: '/tmp/mig.sock' });
    fails(['-incoming', 'tcp:host:99999'], 'ERR_MACHINE_BAD_OPTION', "-incoming: invalid port '99999' in 'tcp:host:99999' (0..65535)");
    fails(['-incoming', 'exec:cat'], 'ERR_MACHINE_BAD_OPTION', "-incoming: unsupported URI 'exec:cat' (vmig takes defer, tcp:HOST:PORT, unix:PATH or file:PATH)");
  });

  test('-serial', () => {
    assert.deepEqual(parseVmCommandLine(['-serial', 'stdio']).serial, { kind: 'stdio' });
    assert.deepEqual(parseVmCommandLine(['-serial', 'null']).serial, { kind: 'null' });
    assert.deepEqual(parseVmCommandLine(['-serial', 'file:/tmp/a,b.log']).serial, { kind: 'file', path: '/tmp/a,b.log' });
    fails(['-serial', 'pty'], 'ERR_MACHINE_BAD_OPTION', "-serial: unsupported 'pty' (vmig takes none, null, stdio or file:PATH)");
  });

  test('-trace', () => {
    assert.deepEqual(parseVmCommandLine([]).trace, []);
    assert.deepEqual(parseVmCommandLine(['-trace', 'migrate_*', '-trace', 'enable=incoming_eof']).trace, ['migrate_*', 'incoming_eof']);
    fails(['-trace', 'enable=no_such_*'], 'ERR_MACHINE_BAD_OPTION', "-trace: no trace event matches 'no_such_*' (docs/BENCHMARKS.md, \"Tracing\", lists them)");
    fails(['-trace', 'enable=migrate_*,file=/tmp/t'], 'ERR_MACHINE_BAD_OPTION', '-trace: file= is not supported: vmig keeps trace events in memory (read them with QMP x-vmig-query-trace); use -trace enable=PATTERN');
    fails(['-trace', 'events=/tmp/list'], 'ERR_MACHINE_BAD_OPTION', '-trace: events= is not supported: vmig keeps trace events in memory (read them with QMP x-vmig-query-trace); use -trace enable=PATTERN');
  });

  test('-guest', () => {
    assert.deepEqual(parseVmCommandLine(['-guest', 'ip=10.0.0.2/24']).guest, { ip: { address: '10.0.0.2', prefixLength: 24 }, udpEchoPort: 7777 });
    assert.deepEqual(parseVmCommandLine(['-m', '256M', '-guest', 'udp-echo=9000,workload=64M,dirty-rate=8M']).guest, { udpEchoPort: 9000, workload: { bytes: 64 * 2 ** 20, dirtyRateBytesPerSec: 8 * 2 ** 20 } });
    assert.deepEqual(parseVmCommandLine(['-guest', 'udp-echo=off,workload=4096']).guest, { udpEchoPort: undefined, workload: { bytes: 4096, dirtyRateBytesPerSec: 0 } });
    fails(['-guest', 'ip=10.0.0.300/24'], 'ERR_MACHINE_BAD_OPTION', "-guest: ip expects A.B.C.D/N (prefix 1..32), got '10.0.0.300/24'");
    fails(['-guest', 'udp-echo=0'], 'ERR_MACHINE_BAD_OPTION', "-guest: udp-echo must be a port 1..65535 or off, got '0'");
    fails(['-guest', 'dirty-rate=1M'], 'ERR_MACHINE_BAD_OPTION', '-guest: dirty-rate needs workload=SIZE (the pages it dirties)');
    fails(['-guest', 'workload=lots'], 'ERR_MACHINE_BAD_OPTION', "-guest: workload: invalid size 'lots' (bytes, or with a K, M, G suffix)");
    fails(['-m', '128M', '-guest', 'workload=128M'], 'ERR_MACHINE_BAD_OPTION', '-guest: workload of 134217728 bytes does not fit in 134217728 bytes of RAM (-m)');
  });
});

describe('backends', () => {
  test('-netdev tap', () => {
    assert.deepEqual(parseVmCommandLine([...TAP, ...NIC]).netdevs, [{ type: 'tap', id: 'n0', ifname: 'tap0', queues: 4 }]);
    assert.deepEqual(parseVmCommandLine(['-netdev', 'tap,id=n1,vhost=off', '-device', 'virtio-net-pci,netdev=n1']).netdevs, [{ type: 'tap', id: 'n1', queues: 1 }]);
    assert.deepEqual(parseVmCommandLine(['-netdev', '{"type":"tap","id":"n2","queues":2}', '-device', 'virtio-net-pci,netdev=n2,mq=on']).netdevs, [{ type: 'tap', id: 'n2', queues: 2 }]);
    fails(['-netdev', 'tap,id=n0,queues=9'], 'ERR_MACHINE_BAD_OPTION', "-netdev tap: queues must be 1..8, got '9'");
    fails(['-netdev', 'tap,id=n0,vhost=on'], 'ERR_MACHINE_BAD_OPTION', '-netdev tap: vhost=on needs the kernel vhost-net, which vmig does not use; use -netdev vhost-user');
    fails(['-netdev', 'tap,id=n0,script=/etc/qemu-ifup'], 'ERR_MACHINE_BAD_OPTION', '-netdev tap: script=/etc/qemu-ifup: vmig runs no interface scripts; configure the TAP beforehand and use script=no');
    fails(['-netdev', 'tap,ifname=tap0'], 'ERR_MACHINE_BAD_OPTION', '-netdev tap: id= is required');
    fails(['-netdev', 'tap,id=0n'], 'ERR_MACHINE_BAD_OPTION', "-netdev tap: id '0n' is not well-formed (a letter, then letters, digits, '-', '.', '_')");
    fails(['-netdev', 'tap,id=n0,ifname=much-too-long-name'], 'ERR_MACHINE_BAD_OPTION', "-netdev tap: ifname 'much-too-long-name' is not a valid interface name (at most 15 characters, no '/' or spaces)");
    fails(['-netdev', 'tap,id=n0,fd=3'], 'ERR_MACHINE_BAD_OPTION', "-netdev tap: unknown parameter 'fd'");
    fails(['-netdev', 'user,id=n0'], 'ERR_MACHINE_BAD_OPTION', "-netdev user: type 'user' is not supported (vmig supports: tap, vhost-user)");
    fails(['-netdev', 'tap,id=n0', '-netdev', 'tap,id=n0'], 'ERR_MACHINE_DUPLICATE_ID', "-netdev tap: id 'n0' is already used by another -netdev");
  });

  test('-chardev socket and -netdev vhost-user', () => {
    const c = parseVmCommandLine(['-chardev', 'socket,id=c0,path=/tmp/vu.sock', '-netdev', 'vhost-user,id=n0,chardev=c0,queues=4', '-device', 'virtio-net-pci,netdev=n0,mq=on,tx_queue_size=1024']);
    assert.deepEqual(c.chardevs, [{ backend: 'socket', id: 'c0', path: '/tmp/vu.sock', server: false, wait: true }]);
    assert.deepEqual(c.netdevs, [{ type: 'vhost-user', id: 'n0', chardev: 'c0', queues: 4 }]);
    assert.equal(device(c).properties.tx_queue_size, 1024, 'vhost-user allows a 1024-entry TX ring');
    assert.deepEqual(parseVmCommandLine(['-chardev', 'socket,id=c1,path=/tmp/s,server=on,wait=off']).chardevs[0], { backend: 'socket', id: 'c1', path: '/tmp/s', server: true, wait: false });
    fails(['-chardev', 'pty,id=c0'], 'ERR_MACHINE_BAD_OPTION', "-chardev pty: backend 'pty' is not supported (vmig supports: socket)");
    fails(['-chardev', 'socket,id=c0'], 'ERR_MACHINE_BAD_OPTION', '-chardev socket: path= is required (vmig supports unix sockets only)');
    fails(['-chardev', 'socket,id=c0,path=/a', '-chardev', 'socket,id=c0,path=/b'], 'ERR_MACHINE_DUPLICATE_ID', "-chardev socket: id 'c0' is already used by another -chardev");
    fails(['-netdev', 'vhost-user,id=n0,chardev=c9'], 'ERR_MACHINE_BAD_REFERENCE', "-netdev vhost-user: chardev 'c9' is not defined (add -chardev socket,id=c9,path=...)");
    fails(['-chardev', 'socket,id=c0,path=/a', '-netdev', 'vhost-user,id=n0,chardev=c0', '-netdev', 'vhost-user,id=n1,chardev=c0'], 'ERR_MACHINE_BAD_REFERENCE', "-netdev vhost-user: chardev 'c0' is already used by netdev 'n0'");
  });
});

describe('-device virtio-net-pci and -global', () => {
  test('a typical device: explicit options, worked-out vectors, mac and addr', () => {
    const c = parseVmCommandLine([...TAP, '-device', 'virtio-net-pci,netdev=n0,id=net0,mac=52:54:00:aa:bb:cc,mq=on,early-mig-policy=rfc']);
    const d = device(c);
    assert.equal(d.id, 'net0');
    assert.deepEqual(d.options, { netdev: 'n0', mac: '52:54:00:aa:bb:cc', mq: 'on', 'early-mig-policy': 'rfc' });
    assert.equal(d.properties.vectors, 10, '2 × 4 queue pairs + 2');
    assert.equal(d.sources.vectors, 'auto');
    assert.equal(d.properties.addr, 2 << 3, 'slot 02: QEMU puts its VGA at 01 without -nodefaults');
    assert.equal(d.properties['early-mig'], true);
    assert.deepEqual(c.warnings, []);
  });

  test('JSON -device, default MACs in sequence, -nodefaults addresses, explicit addr', () => {
    const c = parseVmCommandLine([
      '-nodefaults',
      '-netdev', 'tap,id=a', '-netdev', 'tap,id=b', '-netdev', 'tap,id=c',
      '-device', '{"driver":"virtio-net-pci","netdev":"a","mq":false,"vectors":3}',
      '-device', 'virtio-net-pci,netdev=b,mac=52:54:00:12:34:56',
      '-device', 'virtio-net-pci,netdev=c,addr=1.0',
    ]);
    assert.deepEqual(c.devices.map((d) => d.properties.mac), ['52:54:00:12:34:57', '52:54:00:12:34:56', '52:54:00:12:34:58']);
    assert.deepEqual(c.devices.map((d) => d.properties.addr), [2 << 3, 3 << 3, 1 << 3]);
    assert.equal(device(c).properties.vectors, 3);
    assert.equal(device(c).sources.vectors, 'device');
  });

  test('early-mig per machine type, and overridden by -global and -device', () => {
    const early = (argv: string[]) => device(parseVmCommandLine([...TAP, ...argv, ...NIC])).properties['early-mig'];
    assert.equal(early(['-machine', 'pc-q35-10.1']), false);
    assert.equal(early(['-machine', 'pc-q35-10.2']), true);
    assert.equal(early(['-machine', 'pc-q35-10.1', '-global', 'virtio-net-device.early-mig=on']), true);
    assert.equal(early(['-machine', 'pc-q35-10.1', '-global', 'driver=virtio-net-pci,property=early-mig,value=on']), true);
    assert.equal(early(['-global', 'virtio-net-pci.early-mig=off']), false);
    const viaDevice = device(parseVmCommandLine(['-machine', 'pc-q35-10.0', ...TAP, '-global', 'virtio-net-pci.early-mig=off', '-device', 'virtio-net-pci,netdev=n0,early-mig=on']));
    assert.equal(viaDevice.properties['early-mig'], true);
    assert.equal(viaDevice.sources['early-mig'], 'device');
  });

  test('-global errors', () => {
    fails(['-global', 'virtio-net-pci.mqq=on'], 'ERR_MACHINE_UNKNOWN_PROPERTY', "-global: virtio-net-pci.mqq=on: property 'mqq' does not exist on virtio-net-pci");
    fails(['-global', 'e1000.mac=52:54:00:00:00:01'], 'ERR_MACHINE_UNKNOWN_DEVICE', "-global: e1000.mac=52:54:00:00:00:01: unknown driver 'e1000'");
    fails(['-global', 'virtio-net-pci.mq=sometimes'], 'ERR_MACHINE_BAD_PROPERTY', "-global: virtio-net-pci.mq=sometimes: property 'mq' expects on/off (or yes/no, true/false), got 'sometimes'");
    fails(['-global', 'virtio-net-pci'], 'ERR_MACHINE_BAD_OPTION', "-global: 'virtio-net-pci' is neither DRIVER.PROPERTY=VALUE nor driver=D,property=P,value=V");
    fails(['-global', 'driver=virtio-net-pci,property=mq'], 'ERR_MACHINE_BAD_OPTION', '-global: value= is required');
  });

  test('-device errors, one per rule', () => {
    fails([...TAP, '-device', 'virtio-net-pci,netdev=n0,mqq=on'], 'ERR_MACHINE_UNKNOWN_PROPERTY', "-device virtio-net-pci: unknown property 'mqq' (did you mean 'mq'?)");
    fails(['-device', 'e1000,netdev=n0'], 'ERR_MACHINE_UNKNOWN_DEVICE', "-device e1000: unknown device type 'e1000' (vmig supports: virtio-net-pci)");
    fails([...TAP, '-device', 'virtio-net-pci,netdev=n1'], 'ERR_MACHINE_BAD_REFERENCE', "-device virtio-net-pci: netdev 'n1' is not defined");
    fails(['-device', 'virtio-net-pci'], 'ERR_MACHINE_BAD_REFERENCE', '-device virtio-net-pci: netdev= is required (the id of the -netdev to connect to)');
    fails([...TAP, ...NIC, '-device', 'virtio-net-pci,netdev=n0'], 'ERR_MACHINE_BAD_REFERENCE', "-device virtio-net-pci: netdev 'n0' is already used by device 'net0'");
    fails([...TAP, '-netdev', 'tap,id=n1', ...NIC, '-device', 'virtio-net-pci,netdev=n1,id=net0'], 'ERR_MACHINE_DUPLICATE_ID', "-device virtio-net-pci: id 'net0' is already used by another -device");
    fails([...TAP, '-device', 'virtio-net-pci,netdev=n0,vectors=4096'], 'ERR_MACHINE_BAD_PROPERTY', "-device virtio-net-pci: vectors must be 1..2048, got '4096'");
    fails([...TAP, '-device', 'virtio-net-pci,netdev=n0,mac=01:02:03:04:05:06'], 'ERR_MACHINE_BAD_PROPERTY', '-device virtio-net-pci: mac 01:02:03:04:05:06 is a multicast address; a NIC needs a unicast one');
    fails([...TAP, '-device', 'virtio-net-pci,netdev=n0,rx_queue_size=512,tx_queue_size=100'], 'ERR_MACHINE_BAD_PROPERTY', "-device virtio-net-pci: tx_queue_size must be 256..1024, got '100'");
    fails([...TAP, '-device', 'virtio-net-pci,netdev=n0,early-mig=maybe'], 'ERR_MACHINE_BAD_PROPERTY', "-device virtio-net-pci: property 'early-mig' expects on/off (or yes/no, true/false), got 'maybe'");
    fails([...TAP, '-device', 'virtio-net-pci,netdev=n0,ctrl_vq=off,mq=on'], 'ERR_MACHINE_BAD_PROPERTY', '-device virtio-net-pci: ctrl_vq=off, but ctrl_rx=on, ctrl_vlan=on, guest_announce=on, mq=on, ctrl_mac_addr=on, ctrl_guest_offloads=on need the control virtqueue; turn them off too');
    fails([...TAP, '-device', 'virtio-net-pci,netdev=n0,addr=1f.0'], 'ERR_MACHINE_BAD_PROPERTY', '-device virtio-net-pci: addr 1f.0 is taken by the ICH9 LPC/SATA/SMBus functions');
    fails([...TAP, '-netdev', 'tap,id=n1', '-device', 'virtio-net-pci,netdev=n0,addr=3', '-device', 'virtio-net-pci,netdev=n1,addr=03.0,id=b'], 'ERR_MACHINE_BAD_PROPERTY', '-device virtio-net-pci: addr 03.0 is already used by device #1');
    fails([...TAP, '-device', 'virtio-net-pci,netdev='], 'ERR_MACHINE_BAD_PROPERTY', "-device virtio-net-pci: property 'netdev' must not be empty");
    fails([...TAP, '-device', 'virtio-net-pci,netdev=n0,,mq=on'], 'ERR_MACHINE_BAD_REFERENCE', "-device virtio-net-pci: netdev 'n0,mq=on' is not defined"); // ',,' is an escaped comma
  });

  test('ctrl_vq=off is fine once the features that need it are off', () => {
    const c = parseVmCommandLine([...TAP, '-device', 'virtio-net-pci,netdev=n0,ctrl_vq=off,ctrl_rx=off,ctrl_vlan=off,guest_announce=off,ctrl_mac_addr=off,ctrl_guest_offloads=off']);
    assert.equal(device(c).properties.ctrl_vq, false);
  });

  test('warnings: unused netdev, mq=off with several queues, tx_queue_size clamped on tap', () => {
    const c = parseVmCommandLine([...TAP, '-netdev', 'tap,id=spare', '-device', 'virtio-net-pci,netdev=n0,tx_queue_size=512']);
    assert.deepEqual(c.warnings, [
      "-device virtio-net-pci: mq=off, so the guest uses 1 of netdev 'n0''s 4 queue pairs",
      '-device virtio-net-pci: tx_queue_size=512 is only possible with vhost-user; using 256',
      "-netdev tap: 'spare' is not used by any device",
    ]);
    assert.equal(device(c).properties.tx_queue_size, 256);
  });
});
