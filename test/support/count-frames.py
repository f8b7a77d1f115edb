# Count Ethernet frames of one ethertype from one source MAC on an interface,
# for a while (raw AF_PACKET socket: run as root, inside the namespace).
# SIGTERM ends the count early; the count is printed either way.
# Usage: python3 count-frames.py IFACE ETHERTYPE_HEX SRC_MAC SECONDS
import signal, socket, sys, time

iface, ethertype, src, seconds = sys.argv[1], int(sys.argv[2], 16), bytes.fromhex(sys.argv[3].replace(':', '')), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
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
        frame = s.recv(2048)
    except socket.timeout:
        continue
    if frame[6:12] == src and int.from_bytes(frame[12:14], 'big') == ethertype:
        count += 1
print(count, flush=True)
