#!/usr/bin/env node
// Interop harness: the official TypeScript SDK client through twill-mcp's OAuth flow.
//
// Usage: node ts_oauth_client.mjs '<json-plan>'
//   plan = {"url": "<MCP endpoint>", "key": "<Twill key to paste>", "redirect": "<loopback callback>",
//           "clientMetadataUrl"?: "<pinned CIMD id>", "tool": "<tool to call>"}
//
// The SDK discovers, registers (or uses the CIMD id), and hands over the authorization URL; the user's
// browser part (the consent page, its cookie, the form post) is done here with fetch, as a browser
// would, then the code goes to transport.finishAuth and a new connection calls the tool.
// Prints exactly ONE JSON line on stdout and exits 0, or {"fatal": "..."} and exits 1.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const plan = JSON.parse(process.argv[2]);
let clientInformation;
let tokens;
let verifier;
let authorizationUrl;

const provider = {
    get redirectUrl() {
        return plan.redirect;
    },
    clientMetadataUrl: plan.clientMetadataUrl,
    get clientMetadata() {
        return {
            redirect_uris: [plan.redirect],
            client_name: 'TypeScript SDK test client',
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none',
        };
    },
    clientInformation: () => clientInformation,
    saveClientInformation: (info) => {
        clientInformation = info;
    },
    tokens: () => tokens,
    saveTokens: (saved) => {
        tokens = saved;
    },
    redirectToAuthorization: (url) => {
        authorizationUrl = url;
    },
    saveCodeVerifier: (saved) => {
        verifier = saved;
    },
    codeVerifier: () => verifier,
};

async function consent(url) {
    const redirected = await fetch(url, { redirect: 'manual' });
    const consentUrl = redirected.headers.get('location');
    const page = await fetch(consentUrl);
    const cookie = page.headers.get('set-cookie').split(';')[0];
    const html = await page.text();
    const fields = Object.fromEntries(
        [...html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]),
    );
    const issuer = new URL(consentUrl).origin;
    const posted = await fetch(issuer + '/consent', {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, origin: issuer, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...fields, key: plan.key, action: 'approve' }),
    });
    return new URL(posted.headers.get('location')).searchParams;
}

async function connect() {
    const client = new Client({ name: 'twill-mcp-ts-oauth', version: '0.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(plan.url), { authProvider: provider }));
    return client;
}

try {
    const first = new StreamableHTTPClientTransport(new URL(plan.url), { authProvider: provider });
    let unauthorized = false;
    try {
        await new Client({ name: 'twill-mcp-ts-oauth', version: '0.0.0' }).connect(first);
    } catch (err) {
        if (!(err instanceof UnauthorizedError)) throw err;
        unauthorized = true;
    }
    const callback = await consent(authorizationUrl);
    await first.finishAuth(callback.get('code'));
    const client = await connect();
    const result = await client.callTool({ name: plan.tool, arguments: {} });
    await client.close();
    process.stdout.write(
        JSON.stringify({
            unauthorizedFirst: unauthorized,
            clientId: new URL(authorizationUrl).searchParams.get('client_id'),
            iss: callback.get('iss'),
            tokenType: tokens?.token_type,
            hasRefreshToken: Boolean(tokens?.refresh_token),
            result,
        }) + '\n',
    );
    process.exit(0);
} catch (err) {
    process.stdout.write(JSON.stringify({ fatal: err instanceof Error ? err.stack : String(err) }) + '\n');
    process.exit(1);
}
