/**
 * The wire format of `POST /features`, checked by hand (the body is small and
 * the checks are few): {"entity": string, "ids": Array<string | {key: value}>,
 * "features"?: string[], "context"?: {name: scalar}}. A composite entity's id
 * may be an object of its key values (strings or numbers); the reader checks
 * its keys. Every failure is a message for a 400, naming the field. The
 * common body is read by request-scan.ts, any other by JSON.parse.
 */
import { scanFeaturesBody } from './request-scan.ts';

export type WireId = string | Record<string, string | number>;
export type WireScalar = string | number | boolean | null;

export interface FeaturesRequest {
  entity: string;
  ids: WireId[];
  features?: string[];
  context?: Record<string, WireScalar>;
}

export type Parsed = { ok: true; request: FeaturesRequest } | { ok: false; code: 'BAD_JSON' | 'BAD_REQUEST'; message: string };

function stringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function plainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function wireId(value: unknown): value is WireId {
  return typeof value === 'string' || (plainObject(value) && Object.values(value).every((v) => typeof v === 'string' || typeof v === 'number'));
}

function scalarObject(value: unknown): value is Record<string, WireScalar> {
  return plainObject(value) && Object.values(value).every((v) => v === null || ['string', 'number', 'boolean'].includes(typeof v));
}

export function parseFeaturesRequest(text: string, maxIds: number): Parsed {
  let body: unknown = scanFeaturesBody(text);
  if (body === undefined) {
    try {
      body = JSON.parse(text);
    } catch (err) {
      return { ok: false, code: 'BAD_JSON', message: `request body is not valid JSON: ${(err as Error).message}` };
    }
  }
  if (!plainObject(body)) {
    return { ok: false, code: 'BAD_REQUEST', message: 'request body must be a JSON object {"entity", "ids", "features"?, "context"?}' };
  }
  const { entity, ids, features, context } = body;
  if (typeof entity !== 'string' || entity === '') return { ok: false, code: 'BAD_REQUEST', message: '"entity" must be a non-empty string' };
  if (!Array.isArray(ids) || !ids.every(wireId)) {
    return { ok: false, code: 'BAD_REQUEST', message: '"ids" must be an array of strings (or, for a composite entity, objects of key values: strings or numbers)' };
  }
  if (ids.length === 0) return { ok: false, code: 'BAD_REQUEST', message: '"ids" must not be empty' };
  if (ids.length > maxIds) return { ok: false, code: 'BAD_REQUEST', message: `"ids" has ${ids.length} entries; the limit is ${maxIds}` };
  if (features !== undefined && (!stringArray(features) || features.length === 0)) {
    return { ok: false, code: 'BAD_REQUEST', message: '"features" must be a non-empty array of strings when given' };
  }
  if (context !== undefined && !scalarObject(context)) {
    return { ok: false, code: 'BAD_REQUEST', message: '"context" must be an object of JSON scalars (string, number, boolean, null) when given' };
  }
  const request: FeaturesRequest = { entity, ids };
  if (features !== undefined) request.features = features;
  if (context !== undefined) request.context = context;
  return { ok: true, request };
}
