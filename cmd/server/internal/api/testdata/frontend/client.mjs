// The profile queries a Toutiao web frontend sends, through graphql-request
// as the frontend would send them: named operations, variables, one shared
// fragment, a client with the reader's token and one without.
//
// TestFrontendClient (cmd/server/frontend_test.go) starts a server, runs
//
//   HEADLINE_URL=http://…/graphql HEADLINE_TOKEN=<access token> \
//   FEED_PAGES='[["1","2",…],["51",…]]' node client.mjs
//
// and checks what it prints: one JSON line per request, in the order sent,
// {"step", "operation", "data", "errors"}. The checks are the Go test's; this
// file only asks and reports, so that a wrong answer fails there with the
// server's counts beside it.
import { ClientError, GraphQLClient, gql } from 'graphql-request';

const AuthorCard = gql`
  fragment AuthorCard on User {
    id
    name
    photo
    intro
    certi
  }
`;

const Me = gql`
  query Me {
    me {
      ...AuthorCard
    }
  }
  ${AuthorCard}
`;

const FeedAuthors = gql`
  query FeedAuthors($ids: [ID!]!) {
    users(ids: $ids) {
      ...AuthorCard
    }
  }
  ${AuthorCard}
`;

// A feed that renders one card per article and asks for each author with
// its own aliased field, as code that builds queries per item ends up doing.
function feedAuthorsAliased(n) {
  const params = Array.from({ length: n }, (_, i) => `$id${i}: ID!`).join(', ');
  const fields = Array.from({ length: n }, (_, i) => `    a${i}: user(id: $id${i}) {\n      ...AuthorCard\n    }`).join('\n');
  return `query FeedAuthorsAliased(${params}) {\n${fields}\n  }\n${AuthorCard}`;
}

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
}

const url = env('HEADLINE_URL');
const reader = new GraphQLClient(url, { headers: { Authorization: `Bearer ${env('HEADLINE_TOKEN')}` } });
const anonymous = new GraphQLClient(url);
const [page1, page2] = JSON.parse(env('FEED_PAGES'));

// send runs one request and prints what the frontend got: the data, and the
// GraphQL errors a ClientError carries. Anything else (the server down, not
// JSON) is not an answer: it ends the run.
async function send(step, operation, client, document, variables) {
  let data = null;
  let errors = null;
  try {
    data = await client.request(document, variables);
  } catch (e) {
    if (!(e instanceof ClientError)) {
      throw e;
    }
    data = e.response.data ?? null;
    errors = e.response.errors ?? null;
  }
  process.stdout.write(JSON.stringify({ step, operation, data, errors }) + '\n');
}

const aliasedVars = Object.fromEntries(page2.map((id, i) => [`id${i}`, id]));

await send('me', 'Me', reader, Me);
await send('me without a token', 'Me', anonymous, Me);
await send('feed page 1, users(ids:), cold', 'FeedAuthors', reader, FeedAuthors, { ids: page1 });
await send('feed page 1, users(ids:), warm', 'FeedAuthors', reader, FeedAuthors, { ids: page1 });
await send('feed page 2, aliased user(id:), cold', 'FeedAuthorsAliased', reader, feedAuthorsAliased(page2.length), aliasedVars);
await send('feed page 2, aliased user(id:), warm', 'FeedAuthorsAliased', reader, feedAuthorsAliased(page2.length), aliasedVars);
await send('me, warm', 'Me', reader, Me);
