#!/usr/bin/env node
// Installed entry point: runs the compiled CLI in dist/ (built by `npm run build`; `npm pack` runs it via prepack).
await import('../dist/cli/main.js');
