// tsc does not copy non-TS files: mirror src/**/*.lua into dist/ so compiled code finds its scripts.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.lua')) cpSync(path, join('dist', relative('src', path)));
  }
}
walk('src');
