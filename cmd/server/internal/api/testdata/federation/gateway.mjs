// An Apollo Gateway in front of headline and an articles subgraph, as a
// team that owns articles would compose headline into its supergraph.
//
// TestGatewayFeed (cmd/server/internal/api/federation_test.go) starts
// headline, then runs
//
//   HEADLINE_URL=http://…/graphql \
//   ARTICLES='[{"id":"1","title":"…","author":"1000000001"},…]' node gateway.mjs
//
// which serves the articles subgraph (@apollo/subgraph: articles whose
// author is a User reference, `@key(fields: "id", resolvable: false)`),
// composes it with headline through IntrospectAndCompose (headline's
// `_service { sdl }`), sends the feed query to the gateway over HTTP twice
// (cold, then warm), and prints one JSON line per answer:
// {"step", "status", "body"}. The checks are the Go test's, beside what
// each request cost headline.
import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
}

const articles = JSON.parse(env('ARTICLES'));

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", import: ["@key"])

  type Article {
    id: ID!
    title: String!
    author: User
  }

  "A reference to a user headline resolves."
  type User @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Query {
    feed(first: Int!): [Article!]!
  }
`);

const resolvers = {
  Query: {
    feed: (_, { first }) => articles.slice(0, first),
  },
  Article: {
    author: (article) => ({ id: article.author }),
  },
};

const quiet = { debug() {}, info() {}, warn: console.error, error: console.error };

const subgraph = new ApolloServer({ schema: buildSubgraphSchema({ typeDefs, resolvers }), logger: quiet });
const { url: articlesURL } = await startStandaloneServer(subgraph, { listen: { host: '127.0.0.1', port: 0 } });

const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({
    subgraphs: [
      { name: 'headline', url: env('HEADLINE_URL') },
      { name: 'articles', url: articlesURL },
    ],
  }),
  logger: quiet,
});
const server = new ApolloServer({ gateway, logger: quiet });
const { url: gatewayURL } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });

const feed = '{ feed(first: 50) { title author { name photo } } }';
try {
  for (const step of ['cold', 'warm']) {
    const resp = await fetch(gatewayURL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: feed }),
    });
    const body = await resp.json();
    process.stdout.write(JSON.stringify({ step, status: resp.status, body }) + '\n');
  }
} finally {
  await server.stop();
  await subgraph.stop();
}
