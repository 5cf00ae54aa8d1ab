#!/usr/bin/env python3
"""Small servers for the checker's namespace tests (stdlib only).

Usage: servers.py MODE ADDR PORT [ARGS]
  silent-tcp              accept connections, never answer
  smtp BANNER HELO_NAME   greet with BANNER; 250 to "HELO HELO_NAME", 501 otherwise; 221 to QUIT
  udp-echo                send every datagram back
  udp-reply HEX           answer every datagram with the bytes HEX
  udp-whoami              answer with the sender's "ip:port"
  udp-silent              receive and say nothing
  dns                     a toy DNS server; see answer() for the names it knows
"""
import socket
import struct
import sys
import threading


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def silent_tcp(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    held = []
    while True:
        conn, _ = s.accept()
        held.append(conn)  # keep it open, say nothing


def tcp_accept(addr, port):
    """Accepts and closes at once, with a long accept queue (many checks at the same time)."""
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1024)
    while True:
        conn, _ = s.accept()
        conn.close()


def smtp(addr, port, banner, helo_name):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)

    def serve(conn):
        # A checker that gives up mid-conversation (its timeout, or tandem stopping) resets
        # the connection: that ends the conversation, as it would for a real mail server.
        try:
            converse(conn)
        except (ConnectionResetError, BrokenPipeError):
            pass

    def converse(conn):
        with conn:
            f = conn.makefile("rwb")
            f.write(banner.encode() + b"\r\n")
            f.flush()
            for line in f:
                words = line.decode(errors="replace").strip().split()
                if not words:
                    continue
                verb = words[0].upper()
                if verb == "HELO":
                    ok = len(words) == 2 and words[1] == helo_name
                    f.write(b"250 pleased to meet you\r\n" if ok else b"501 who are you\r\n")
                elif verb == "QUIT":
                    f.write(b"221 bye\r\n")
                    f.flush()
                    return
                else:
                    f.write(b"502 not implemented\r\n")
                f.flush()

    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def udp(addr, port, mode, arg):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(65535)
        if mode == "udp-echo":
            s.sendto(data, peer)
        elif mode == "udp-reply":
            s.sendto(bytes.fromhex(arg), peer)
        elif mode == "udp-whoami":
            s.sendto(("%s:%d" % (peer[0], peer[1])).encode(), peer)


def parse_question(msg):
    """(id, flags, qname, qtype, end of question) of a query."""
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    pos, labels = 12, []
    while msg[pos] != 0:
        n = msg[pos]
        labels.append(msg[pos + 1:pos + 1 + n].decode().lower())
        pos += 1 + n
    pos += 1
    qtype, _qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels), qtype, pos + 4


def answer(msg):
    qid, flags, name, qtype, end = parse_question(msg)
    question = msg[12:end]
    rd = flags & 0x0100
    def reply(rcode, answers, id_=qid):
        header = struct.pack("!HHHHHH", id_, 0x8000 | rd | 0x0400 | rcode, 1, len(answers), 0, 0)
        return header + question + b"".join(answers)
    a_record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 53])
    soa = (b"\xc0\x0c" + struct.pack("!HHI", 6, 1, 60))
    soa_rdata = b"\x00\x00" + struct.pack("!IIIII", 1, 2, 3, 4, 5)
    soa += struct.pack("!H", len(soa_rdata)) + soa_rdata
    if name == "example.test" and qtype == 1:
        return reply(0, [a_record])
    if name == "example.test" and qtype == 28:
        aaaa = socket.inet_pton(socket.AF_INET6, "2001:db8::53")
        return reply(0, [b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, 60, 16) + aaaa])
    if name == "" and qtype == 6:
        return reply(0, [soa])
    if name == "empty.example.test":
        return reply(0, [])
    if name == "nx.example.test":
        return reply(3, [])
    if name == "wrongid.example.test":
        return reply(0, [a_record], id_=(qid + 1) & 0xFFFF)
    if name == "garbage.example.test":
        return struct.pack("!H", qid) + b"\x84\x00\x00\x01\x00\x01\x00\x00\x00\x00\xff\xff"
    return reply(5, [])


def dns(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(4096)
        try:
            s.sendto(answer(data), peer)
        except Exception as e:  # a malformed query gets no answer
            print("bad query:", e, flush=True)


def main():
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    args = sys.argv[4:]
    if mode == "silent-tcp":
        silent_tcp(addr, port)
    elif mode == "tcp-accept":
        tcp_accept(addr, port)
    elif mode == "smtp":
        smtp(addr, port, args[0], args[1])
    elif mode in ("udp-echo", "udp-reply", "udp-whoami", "udp-silent"):
        udp(addr, port, mode, args[0] if args else None)
    elif mode == "dns":
        dns(addr, port)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
