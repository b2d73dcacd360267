#!/usr/bin/env node
/*
 * A tiny authoritative DNS responder for Pebble's `-dnsserver` flag (UDP and TCP on one port).
 *
 * Pebble validates http-01 by resolving the domain and connecting to it on port 80. With
 * `-dnsserver 127.0.0.1:PORT` it asks this process instead of the system resolver, so the test
 * domains point at the test container without touching /etc/hosts, and two hosts can both use
 * `example.com` (each Pebble has its own responder).
 *
 * Usage: node dns-responder.js [--listen ADDR] [--marker TEXT] NAME=IPV4 ...
 *   Answers A queries for each NAME (case-insensitive, exact) with IPV4; other types for a known
 *   name get an empty NOERROR answer (so AAAA lookups fall through to A); unknown names NXDOMAIN.
 *   --marker is ignored: it puts the owning run directory on the command line so down.sh can tell
 *   this process is ours. Prints one JSON line {"port": N} on stdout when ready. Ends on SIGTERM.
 */
"use strict";
const dgram = require("dgram");
const net = require("net");

const args = process.argv.slice(2);
let listen = "127.0.0.1";
const records = new Map();
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--listen") listen = args[++i];
  else if (a === "--marker") i++;
  else {
    const m = /^([A-Za-z0-9.-]+)=(\d+\.\d+\.\d+\.\d+)$/.exec(a);
    if (!m) {
      process.stderr.write(`dns-responder: bad argument ${a}\n`);
      process.exit(2);
    }
    records.set(m[1].toLowerCase().replace(/\.$/, ""), m[2].split(".").map(Number));
  }
}

/** Build the answer to one query message, or null if it cannot be parsed. */
function answer(query) {
  if (query.length < 12) return null;
  const qdcount = query.readUInt16BE(4);
  if (qdcount !== 1) return null;
  let off = 12;
  const labels = [];
  while (off < query.length) {
    const len = query[off];
    if (len === 0) break;
    if (len > 63 || off + 1 + len > query.length) return null;
    labels.push(query.subarray(off + 1, off + 1 + len).toString("ascii"));
    off += 1 + len;
  }
  if (off + 5 > query.length) return null;
  const qtype = query.readUInt16BE(off + 1);
  const qclass = query.readUInt16BE(off + 3);
  const question = query.subarray(12, off + 5);
  const name = labels.join(".").toLowerCase();
  const ip = records.get(name);

  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  const rd = query[2] & 0x01;
  const opcode = query[2] & 0x78;
  header[2] = 0x80 | opcode | 0x04 | rd; // QR, opcode, AA, RD
  header[3] = 0x80 | (ip ? 0 : 3); // RA, NOERROR or NXDOMAIN
  header.writeUInt16BE(1, 4);
  const answers = [];
  if (ip && qtype === 1 && qclass === 1) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(5, 6); // TTL
    rr.writeUInt16BE(4, 10);
    Buffer.from(ip).copy(rr, 12);
    answers.push(rr);
  }
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, question, ...answers]);
}

function serveTcp(sock) {
  let buf = Buffer.alloc(0);
  sock.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      const res = answer(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
      if (!res) {
        sock.destroy();
        return;
      }
      const lenBuf = Buffer.alloc(2);
      lenBuf.writeUInt16BE(res.length, 0);
      sock.write(Buffer.concat([lenBuf, res]));
    }
  });
  sock.on("error", () => sock.destroy());
}

function fail(e) {
  process.stderr.write(`dns-responder: ${e.message}\n`);
  process.exit(1);
}

/** Bind UDP on a free port, then TCP on the same port (retry with another if that one is taken). */
function start(attempt) {
  const udp = dgram.createSocket("udp4");
  udp.on("message", (msg, rinfo) => {
    const res = answer(msg);
    if (res) udp.send(res, rinfo.port, rinfo.address);
  });
  udp.once("error", fail);
  udp.bind(0, listen, () => {
    const port = udp.address().port;
    const tcp = net.createServer(serveTcp);
    tcp.once("error", (e) => {
      if (e.code === "EADDRINUSE" && attempt < 20) udp.close(() => start(attempt + 1));
      else fail(e);
    });
    tcp.listen(port, listen, () => {
      process.stdout.write(JSON.stringify({ port }) + "\n");
    });
  });
}

for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => process.exit(0));
start(0);
