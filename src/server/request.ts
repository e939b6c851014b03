/**
 * The wire format of `POST /features`, checked by hand (the body is small and
 * the checks are few): {"entity": string, "ids": string[], "features"?: string[]}.
 * Every failure is a message for a 400, naming the field.
 */
export interface FeaturesRequest {
  entity: string;
  ids: string[];
  features?: string[];
}

export type Parsed = { ok: true; request: FeaturesRequest } | { ok: false; code: 'BAD_JSON' | 'BAD_REQUEST'; message: string };

function stringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

export function parseFeaturesRequest(text: string, maxIds: number): Parsed {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'BAD_JSON', message: `request body is not valid JSON: ${(err as Error).message}` };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, code: 'BAD_REQUEST', message: 'request body must be a JSON object {"entity", "ids", "features"?}' };
  }
  const { entity, ids, features } = body as Record<string, unknown>;
  if (typeof entity !== 'string' || entity === '') return { ok: false, code: 'BAD_REQUEST', message: '"entity" must be a non-empty string' };
  if (!stringArray(ids)) return { ok: false, code: 'BAD_REQUEST', message: '"ids" must be an array of strings' };
  if (ids.length === 0) return { ok: false, code: 'BAD_REQUEST', message: '"ids" must not be empty' };
  if (ids.length > maxIds) return { ok: false, code: 'BAD_REQUEST', message: `"ids" has ${ids.length} entries; the limit is ${maxIds}` };
  if (features !== undefined && (!stringArray(features) || features.length === 0)) {
    return { ok: false, code: 'BAD_REQUEST', message: '"features" must be a non-empty array of strings when given' };
  }
  return { ok: true, request: features === undefined ? { entity, ids } : { entity, ids, features } };
}
