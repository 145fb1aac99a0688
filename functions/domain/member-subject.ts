import { uuidV5 } from '../shared/uuid';

/** Events about a member name them by a UUID (event_log.subject_id), derived from the organization and user ids. */
export const memberSubjectId = (orgId: string, userId: string) => uuidV5(`${orgId}\u0000${userId}`, MEMBER_SUBJECTS);
// The UUIDv5 namespace of members' subject ids (a fixed, random UUID).
const MEMBER_SUBJECTS = 'b1f3c9a2-6d4e-4f7a-8c21-9e5d0a7b3f64';
