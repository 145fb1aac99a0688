import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

// What S3 checks and s3rver does not, for the local S3 (lib/local/s3.ts): Signature Version 4 on every
// request, and browser-based POST uploads held to their POST policy. Pure functions and a streaming
// multipart/form-data reader; no I/O.

/** The credentials this S3 knows: the local runtime's (and so the handlers'). */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Errors, as S3 writes them.

export class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, string | number> = {},
  ) {
    super(message);
    this.name = 'S3Error';
  }
}

const escapeXml = (value: string) => value.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);

/** S3's XML error document (with RequestId and HostId), status and request-id headers. */
export function errorDocument(error: S3Error, resource?: string): string {
  const details = Object.entries(error.details)
    .map(([name, value]) => `<${name}>${escapeXml(String(value))}</${name}>`)
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message>${details}` +
    `${resource ? `<Resource>${escapeXml(resource)}</Resource>` : ''}` +
    `<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId><HostId>${randomBytes(24).toString('base64')}</HostId></Error>`
  );
}

// ---------------------------------------------------------------------------------------------------------
// Signature Version 4: the Authorization header and presigned (query-string) requests.

const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGNED_SECONDS = 7 * 24 * 60 * 60;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

export interface SignedRequest {
  method: string;
  /** The request target as sent: raw path and query. */
  url: string;
  headers: IncomingHttpHeaders;
}

export interface VerifyOptions {
  keys: ReadonlyMap<string, S3Credentials>;
  region: string;
  now: Date;
}

/**
 * Verifies a request's SigV4 signature as S3 does (the canonical request rebuilt from what was received,
 * the signature recomputed with the key id's secret). Returns the key id, or null for an unsigned request;
 * throws S3Error for a bad one (SignatureDoesNotMatch carries the StringToSign and CanonicalRequest, as S3's does).
 */
export function authenticate(request: SignedRequest, options: VerifyOptions): { accessKeyId: string } | null {
  const { path, query } = splitUrl(request.url);
  const params = parseQuery(query);
  const param = (name: string) => params.find(([key]) => key === name)?.[1];
  const authorization = headerValue(request.headers, 'authorization');
  const presigned = param('X-Amz-Algorithm') !== undefined;
  if (authorization !== undefined && presigned) {
    throw new S3Error(
      400,
      'InvalidArgument',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
      { ArgumentName: 'Authorization', ArgumentValue: authorization },
    );
  }
  if (authorization === undefined && !presigned) {
    if (param('Signature') !== undefined || param('AWSAccessKeyId') !== undefined) throw unsupportedMechanism();
    return null;
  }

  let credential: string, signedHeaders: string, signature: string, amzDate: string, payloadHash: string, token: string | undefined;
  const malformed = (message: string) =>
    presigned
      ? new S3Error(400, 'AuthorizationQueryParametersError', message)
      : new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; ${message}`);

  if (presigned) {
    if (param('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') throw malformed('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    const required = ['X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'].map(param);
    if (required.some((value) => value === undefined)) {
      throw malformed(
        'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
      );
    }
    [credential, signature, amzDate, signedHeaders] = required as [string, string, string, string];
    const expires = Number(param('X-Amz-Expires'));
    if (!Number.isInteger(expires) || expires < 0) throw malformed('X-Amz-Expires should be a number');
    if (expires > MAX_PRESIGNED_SECONDS) {
      throw malformed('X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds');
    }
    const signedAt = parseAmzDate(amzDate);
    if (!signedAt) throw malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
    if (signedAt.getTime() - options.now.getTime() > MAX_SKEW_MS) throw new S3Error(403, 'AccessDenied', 'Request is not valid yet');
    const expiresAt = new Date(signedAt.getTime() + expires * 1000);
    if (options.now > expiresAt) {
      throw new S3Error(403, 'AccessDenied', 'Request has expired', {
        'X-Amz-Expires': expires,
        Expires: isoSeconds(expiresAt),
        ServerTime: isoSeconds(options.now),
      });
    }
    // A presigned URL signs no payload (S3: "UNSIGNED-PAYLOAD"), unless it names a hash itself.
    payloadHash = param('X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD;
    token = param('X-Amz-Security-Token');
  } else {
    const [algorithm = '', ...rest] = authorization!.trim().split(/\s+/);
    if (algorithm === 'AWS') throw unsupportedMechanism();
    if (algorithm !== 'AWS4-HMAC-SHA256') throw new S3Error(400, 'InvalidArgument', 'Unsupported Authorization Type', { ArgumentName: 'Authorization', ArgumentValue: authorization! });
    const components = new Map(
      rest
        .join('')
        .split(',')
        .filter(Boolean)
        .map((component) => {
          const at = component.indexOf('=');
          return [component.slice(0, at), component.slice(at + 1)] as const;
        }),
    );
    for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
      if (!components.get(name)) throw malformed(`missing ${name}.`);
    }
    credential = components.get('Credential')!;
    signedHeaders = components.get('SignedHeaders')!;
    signature = components.get('Signature')!;
    const date = headerValue(request.headers, 'x-amz-date') ?? headerValue(request.headers, 'date');
    const signedAt = date === undefined ? undefined : (parseAmzDate(date) ?? parseHttpDate(date));
    if (!signedAt) throw new S3Error(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    if (Math.abs(options.now.getTime() - signedAt.getTime()) > MAX_SKEW_MS) {
      throw new S3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
        RequestTime: date!,
        ServerTime: isoSeconds(options.now),
        MaxAllowedSkewMilliseconds: MAX_SKEW_MS,
      });
    }
    amzDate = amzDateOf(signedAt);
    const hash = headerValue(request.headers, 'x-amz-content-sha256');
    if (hash === undefined) throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    if (!/^(UNSIGNED-PAYLOAD|STREAMING-[A-Z0-9-]+|[0-9a-fA-F]{64})$/.test(hash)) {
      throw new S3Error(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.', {
        ArgumentName: 'x-amz-content-sha256',
        ArgumentValue: hash,
      });
    }
    payloadHash = hash;
    token = headerValue(request.headers, 'x-amz-security-token');
  }

  const scope = parseCredential(credential, options.region, malformed);
  if (scope.date !== amzDate.slice(0, 8)) throw malformed('Invalid credential date. Date is not the same as X-Amz-Date.');
  const key = options.keys.get(scope.accessKeyId);
  checkKey(key, scope.accessKeyId, token);

  const signed = signedHeaders.split(';');
  if (!signed.includes('host')) throw malformed('Host must be a signed header.');
  const unsigned = Object.keys(request.headers).filter((name) => name.startsWith('x-amz-') && !signed.includes(name));
  if (unsigned.length > 0) {
    throw new S3Error(403, 'AccessDenied', 'There were headers present in the request which were not signed', { HeadersNotSigned: unsigned.join(', ') });
  }

  const canonicalQuery = params
    .filter(([name]) => !(presigned && name === 'X-Amz-Signature'))
    .map(([name, value]) => [rfc3986(name), rfc3986(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(path),
    canonicalQuery,
    ...signed.map((name) => `${name}:${(headerValue(request.headers, name) ?? '').trim().replace(/\s+/g, ' ')}`),
    '',
    signedHeaders,
    payloadHash,
  ].join('\n');
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, credentialScope, sha256Hex(canonicalRequest)].join('\n');
  const expected = createHmac('sha256', signingKey(key!.secretAccessKey, scope.date, scope.region, scope.service)).update(stringToSign).digest('hex');
  if (!sameHex(expected, signature)) {
    throw new S3Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      AWSAccessKeyId: scope.accessKeyId,
      StringToSign: stringToSign,
      SignatureProvided: signature,
      CanonicalRequest: canonicalRequest,
    });
  }
  return { accessKeyId: scope.accessKeyId };
}

const unsupportedMechanism = () =>
  new S3Error(400, 'InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');

function parseCredential(credential: string, region: string, malformed: (message: string) => S3Error) {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((part) => !part)) throw malformed(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  const [accessKeyId, date, scopeRegion, service, terminal] = parts as [string, string, string, string, string];
  if (scopeRegion !== region) throw malformed(`the region '${scopeRegion}' is wrong; expecting '${region}'`);
  if (service !== 's3') throw malformed(`incorrect service "${service}". This endpoint belongs to "s3".`);
  if (terminal !== 'aws4_request') throw malformed(`incorrect terminal "${terminal}". This endpoint uses "aws4_request".`);
  return { accessKeyId, date, region: scopeRegion, service };
}

function checkKey(key: S3Credentials | undefined, accessKeyId: string, token: string | undefined): asserts key is S3Credentials {
  // A temporary key id is only known together with its session token.
  if (!key || (key.sessionToken !== undefined && token === undefined)) {
    throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: accessKeyId });
  }
  if (token !== undefined && token !== key.sessionToken) throw new S3Error(400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
}

/** The SigV4 signing key: HMAC chain over the secret, date, region and service. */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request');
}

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');

function sameHex(expected: string, provided: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(provided.toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** RFC 3986 percent-encoding (everything but A-Z a-z 0-9 - . _ ~), as SigV4 wants. */
const rfc3986 = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** S3's canonical URI: each segment of the decoded path encoded once (S3 paths are not normalized). */
function canonicalPath(path: string): string {
  return path
    .split('/')
    .map((segment) => rfc3986(decodeComponent(segment)))
    .join('/');
}

export function decodeComponent(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new S3Error(400, 'InvalidURI', "Couldn't parse the specified URI.");
  }
}

export function splitUrl(url: string): { path: string; query: string } {
  const at = url.indexOf('?');
  return at < 0 ? { path: url, query: '' } : { path: url.slice(0, at), query: url.slice(at + 1) };
}

function parseQuery(query: string): [string, string][] {
  return query
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf('=');
      return at < 0 ? [decodeComponent(pair), ''] : [decodeComponent(pair.slice(0, at)), decodeComponent(pair.slice(at + 1))];
    });
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function parseAmzDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  const date = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function parseHttpDate(value: string): Date | undefined {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const amzDateOf = (date: Date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}/, '');

// ---------------------------------------------------------------------------------------------------------
// Browser-based POST uploads (AWS Signature Version 4) and their POST policies.

/** S3 refuses a form whose fields before the file exceed this (MaxPostPreDataLengthExceeded). */
const MAX_PRE_DATA_BYTES = 20 * 1024;
/** The largest object one POST (or PUT) may store in S3. */
const MAX_OBJECT_BYTES = 5 * 1024 ** 3;

/** Fields that need no condition in the policy (S3: x-amz-signature, file, policy and x-ignore-*). */
const exempt = (name: string) => name === 'x-amz-signature' || name === 'file' || name === 'policy' || name.startsWith('x-ignore-');

export function multipartBoundary(contentType: string | undefined): string | undefined {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  const boundary = match?.[1] ?? match?.[2];
  return boundary && boundary.length <= 70 ? boundary : undefined;
}

export interface FormField {
  /** As sent (field names are matched case-insensitively). */
  name: string;
  value: string;
}

export interface PolicyInput {
  /** The bucket the form was posted to (the URL's). */
  bucket: string;
  /** The form's fields before the file, in order. */
  fields: FormField[];
  keys: ReadonlyMap<string, S3Credentials>;
  region: string;
  now: Date;
}

/** What is left to check once the file's size is known. */
export interface ContentLengthRange {
  min: number;
  max: number;
}

const policyFailure = (message: string) => new S3Error(403, 'AccessDenied', `Invalid according to Policy: ${message}`);
const invalidPolicy = (message: string) => new S3Error(400, 'InvalidPolicyDocument', `Invalid Policy: ${message}`);

/** A condition as S3 quotes it in "Policy Condition failed: [...]". */
const quoteCondition = (items: unknown[]) => `[${items.map((item) => JSON.stringify(item)).join(', ')}]`;

/**
 * Checks a SigV4 POST form against its policy as S3 does: the signature (hex HMAC-SHA256 of the base64 policy
 * with the credential's signing key), the expiration, every condition, and that every field but the exempt
 * ones is covered by a condition. Returns the content-length-range (if any) to hold the file to; throws S3Error.
 */
export function checkPostPolicy(input: PolicyInput): ContentLengthRange | undefined {
  const fields = new Map<string, FormField>();
  for (const field of input.fields) {
    const name = field.name.toLowerCase();
    // S3 would take one of them; s3rver might take the other. Two of a field could slip past the policy.
    if (fields.has(name)) throw new S3Error(400, 'InvalidArgument', `POST form field ${field.name} may be given only once.`, { ArgumentName: field.name });
    fields.set(name, field);
  }
  const value = (name: string) => fields.get(name)?.value;
  const encoded = value('policy');
  // No policy: an anonymous upload, which only a publicly writable bucket takes.
  if (encoded === undefined) throw new S3Error(403, 'AccessDenied', 'Access Denied');
  const required = (name: string) => {
    const found = value(name);
    if (found === undefined) throw new S3Error(400, 'InvalidArgument', `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`, { ArgumentName: name, ArgumentValue: '' });
    return found;
  };
  if (value('x-amz-algorithm') === undefined && (value('awsaccesskeyid') !== undefined || value('signature') !== undefined)) throw unsupportedMechanism();
  const algorithm = required('x-amz-algorithm');
  if (algorithm !== 'AWS4-HMAC-SHA256') throw new S3Error(400, 'InvalidArgument', 'Unsupported x-amz-algorithm; only AWS4-HMAC-SHA256 is supported.', { ArgumentName: 'x-amz-algorithm', ArgumentValue: algorithm });
  const credential = required('x-amz-credential');
  required('x-amz-date');
  const signature = required('x-amz-signature');
  if (required('key').includes('${filename}')) {
    // S3 puts the file's name there; s3rver would store the key as written. Refused rather than emulated wrongly.
    throw new S3Error(501, 'NotImplemented', 'The local S3 does not substitute ${filename} in a POST key.');
  }

  const scope = parseCredential(credential, input.region, (message) => new S3Error(400, 'AuthorizationQueryParametersError', `Error parsing the X-Amz-Credential parameter; ${message}`));
  const key = input.keys.get(scope.accessKeyId);
  checkKey(key, scope.accessKeyId, value('x-amz-security-token'));
  const expected = createHmac('sha256', signingKey(key.secretAccessKey, scope.date, scope.region, scope.service)).update(encoded).digest('hex');
  if (!sameHex(expected, signature)) {
    throw new S3Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      AWSAccessKeyId: scope.accessKeyId,
      StringToSign: encoded,
      SignatureProvided: signature,
    });
  }

  let policy: unknown;
  try {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded.replace(/\s/g, ''))) throw new Error('not base64');
    policy = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('Invalid JSON.');
  }
  if (!policy || typeof policy !== 'object' || Array.isArray(policy)) throw invalidPolicy('Invalid JSON.');
  const { expiration, conditions } = policy as { expiration?: unknown; conditions?: unknown };
  if (expiration === undefined) throw invalidPolicy('Policy missing expiration.');
  if (typeof expiration !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(expiration) || Number.isNaN(Date.parse(expiration))) {
    throw invalidPolicy(`Invalid 'expiration' value: '${String(expiration)}'`);
  }
  if (!Array.isArray(conditions)) throw invalidPolicy('Policy missing conditions.');
  if (input.now.getTime() > Date.parse(expiration)) throw policyFailure('Policy expired.');

  // The bucket is a field too, from the URL: it must be named by a condition like any other.
  const actual = (name: string) => (name === 'bucket' ? input.bucket : value(name));
  const covered = new Set<string>();
  let range: ContentLengthRange | undefined;
  for (const condition of conditions) {
    if (Array.isArray(condition)) {
      const [operation, field, expected] = condition as unknown[];
      const operator = typeof operation === 'string' ? operation.toLowerCase() : '';
      if (operator === 'content-length-range') {
        const [min, max] = [field, expected].map((bound) => (typeof bound === 'string' && /^\d+$/.test(bound) ? Number(bound) : bound));
        if (condition.length !== 3 || !Number.isSafeInteger(min) || !Number.isSafeInteger(max) || (min as number) < 0 || (max as number) < (min as number)) {
          throw invalidPolicy(`Invalid content-length-range: ${quoteCondition(condition)}`);
        }
        range = range ? { min: Math.max(range.min, min as number), max: Math.min(range.max, max as number) } : { min: min as number, max: max as number };
        continue;
      }
      if (operator !== 'eq' && operator !== 'starts-with') throw invalidPolicy(`Invalid Condition: unknown operation ${JSON.stringify(operation)} in ${quoteCondition(condition)}`);
      if (condition.length !== 3 || typeof field !== 'string' || !field.startsWith('$') || typeof expected !== 'string') {
        throw invalidPolicy(`Invalid Condition: ${quoteCondition(condition)}`);
      }
      const name = field.slice(1).toLowerCase();
      covered.add(name);
      const got = actual(name);
      const holds =
        got !== undefined &&
        (operator === 'eq'
          ? got === expected
          : // A Content-Type may list several types; each must match (S3's rule for starts-with on it).
            (name === 'content-type' ? got.split(',').map((type) => type.trim()) : [got]).every((item) => item.startsWith(expected)));
      if (!holds) throw policyFailure(`Policy Condition failed: ${quoteCondition(condition)}`);
    } else if (condition && typeof condition === 'object') {
      const entries = Object.entries(condition as Record<string, unknown>);
      if (entries.length !== 1) throw invalidPolicy('Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.');
      const [[field, expected]] = entries as [[string, unknown]];
      if (typeof expected !== 'string') throw invalidPolicy(`Invalid Simple-Condition: value must be a string.`);
      const name = field.toLowerCase();
      covered.add(name);
      if (actual(name) !== expected) throw policyFailure(`Policy Condition failed: ${quoteCondition(['eq', `$${field}`, expected])}`);
    } else {
      throw invalidPolicy(`Invalid Condition: ${JSON.stringify(condition)}`);
    }
  }
  const extra = [...(covered.has('bucket') ? [] : ['bucket']), ...input.fields.map((field) => field.name).filter((name) => !exempt(name.toLowerCase()) && !covered.has(name.toLowerCase()))];
  if (extra.length > 0) throw policyFailure(`Extra input fields: ${extra.join(', ')}`);
  return range;
}

/**
 * A multipart/form-data POST upload, fed chunk by chunk: the fields before the file are kept (at most
 * MAX_PRE_DATA_BYTES), the policy is checked when the file part begins, and the file's bytes are only
 * counted — refused as soon as they pass the policy's maximum. Everything after the file is ignored, as
 * S3 (and s3rver) ignore it. Throws S3Error from write()/end() on the first failure.
 */
export class PostForm {
  private readonly scanner: MultipartScanner;
  private readonly fields: FormField[] = [];
  private current: { name: string; chunks: Buffer[] } | undefined;
  private preData = 0;
  private state: 'fields' | 'file' | 'after-file' = 'fields';
  private fileBytes = 0;
  private range: ContentLengthRange = { min: 0, max: MAX_OBJECT_BYTES };

  constructor(
    boundary: string,
    private readonly check: (fields: FormField[]) => ContentLengthRange | undefined,
  ) {
    this.scanner = new MultipartScanner(boundary, {
      part: (part) => this.part(part),
      data: (chunk) => this.data(chunk),
      partEnd: () => this.partEnd(),
    });
  }

  write(chunk: Buffer): void {
    this.scanner.write(chunk);
  }

  end(): void {
    if (this.state === 'fields') {
      // No file: the policy is checked all the same (S3 answers a bad form before a missing file).
      this.check(this.fields);
      throw new S3Error(400, 'InvalidArgument', 'POST requires exactly one file upload per request.', { ArgumentName: 'file', ArgumentValue: 0 });
    }
    if (!this.scanner.complete) throw new S3Error(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.');
  }

  private part(part: PartHeaders): void {
    if (this.state !== 'fields') {
      this.state = 'after-file';
      return;
    }
    if (part.name.toLowerCase() === 'file') {
      this.state = 'file';
      const range = this.check(this.fields);
      if (range) this.range = range;
      return;
    }
    this.preData += part.size;
    this.current = { name: part.name, chunks: [] };
    this.checkPreData();
  }

  private data(chunk: Buffer): void {
    if (this.state === 'file') {
      this.fileBytes += chunk.length;
      if (this.fileBytes > this.range.max) {
        throw new S3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', { ProposedSize: this.fileBytes, MaxSizeAllowed: this.range.max });
      }
    } else if (this.state === 'fields' && this.current) {
      this.preData += chunk.length;
      this.checkPreData();
      this.current.chunks.push(Buffer.from(chunk));
    }
  }

  private partEnd(): void {
    if (this.state === 'file') {
      if (this.fileBytes < this.range.min) {
        throw new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', { ProposedSize: this.fileBytes, MinSizeAllowed: this.range.min });
      }
      this.state = 'after-file';
    } else if (this.state === 'fields' && this.current) {
      this.fields.push({ name: this.current.name, value: Buffer.concat(this.current.chunks).toString('utf8') });
      this.current = undefined;
    }
  }

  private checkPreData(): void {
    if (this.preData > MAX_PRE_DATA_BYTES) throw new S3Error(400, 'MaxPostPreDataLengthExceeded', 'Your POST request fields preceding the upload file were too large.');
  }
}

interface PartHeaders {
  name: string;
  filename?: string;
  /** The header block's size in bytes. */
  size: number;
}

/**
 * A streaming multipart/form-data splitter: it keeps no more than a part's header block and the few bytes
 * that might begin a boundary; part contents are handed on as they arrive.
 */
class MultipartScanner {
  private readonly delimiter: Buffer;
  // A CRLF before the first boundary, so that every boundary is found as CRLF "--" boundary.
  private buffer: Buffer = Buffer.from('\r\n');
  private state: 'preamble' | 'boundary' | 'headers' | 'body' | 'done' = 'preamble';

  constructor(
    boundary: string,
    private readonly handler: { part(part: PartHeaders): void; data(chunk: Buffer): void; partEnd(): void },
  ) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  get complete(): boolean {
    return this.state === 'done';
  }

  write(chunk: Buffer): void {
    if (this.state === 'done') return;
    this.buffer = this.buffer.length > 0 ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      switch (this.state) {
        case 'preamble':
        case 'body': {
          const at = this.buffer.indexOf(this.delimiter);
          if (at < 0) {
            // Keep what could be the start of a delimiter; hand the rest on.
            const safe = this.buffer.length - (this.delimiter.length - 1);
            if (safe > 0) {
              if (this.state === 'body') this.handler.data(this.buffer.subarray(0, safe));
              this.buffer = this.buffer.subarray(safe);
            }
            return;
          }
          if (this.state === 'body') {
            if (at > 0) this.handler.data(this.buffer.subarray(0, at));
            this.handler.partEnd();
          }
          this.buffer = this.buffer.subarray(at + this.delimiter.length);
          this.state = 'boundary';
          break;
        }
        case 'boundary': {
          if (this.buffer.length < 2) return;
          if (this.buffer[0] === 0x2d && this.buffer[1] === 0x2d) {
            this.state = 'done';
            this.buffer = Buffer.alloc(0);
            return;
          }
          const eol = this.buffer.indexOf('\r\n');
          if (eol < 0) {
            if (this.buffer.length > 1024) throw malformedForm();
            return;
          }
          // Only transport padding (whitespace) may follow a boundary on its line.
          if (this.buffer.subarray(0, eol).toString('latin1').trim() !== '') throw malformedForm();
          this.buffer = this.buffer.subarray(eol + 2);
          this.state = 'headers';
          break;
        }
        case 'headers': {
          const end = this.buffer.subarray(0, 2).toString('latin1') === '\r\n' ? -2 : this.buffer.indexOf('\r\n\r\n');
          if (end === -1) {
            if (this.buffer.length > MAX_PRE_DATA_BYTES) throw new S3Error(400, 'MaxPostPreDataLengthExceeded', 'Your POST request fields preceding the upload file were too large.');
            return;
          }
          const block = end < 0 ? '' : this.buffer.subarray(0, end).toString('utf8');
          this.buffer = this.buffer.subarray(end < 0 ? 2 : end + 4);
          this.state = 'body';
          this.handler.part({ ...partHeaders(block), size: block.length + 4 });
          break;
        }
      }
    }
  }
}

const malformedForm = () => new S3Error(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.');

function partHeaders(block: string): { name: string; filename?: string } {
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const value = line.slice(colon + 1);
    if (!/^\s*form-data\s*(;|$)/i.test(value)) throw malformedForm();
    const params = new Map<string, string>();
    for (const match of value.matchAll(/;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g)) {
      const name = match[1]!.toLowerCase();
      if (!params.has(name)) params.set(name, match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : match[3]!.trim());
    }
    const name = params.get('name');
    if (name === undefined) throw malformedForm();
    const filename = params.get('filename');
    return { name, ...(filename !== undefined ? { filename } : {}) };
  }
  throw malformedForm();
}
