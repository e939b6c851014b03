/**
 * Feast's `POST /get-online-features` wire format on the feature server, so a
 * Feast HTTP client can point at featurestream unchanged:
 *
 *   {"features": ["view:feature", ...], "entities": {"user_id": ["u1", ...]}, "full_feature_names"?: bool}
 *   -> {"metadata": {"feature_names": ["user_id", "feature", ...]},
 *       "results": [{"values": [...], "statuses": [...], "event_timestamps": [...]}, ...]}
 *
 * Column-wise as Feast answers: the join key first, then one result per
 * requested feature, in request order, each holding one value per entity.
 * - The join key names the entity: `<entity>_id` (Feast's convention) or the
 *   entity name itself. One join key per request (no composite keys).
 * - The view part is echoed in `view__feature` names (full_feature_names) but
 *   not checked: a featurestream feature name is unique per entity.
 * - Values are featurestream's: a feature with nothing stored (or lapsed,
 *   corrupt, unreachable) carries its registry default, with status
 *   `NOT_FOUND` and the epoch as its timestamp; the others are `PRESENT`,
 *   timestamped with the vector's write time (now minus its age).
 * - Feature services are not supported. A bad shape is a 400 naming the field.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isFeaturestreamError } from '../errors.ts';
import type { FeatureReader } from '../serving/reader.ts';
import type { FeatureVector } from '../serving/types.ts';
import { readBody } from './body.ts';
import { JsonBytes } from './json-bytes.ts';

export interface FeastRequest {
  entity: string;
  joinKey: string;
  /** As sent, for the join key column (ids may be integers in Feast). */
  keys: Array<string | number>;
  ids: string[];
  refs: Array<{ view: string; feature: string }>;
  fullFeatureNames: boolean;
}

type Parsed = { ok: true; request: FeastRequest } | { ok: false; code: 'BAD_JSON' | 'BAD_REQUEST'; message: string };

const EPOCH = '1970-01-01T00:00:00Z';
const EPOCH_JSON = JSON.stringify(EPOCH);
/** Codes a caller's mistake carries out of the reader: a 400 (as on POST /features). */
const CALLER_ERRORS = new Set(['NOT_FOUND', 'CONFIG_INVALID', 'ENTITY_ID_INVALID']);

const bad = (message: string): Parsed => ({ ok: false, code: 'BAD_REQUEST', message });

export function parseFeastRequest(text: string, maxIds: number): Parsed {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'BAD_JSON', message: `request body is not valid JSON: ${(err as Error).message}` };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('request body must be a JSON object {"features", "entities", "full_feature_names"?}');
  const { features, entities, full_feature_names: full, feature_service: service } = body as Record<string, unknown>;
  if (service !== undefined) return bad('"feature_service" is not supported: list the features as "view:feature" in "features"');
  if (full !== undefined && typeof full !== 'boolean') return bad('"full_feature_names" must be true or false when given');
  if (!Array.isArray(features) || features.length === 0) return bad('"features" must be a non-empty array of "view:feature" strings');
  const refs: FeastRequest['refs'] = [];
  const seen = new Set<string>();
  for (const [i, ref] of features.entries()) {
    const match = typeof ref === 'string' ? /^([^:]+):([^:]+)$/.exec(ref) : null;
    if (!match) return bad(`"features[${i}]" must look like "view:feature", got ${JSON.stringify(ref)}`);
    const view = match[1]!;
    const feature = match[2]!;
    if (seen.has(feature)) return bad(`"features[${i}]": feature "${feature}" is asked for twice`);
    seen.add(feature);
    refs.push({ view, feature });
  }
  if (typeof entities !== 'object' || entities === null || Array.isArray(entities)) return bad('"entities" must be an object {"<join key>": [ids]}');
  const joinKeys = Object.keys(entities);
  if (joinKeys.length !== 1) return bad(`"entities" must have exactly one join key, got ${joinKeys.length}${joinKeys.length ? ` (${joinKeys.join(', ')})` : ''}`);
  const joinKey = joinKeys[0]!;
  const keys = (entities as Record<string, unknown>)[joinKey];
  const where = `"entities.${joinKey}"`;
  if (!Array.isArray(keys) || keys.length === 0) return bad(`${where} must be a non-empty array of ids`);
  if (keys.length > maxIds) return bad(`${where} has ${keys.length} entries; the limit is ${maxIds}`);
  const ids: string[] = [];
  for (const [i, key] of keys.entries()) {
    if (typeof key === 'string') ids.push(key);
    else if (Number.isSafeInteger(key)) ids.push(String(key));
    else return bad(`${where}[${i}] must be a string or an integer, got ${JSON.stringify(key)}`);
  }
  const entity = joinKey.endsWith('_id') && joinKey.length > 3 ? joinKey.slice(0, -3) : joinKey;
  return { ok: true, request: { entity, joinKey, keys: keys as Array<string | number>, ids, refs, fullFeatureNames: full === true } };
}

const COMMA = 0x2c;
const writer = new JsonBytes();

/** `text` n times, comma-separated. */
function repeated(out: JsonBytes, text: string, n: number): void {
  for (let i = 0; i < n; i++) out.ascii(i === 0 ? text : `,${text}`);
}

/**
 * Feast's column-wise response for vectors in request order, written straight
 * into bytes (json-bytes.ts): 100 entities x 11 features were ~3,600 array
 * elements built and then stringified.
 */
export function feastResponse(request: FeastRequest, vectors: readonly FeatureVector[], nowMs: number): Buffer {
  const out = writer;
  out.reset();
  out.ascii('{"metadata":{"feature_names":[');
  out.string(request.joinKey);
  for (const r of request.refs) {
    out.byte(COMMA);
    out.string(request.fullFeatureNames ? `${r.view}__${r.feature}` : r.feature);
  }
  out.ascii(']},"results":[{"values":[');
  for (let i = 0; i < request.keys.length; i++) {
    if (i > 0) out.byte(COMMA);
    out.value(request.keys[i]);
  }
  out.ascii('],"statuses":[');
  repeated(out, '"PRESENT"', request.keys.length);
  out.ascii('],"event_timestamps":[');
  repeated(out, EPOCH_JSON, request.keys.length);
  out.ascii(']}');
  const written = vectors.map((v) => (v.ageMs === undefined ? EPOCH : new Date(nowMs - v.ageMs).toISOString()));
  for (const { feature } of request.refs) {
    out.ascii(',{"values":[');
    for (let i = 0; i < vectors.length; i++) {
      if (i > 0) out.byte(COMMA);
      const value = vectors[i]!.features[feature];
      // An array element that is undefined is null in JSON.
      if (value === undefined) out.ascii('null');
      else out.value(value);
    }
    out.ascii('],"statuses":[');
    for (let i = 0; i < vectors.length; i++) {
      if (i > 0) out.byte(COMMA);
      out.ascii(vectors[i]!.defaulted.includes(feature) ? '"NOT_FOUND"' : '"PRESENT"');
    }
    out.ascii('],"event_timestamps":[');
    for (let i = 0; i < vectors.length; i++) {
      if (i > 0) out.byte(COMMA);
      out.string(vectors[i]!.defaulted.includes(feature) ? EPOCH : written[i]!);
    }
    out.ascii(']}');
  }
  out.ascii(']}');
  return out.take();
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const bytes = body instanceof Buffer ? body : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': bytes.length });
  res.end(bytes);
}

/** The route, after the server's auth check: POST only, body limit (413), bad shapes (400). */
export async function serveFeastShape(req: IncomingMessage, res: ServerResponse, o: { reader: FeatureReader; maxIds: number; bodyLimit: number }): Promise<void> {
  if (req.method !== 'POST') {
    res.setHeader('Allow', 'POST');
    return send(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'POST /get-online-features' } });
  }
  const body = await readBody(req, o.bodyLimit);
  if (!body.ok) {
    if (body.reason === 'aborted') return void res.destroy();
    res.setHeader('Connection', 'close');
    return send(res, 413, { error: { code: 'TOO_LARGE', message: `request body is over the ${o.bodyLimit}-byte limit` } });
  }
  const parsed = parseFeastRequest(body.text, o.maxIds);
  if (!parsed.ok) return send(res, 400, { error: { code: parsed.code, message: parsed.message } });
  const request = parsed.request;
  let vectors: FeatureVector[];
  try {
    vectors = await o.reader.getMany(request.entity, request.ids, { strict: true, features: request.refs.map((r) => r.feature) });
  } catch (err) {
    if (isFeaturestreamError(err) && CALLER_ERRORS.has(err.code)) {
      return send(res, 400, { error: { code: err.code, message: `join key "${request.joinKey}" (entity "${request.entity}"): ${err.message}` } });
    }
    throw err;
  }
  send(res, 200, feastResponse(request, vectors, Date.now()));
}
