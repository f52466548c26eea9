#!/usr/bin/env node
/**
 * An example: for each server port that several flows share, which key tells them apart, the
 * question of the mission ("does the port number pick the process?").
 *
 *   node examples/demux-keys.mjs fixtures/demux-lo.pcap
 */
import { demux } from 'flowdemux';

const capture = process.argv[2];
if (!capture) {
  console.error('usage: node examples/demux-keys.mjs CAPTURE');
  process.exit(2);
}
const doc = await demux(capture);
for (const g of doc.groups) {
  console.log(`${g.proto} port ${g.port}: ${g.flows.length} flows, key needed: ${g.keyNeeded}${g.differBy.length ? ` (they differ by ${g.differBy.join(', ')})` : ''}`);
}
if (doc.groups.length === 0) console.log('no port is shared by several flows: the port alone picks the socket here');
