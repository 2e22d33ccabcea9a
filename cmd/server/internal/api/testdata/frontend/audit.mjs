// graphql-http's audit of the GraphQL-over-HTTP spec (serverAudits), run
// against the server that TestGraphQLOverHTTPAudit starts:
//
//   HEADLINE_URL=http://…/graphql node audit.mjs
//
// It prints one JSON line per audit, {"id", "name", "status", "reason",
// "httpStatus", "contentType", "body"} (the last four only for an audit
// that did not pass), in the audits' order, then the summary line
// {"summary": "N audits: P passed, W warnings, E errors, M notices"}.
// The Go test decides what passes; this file only runs and reports.
import { serverAudits } from 'graphql-http';

const url = process.env.HEADLINE_URL;
if (!url) {
  throw new Error('HEADLINE_URL is not set');
}

const counts = { ok: 0, warn: 0, error: 0, notice: 0 };
const audits = serverAudits({ url });
for (const { fn } of audits) {
  // One at a time, so that the server's log reads in the audits' order.
  const result = await fn();
  counts[result.status]++;
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    line.httpStatus = result.response.status;
    line.contentType = result.response.headers.get('content-type');
    line.body = (await result.response.text()).slice(0, 500);
  }
  process.stdout.write(JSON.stringify(line) + '\n');
}
const summary = `${audits.length} audits: ${counts.ok} passed, ${counts.warn} warnings, ${counts.error} errors, ${counts.notice} notices`;
process.stdout.write(JSON.stringify({ summary }) + '\n');
