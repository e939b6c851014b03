// Runs dynalite (a DynamoDB-compatible server on LevelDB) on loopback, in memory unless a data dir is given.
// Usage: node dynalite-server.mjs <port> [data-dir]  (a data dir keeps tables across restarts, for outage tests)
import dynalite from 'dynalite';

const port = Number(process.argv[2] ?? 8000);
const path = process.argv[3];
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(path ? { path } : {}) });
server.listen(port, '127.0.0.1', (err) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(`dynalite listening on 127.0.0.1:${port}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
