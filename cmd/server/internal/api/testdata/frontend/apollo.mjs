// Apollo Client 4 with its persisted-query link sending hashed queries by
// GET (useGETForHashedQueries: true), as a frontend behind a CDN does: the
// first time a query's hash is unknown, the link registers it by POST; from
// then on each query is a GET by hash, which a CDN may answer.
//
// TestApolloClientHashedQueriesByGET (apollo_test.go) starts a server, runs
//
//   HEADLINE_URL=http://…/graphql HEADLINE_TOKEN=<access token> \
//   FEED_IDS='["1","2",…]' node apollo.mjs
//
// and checks what it prints: one JSON line per step, {"step", "data",
// "errors", "exchanges"}, where exchanges are the HTTP requests the step
// made and what came back ({"method", "status", "cacheControl", "etag",
// "vary", "bodyBytes"}). Apollo Client never sends If-None-Match itself (a
// browser's HTTP cache does); the "revalidate" step sends the last GET again
// with fetch, as a browser would. The checks are the Go test's.
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
}

const url = env('HEADLINE_URL');
const token = env('HEADLINE_TOKEN');
const feedIDs = JSON.parse(env('FEED_IDS'));

let exchanges = [];
let lastGet = null;

// recordingFetch is Node's fetch, noting each exchange for the step.
async function recordingFetch(input, init = {}) {
  const res = await fetch(input, init);
  const method = (init.method ?? 'GET').toUpperCase();
  const body = await res.clone().arrayBuffer();
  exchanges.push({
    method,
    status: res.status,
    cacheControl: res.headers.get('cache-control'),
    etag: res.headers.get('etag'),
    vary: res.headers.get('vary'),
    bodyBytes: body.byteLength,
  });
  if (method === 'GET') {
    lastGet = { url: String(input), headers: new Headers(init.headers), etag: res.headers.get('etag') };
  }
  return res;
}

// createPersistedQueryLink({ sha256, useGETForHashedQueries }) in Apollo
// Client 3; in 4 that function is a deprecated alias of this constructor.
function client(headers) {
  const persisted = new PersistedQueryLink({
    sha256: (query) => createHash('sha256').update(query).digest('hex'),
    useGETForHashedQueries: true,
  });
  return new ApolloClient({
    cache: new InMemoryCache(),
    link: persisted.concat(new HttpLink({ uri: url, fetch: recordingFetch, headers })),
    // Every query goes to the server, so each step shows its exchanges.
    defaultOptions: { query: { fetchPolicy: 'no-cache' } },
  });
}

const AuthorCard = gql`
  fragment AuthorCard on User {
    id
    name
    photo
    intro
    certi
  }
`;

const FeedAuthors = gql`
  query FeedAuthors($ids: [ID!]!) {
    users(ids: $ids) {
      ...AuthorCard
    }
  }
  ${AuthorCard}
`;

const Me = gql`
  query Me {
    me {
      ...AuthorCard
    }
  }
  ${AuthorCard}
`;

function report(step, result) {
  process.stdout.write(JSON.stringify({ step, data: result.data ?? null, errors: result.error?.errors ?? null, exchanges }) + '\n');
  exchanges = [];
}

const reader = client({ Authorization: `Bearer ${token}` });

report('feed, first time', await reader.query({ query: FeedAuthors, variables: { ids: feedIDs } }));
report('feed, hashed by GET', await reader.query({ query: FeedAuthors, variables: { ids: feedIDs } }));
const { url: getURL, headers, etag } = lastGet;
headers.set('If-None-Match', etag);
await recordingFetch(getURL, { method: 'GET', headers });
report('feed, revalidated with If-None-Match', {});
report('me, first time', await reader.query({ query: Me }));
report('me, hashed by GET', await reader.query({ query: Me }));
