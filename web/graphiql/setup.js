// stockroom's GraphiQL: the Explorer plugin, example tabs that run as they are against the demo
// catalogue, the Authorization header pre-filled, subscriptions over /graphql/ws.
/* global React, ReactDOM, GraphiQL, GraphiQLPluginExplorer */

const EMPTY_HEADERS = '{"Authorization": "Bearer "}';

/** RFC 3339, seconds precision, `days` days ago. */
function daysAgo(days) {
  return new Date(Date.now() - days * 86400e3).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Demo ids: Relay global ids are base64url("Type:key"), so Store:1..3 are AMS, BER, CPH and
// Category:1 is the root category "Garden" of the demo catalogue.
const TABS = [
  {
    query: `# Low stock: every row at or below its reorder point, across all stores (store code, then SKU)
query LowStock {
  lowStock(first: 20) {
    totalCount
    nodes {
      store { code name }
      product { sku name }
      quantity
      reorderPoint
    }
  }
}
`,
  },
  {
    query: `# One product (by SKU): its stock in every store and its last 20 movements, newest first
query ProductStock($sku: String = "DEMO-001") {
  product(sku: $sku) {
    sku
    name
    totalQuantity
    stocks { store { code } quantity reorderPoint lowStock }
    transactions(first: 20) {
      nodes {
        createdAt
        type
        store { code }
        quantity
        quantityAfter
        note
        user { username }
      }
    }
  }
}
`,
  },
  {
    query: `# A category's stock summed over its whole subtree, in each store (aliases) and in all
query CategoryTotals($id: ID! = "Q2F0ZWdvcnk6MQ") {
  category(id: $id) {
    name
    all: totalQuantity
    AMS: totalQuantity(storeId: "U3RvcmU6MQ")
    BER: totalQuantity(storeId: "U3RvcmU6Mg")
    CPH: totalQuantity(storeId: "U3RvcmU6Mw")
    children {
      name
      all: totalQuantity
      AMS: totalQuantity(storeId: "U3RvcmU6MQ")
      BER: totalQuantity(storeId: "U3RvcmU6Mg")
      CPH: totalQuantity(storeId: "U3RvcmU6Mw")
    }
  }
}
`,
  },
  {
    query: `# A product's stock in every store as it stood at a past moment (quantityAt, from the ledger) beside today's
query StockAt($sku: String = "DEMO-003", $at: DateTime!) {
  product(sku: $sku) {
    name
    stocks {
      store { code }
      then: quantityAt(at: $at)
      now: quantity
    }
  }
}
`,
    variables: JSON.stringify({ at: daysAgo(20) }, null, 2),
  },
  {
    query: `# Live: every committed stock change in any store (record a movement elsewhere to see one arrive)
subscription StockChanged {
  stockChanged {
    stock { store { code } product { sku name } quantity reorderPoint lowStock }
    transaction { type quantity quantityAfter note createdAt user { username } }
  }
}
`,
  },
].map((tab) => ({ headers: EMPTY_HEADERS, ...tab }));

const wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
const baseFetcher = GraphiQL.createFetcher({
  url: location.origin + '/graphql',
  subscriptionUrl: `${wsScheme}//${location.host}/graphql/ws`,
});

// A token pasted in one tab serves every tab whose header is still the empty "Bearer ";
// an empty "Bearer " is left out, so introspection (the schema, the Explorer) works before
// any token is pasted. Over the WebSocket the headers become the connection_init payload.
let lastToken = '';
function withToken(headers) {
  const out = { ...(headers || {}) };
  const key = Object.keys(out).find((k) => k.toLowerCase() === 'authorization');
  const value = key ? String(out[key]).trim() : '';
  const pasted = /^Bearer\s+(\S+)$/i.exec(value);
  if (pasted) {
    lastToken = pasted[1];
    return out;
  }
  if (key && /^Bearer$/i.test(value)) {
    delete out[key];
    if (lastToken) out.Authorization = `Bearer ${lastToken}`;
  }
  return out;
}

function fetcher(params, opts) {
  return baseFetcher(params, { ...(opts || {}), headers: withToken(opts && opts.headers) });
}

ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    defaultTabs: TABS,
    defaultHeaders: EMPTY_HEADERS,
    defaultEditorToolsVisibility: 'headers',
    headerEditorEnabled: true,
    shouldPersistHeaders: true,
  }),
);
