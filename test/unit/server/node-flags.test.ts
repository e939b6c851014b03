/**
 * The server's Node flags (its young generation) go to every server process,
 * unless the caller set the same flag already: NODE_OPTIONS or node's own
 * command line wins.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS, serverNodeFlags } from '../../../src/cli/serve-processes.ts';

const saved = { options: process.env.NODE_OPTIONS, argv: process.execArgv };

afterEach(() => {
  if (saved.options === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = saved.options;
  process.execArgv = saved.argv;
});

describe('serverNodeFlags', () => {
  it('sets a bigger young generation by default', () => {
    delete process.env.NODE_OPTIONS;
    process.execArgv = ['--import', 'tsx'];
    expect(SERVER_NODE_FLAGS).toContain('--max-semi-space-size=32');
    expect(serverNodeFlags()).toEqual([...SERVER_NODE_FLAGS]);
  });

  it("leaves out a flag the caller set, by NODE_OPTIONS or node's command line", () => {
    process.execArgv = [];
    process.env.NODE_OPTIONS = '--enable-source-maps  --max-semi-space-size=8';
    expect(serverNodeFlags()).toEqual([]);
    delete process.env.NODE_OPTIONS;
    process.execArgv = ['--max-semi-space-size=64', '--import', 'tsx'];
    expect(serverNodeFlags()).toEqual([]);
  });
});
