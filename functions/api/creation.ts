import type { Creation } from '../domain/client-ids';

/**
 * Runs a create with the id the client chose, else the one derived from its Idempotency-Key. Answers
 * 201 when this request made the resource — an earlier attempt of the same keyed request included —
 * and 200 when the client's id named a resource that already existed.
 */
export async function create<T>(
  request: { body: { id?: string | undefined }; idempotencyId?: string },
  run: (id: string | undefined) => Promise<Creation<T>>,
): Promise<{ status: 200 | 201; doc: T }> {
  const derived = request.body.id === undefined ? request.idempotencyId : undefined;
  const { doc, created } = await run(request.body.id ?? derived);
  return { status: created || derived !== undefined ? 201 : 200, doc };
}
