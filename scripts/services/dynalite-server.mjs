// Runs dynalite (a DynamoDB-compatible server on LevelDB) in memory on loopback.
// Usage: node dynalite-server.mjs <port>
import dynalite from 'dynalite';

const port = Number(process.argv[2] ?? 8000);
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
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
