// A caller's X-Request-Id is echoed only if it is a sane token; anything else (too long, spaces, control characters,
// markup) is replaced, since it lands in logs, headers and the event log. The handlers and the local gateway's own
// answers apply the same rule.
const REQUEST_ID = /^[\w.:/+=-]{1,128}$/;

/** The caller's request id when it may be echoed; undefined when it must be replaced. */
export const acceptedRequestId = (sent: string | undefined): string | undefined => (sent !== undefined && REQUEST_ID.test(sent) ? sent : undefined);
