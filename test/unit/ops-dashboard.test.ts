import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registry } from '../../src/metrics.ts';
import '../../src/sync/metrics.ts';
import { createReaderMetrics } from '../../src/serving/metrics.ts';

interface Panel {
  title: string;
  targets: Array<{ expr: string }>;
}

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(new URL('../../ops/grafana/dashboards/featurestream.json', import.meta.url), 'utf8')) as {
    uid: string;
    panels: Panel[];
  };

  it('is valid dashboard JSON with queries in every panel', () => {
    expect(dashboard.uid).toBe('featurestream');
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(8);
    for (const panel of dashboard.panels) expect(panel.targets.length, panel.title).toBeGreaterThan(0);
  });

  it('queries only metrics the code exports', () => {
    createReaderMetrics(registry);
    const queried = new Set(
      dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/featurestream_[a-z0-9_]+/g) ?? [])).map((m) => m.replace(/_(bucket|sum|count)$/, '')),
    );
    expect(queried.size).toBeGreaterThan(10);
    const missing = [...queried].filter((name) => registry.getSingleMetric(name) === undefined);
    expect(missing).toEqual([]);
  });
});
