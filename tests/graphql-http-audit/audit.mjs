// Runs the GraphQL-over-HTTP audit suite of graphql-http (serverAudits) against a running
// stockroom: `node audit.mjs http://127.0.0.1:PORT/graphql`.
// Prints one line per audit (OK / WARN = a SHOULD failed / NOTICE = a MAY failed /
// ERROR = a MUST failed) and exits 1 when any MUST fails.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}

let mustFailures = 0;
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  const result = await audit.fn();
  const status = result.status.toUpperCase();
  const reason = result.status === 'ok' ? '' : ` -- ${result.reason}`;
  console.log(`${status} ${audit.id} ${audit.name}${reason}`);
  if (result.status === 'error') mustFailures += 1;
}
console.log(mustFailures === 0 ? 'every MUST audit passed' : `${mustFailures} MUST audit(s) failed`);
process.exit(mustFailures === 0 ? 0 : 1);
