// `npm run --silent token -- --org ORG --user USER [--role admin] [--expires 12h]`: prints a dev token
// signed by the local issuer key in TASKFLOW_DATA_DIR, which a running `npm start` accepts.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { localIssuer } from '../lib/local/issuer';

const { values } = parseArgs({
  options: {
    org: { type: 'string', default: 'org_local' },
    user: { type: 'string', default: 'user_local' },
    role: { type: 'string', default: 'member' },
    email: { type: 'string' },
    name: { type: 'string' },
    expires: { type: 'string', default: '12h' },
  },
});
if (values.role !== 'member' && values.role !== 'admin') {
  console.error('--role must be member or admin');
  process.exit(2);
}
const issuer = await localIssuer(resolve(process.env.TASKFLOW_DATA_DIR ?? '.taskflow'));
console.log(
  await issuer.mint({
    org: values.org,
    user: values.user,
    role: values.role,
    expiresIn: values.expires,
    ...(values.email ? { email: values.email } : {}),
    ...(values.name ? { name: values.name } : {}),
  }),
);
