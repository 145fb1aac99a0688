// s3rver ships no types; this is the part of its API the local S3 (lib/local/s3.ts) uses.
declare module 's3rver' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface S3rverOptions {
    silent?: boolean;
    /** Where the buckets and objects are kept (s3rver always stores on disk). */
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    /** false: path-style addressing only (`/<bucket>/<key>`), whatever the Host header says. */
    vhostBuckets?: boolean;
    /** Created (or kept) by configureBuckets(); configs are CORSConfiguration / WebsiteConfiguration XML documents. */
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  export default class S3rver {
    constructor(options?: S3rverOptions);
    configureBuckets(): Promise<void>;
    /** The Koa request handler, to serve from a server of one's own. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    logger: { close(): void };
  }
}
