// This client's operations, sent as an Apollo Client app sends trusted
// documents: by the ids of persisted-query-manifest.json, through
// PersistedQueryLink and @apollo/persisted-query-lists, never their text.
//
// TestTrustedDocumentsClient (cmd/server/internal/api/trusted_test.go)
// starts headline with PERSISTED_DOCUMENTS=<that manifest> and
// PERSISTED_DOCUMENTS_ONLY=true, runs
//
//   HEADLINE_URL=http://…/graphql HEADLINE_TOKEN=<access token> \
//   FEED_IDS='["1","2",…]' node client.mjs
//
// and checks what it prints: one JSON line per operation, in the order
// sent, {"step", "operation", "data", "codes"} (codes: the errors'
// extensions.code). The last step sends a query that is not in the
// manifest, in full, as a client that does not use the manifest would.
import { readFileSync } from 'node:fs';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { generatePersistedQueryIdsFromManifest } from '@apollo/persisted-query-lists';

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
}

// The operations as the app's code holds them: the files the manifest was
// generated from.
function operation(file) {
  const src = (name) => readFileSync(new URL(`src/${name}.graphql`, import.meta.url), 'utf8');
  return gql(src(file) + (file === 'UpdateIntro' ? '' : src('AuthorCard')));
}

const http = new HttpLink({ uri: env('HEADLINE_URL'), headers: { Authorization: `Bearer ${env('HEADLINE_TOKEN')}` } });
const byID = new PersistedQueryLink(
  generatePersistedQueryIdsFromManifest({
    loadManifest: () => JSON.parse(readFileSync(new URL('persisted-query-manifest.json', import.meta.url), 'utf8')),
  }),
);
const trusted = new ApolloClient({ link: ApolloLink.from([byID, http]), cache: new InMemoryCache() });
const untrusted = new ApolloClient({ link: http, cache: new InMemoryCache() });

async function send(step, client, op, variables) {
  const name = op.definitions.find((d) => d.kind === 'OperationDefinition').name.value;
  const isMutation = op.definitions.some((d) => d.kind === 'OperationDefinition' && d.operation === 'mutation');
  const opts = { variables, errorPolicy: 'all', fetchPolicy: 'no-cache' };
  const result = isMutation ? await client.mutate({ mutation: op, ...opts }) : await client.query({ query: op, ...opts });
  const errors = result.error?.errors ?? (result.error ? [{ message: result.error.message }] : []);
  const codes = errors.map((e) => e.extensions?.code ?? e.message);
  process.stdout.write(JSON.stringify({ step, operation: name, data: result.data ?? null, codes }) + '\n');
}

await send('Me, by id', trusted, operation('Me'));
await send('FeedAuthors, by id', trusted, operation('FeedAuthors'), { ids: JSON.parse(env('FEED_IDS')) });
await send('UpdateIntro, by id', trusted, operation('UpdateIntro'), { intro: 'Edited by id.' });
await send(
  'a query not in the manifest, in full',
  untrusted,
  gql`
    query UserName($id: ID!) {
      user(id: $id) {
        name
      }
    }
  `,
  { id: '1' },
);
