# Count Ethernet frames of one ethertype from one source MAC on an interface,
# for a while (raw AF_PACKET socket: run as root, inside the namespace).
# ETHERTYPE_HEX "all" counts every ethertype. Frames the interface sends
# (PACKET_OUTGOING: on a TAP, what the bridge forwards to the VMM) are not
# counted: only what arrives on it (on a TAP, what the VMM writes).
# SIGTERM, or the interface going away, ends the count early; the count is
# printed either way.
# Usage: python3 count-frames.py IFACE ETHERTYPE_HEX|all SRC_MAC SECONDS
import signal, socket, sys, time

ETH_P_ALL = 0x0003
iface, src, seconds = sys.argv[1], bytes.fromhex(sys.argv[3].replace(':', '')), float(sys.argv[4])
ethertype = None if sys.argv[2] == 'all' else int(sys.argv[2], 16)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL if ethertype is None else ethertype))
s.bind((iface, 0))
s.settimeout(0.05)
print('ready', flush=True)
end = time.monotonic() + seconds
def stop(_sig, _frame):
    global end
    end = 0
signal.signal(signal.SIGTERM, stop)
count = 0
while time.monotonic() < end:
    try:
        frame, addr = s.recvfrom(2048)
    except socket.timeout:
        continue
    except OSError:
        break  # the interface went away (a TAP whose VMM exited): the count so far
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    if frame[6:12] == src and (ethertype is None or int.from_bytes(frame[12:14], 'big') == ethertype):
        count += 1
print(count, flush=True)
