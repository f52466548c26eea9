#!/usr/bin/env node
/**
 * An example: "what is talking to my port, and how did it go?" for one port of a capture.
 *
 *   node examples/who-talks.mjs fixtures/demux-lo.pcap 8089
 *
 * One line a flow on that port, as it ends: client, server, state and history (Zeek's letters),
 * bytes each way; then the capture's warnings, if any.
 */
import { flows } from 'flowdemux';

const [capture, portText] = process.argv.slice(2);
const port = Number(portText);
if (!capture || !Number.isInteger(port)) {
  console.error('usage: node examples/who-talks.mjs CAPTURE PORT');
  process.exit(2);
}
const reading = flows(capture);
for await (const f of reading) {
  if (f.client.port !== port && f.server.port !== port) continue;
  console.log(`${f.proto} ${f.client.ip}:${f.client.port} -> ${f.server.ip}:${f.server.port}`
    + ` ${f.state} ${f.history || '-'} (${f.toServer.payloadBytes} bytes asked, ${f.toClient.payloadBytes} answered)`);
}
for (const w of reading.report.warnings) console.error(`warning: ${w}`);
