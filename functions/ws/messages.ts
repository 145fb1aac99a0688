// What a client may send the feed (docs/feed.md); each route checks its message against one of these.
import * as z from 'zod/mini';

const Seq = z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));

export const SubscribeMessage = z.object({ action: z.literal('subscribe'), projectId: z.optional(z.nullable(z.uuid())) });
export const ResumeMessage = z.object({ action: z.literal('resume'), afterSeq: z.optional(Seq) });
export const AckMessage = z.object({ action: z.literal('ack'), seq: Seq });
export const AnyMessage = z.unknown();
