/**
 * The load test's floor: node:http answering every POST with the bytes of a
 * featurestream answer read once from a file (argv[3]), on port argv[2]. No
 * Redis, no parsing, no JSON: what the same machine, load generator and
 * Node HTTP stack cost for the same 45 KB answers, so that the servers' p99
 * can be read against it.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const answer = readFileSync(process.argv[3]!);
const headers = { 'content-type': 'application/json', 'content-length': String(answer.length) };

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(200, { 'content-length': '2' }).end('ok');
    return;
  }
  req.resume();
  req.on('end', () => res.writeHead(200, headers).end(answer));
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
